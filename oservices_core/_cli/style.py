"""Colour on a terminal, in plain ANSI, with one rule for when.

The rule, in the order Python 3.13's own interpreter follows:

1. ``NO_COLOR`` set and not empty (https://no-color.org): no colour;
2. else ``FORCE_COLOR`` set and not empty (https://force-color.org): colour, even into a pipe;
3. else ``TERM=dumb``: no colour;
4. else colour only when the stream written to is a terminal.

Only the command line's human-readable output goes through here: never JSON,
never a file another program reads.
"""

from __future__ import annotations

import os
import zlib
from typing import TextIO

__all__ = ["enabled", "error_prefix", "named", "paint", "plain", "prefix", "state"]

_RESET = "\033[0m"
_CODES = {
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
    "bold red": "1;31",
}
# The status table's STATE column: what runs is green, what is on its way yellow,
# what ended red; STOPPED and STOPPING are left plain, as is any other state.
_STATES = {
    "RUNNING": "green",
    "STARTING": "yellow",
    "BACKOFF": "yellow",
    "FATAL": "red",
    "EXITED": "red",
}
# Names' colours: red is left to errors and failed states.
_NAMES = ("cyan", "yellow", "green", "magenta", "blue")


_PLAIN = False  # set by plain(): this process writes to files only


def plain() -> None:
    """No colour from now on in this process, whatever the environment says: its output
    goes to a log file (the detached Administrator's), which is never coloured."""
    global _PLAIN  # noqa: PLW0603 - one switch for the process, as the rule is one
    _PLAIN = True


def enabled(stream: TextIO) -> bool:
    """Whether text written to ``stream`` gets colour (the rule above)."""
    if _PLAIN or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def paint(text: str, colour: str, stream: TextIO) -> str:
    """``text`` in ``colour`` (a key of the palette) when ``stream`` gets colour."""
    if not text or not enabled(stream):
        return text
    return f"\033[{_CODES[colour]}m{text}{_RESET}"


def state(text: str, stream: TextIO) -> str:
    """A component's state (``RUNNING``, ``FATAL``...) in its colour."""
    colour = _STATES.get(text)
    return paint(text, colour, stream) if colour else text


def prefix(name: str, stream: TextIO) -> str:
    """A name in its own colour, the same in every run (``up``'s event lines)."""
    return named(name, name, stream)


def named(name: str, text: str, stream: TextIO) -> str:
    """``text`` in the colour of ``name``: a component's lines and events share it."""
    return paint(text, _NAMES[zlib.crc32(name.encode()) % len(_NAMES)], stream)


def error_prefix(stream: TextIO) -> str:
    """``oservices: error:``, in bold red when ``stream`` gets colour."""
    return paint("oservices: error:", "bold red", stream)
