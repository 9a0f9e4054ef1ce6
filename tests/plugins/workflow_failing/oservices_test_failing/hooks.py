"""``oservices_build`` as a wrapper: every other build hook runs, then it writes and raises.

A wrapper makes the failure come last, after ``toml`` and ``wf-hooks`` have
written too, so the rollback has every kind of write to undo: files created,
files updated, and this plugin's own.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from oservices_core import hookimpl

if TYPE_CHECKING:
    from oservices_core import Context


@hookimpl(wrapper=True)
def oservices_build(context: Context) -> Generator[None, None, None]:
    """Let the other build hooks write, write a file of its own, then fail."""
    yield
    context.write_file("failing-partial.txt", "half of something\n")
    raise RuntimeError("boom in build")
