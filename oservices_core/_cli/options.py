"""Options several commands share: ``--set`` overrides, and how warnings are shown.

Imported while the parsers are built, so it imports only what ``--help`` already has.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["add_sets", "add_system", "overrides_from", "shown_warnings"]

_LONGEST_KEY = 200  # NAME.FIELD.SUBFIELD...: longer, or with controls, it names nothing


def add_sets(parser: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--set NAME.FIELD=VALUE`` option."""
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="NAME.FIELD=VALUE",
        help="an explicit override, above every other layer (repeatable)",
    )


def add_system(
    parser: argparse.ArgumentParser,
    text: str = "the system file (default: HOME/system.toml if present, "
    "else every installed component)",
) -> None:
    """Add ``--system FILE``: the ``system_file`` setting for the command (see ``app.py``)."""
    parser.add_argument("--system", metavar="FILE", help=text)


def overrides_from(sets: list[str]) -> dict[str, str]:
    """``--set`` items as overrides; a malformed one is a located error."""
    from oservices_core._config.problems import shorten
    from oservices_core._errors import ConfigurationError, Problem

    overrides: dict[str, str] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or "." not in key or len(key) > _LONGEST_KEY or not key.isprintable():
            # Only the part before "=" is shown: what follows may be a secret.
            raise ConfigurationError(
                Problem(
                    "--set",
                    shorten(key),
                    "NAME.FIELD=VALUE",
                    shorten(repr(key + ("=..." if sep else ""))),
                    hint=f"name a configuration, a dot, then a field: printable, at most"
                    f" {_LONGEST_KEY} characters before '='",
                )
            )
        overrides[key.strip()] = value
    return overrides


@contextmanager
def shown_warnings() -> Iterator[None]:
    """Show oservices' warnings as ``oservices: warning: TEXT`` lines on standard error."""
    from oservices_core._errors import OservicesWarning

    def show(message: Warning | str, category: type[Warning], *args: object, **kw: object) -> None:
        if issubclass(category, OservicesWarning):
            print(f"oservices: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, *args, **kw)  # type: ignore[arg-type]  # as it was given

    with warnings.catch_warnings():
        shown = warnings.showwarning
        warnings.simplefilter("always", OservicesWarning)
        warnings.showwarning = show
        yield
