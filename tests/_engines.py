"""Engines the tests run for real: found, else skipped here and failed under CI.

CI (the ``CI`` variable) installs every engine (``.ci/run``): there a missing
one is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

__all__ = ["missing", "needed"]


def missing(what: str, hint: str) -> None:
    """Skip the test (fail it under CI): ``what`` is not on this machine; ``hint`` says how
    to install it."""
    reason = f"{what} is not installed here ({hint})"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def needed(program: str | Path, hint: str) -> str:
    """The path of ``program`` (a name looked up on ``PATH``, or a path), else :func:`missing`."""
    found = str(program) if Path(program).is_absolute() else shutil.which(str(program))
    if found is None or not Path(found).exists():
        missing(str(program), hint)
    assert found is not None
    return found
