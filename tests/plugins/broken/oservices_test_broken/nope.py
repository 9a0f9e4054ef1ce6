"""A hooks module implementing a hook that no oservices hookspec declares."""

from __future__ import annotations

from oservices_core import hookimpl


@hookimpl
def oservices_nope() -> None:
    """Not a hook of oservices: loading this module must fail."""
