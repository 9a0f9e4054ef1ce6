"""Two plugin commands: ``config``, which a built-in command already is, and ``clash-report``.

The tests install this distribution apart (``pip install --target``) and put it
on ``PYTHONPATH`` only where they want it.
"""

from __future__ import annotations


def config(argv: list[str]) -> int:
    """Must never run: the built-in ``config`` wins."""
    print("the plugin's config ran", argv)
    return 99


def report(argv: list[str]) -> int:
    """A command with a name of its own."""
    print("clash-report", argv)
    return 0
