"""``oservices completion SHELL``: the shell completion script, generated from the parser.

shtab (https://github.com/tqdm/shtab) writes the script of each shell from the
argparse parser ``oservices --help`` prints, plugin commands included. What it
cannot read from the parser is set here, on the arguments: which name files or
folders, and which name components, services, configurations or their keys
(``NAME.FIELD``). Those names are not known when the script is written: the
script runs ``oservices components --names`` (``--services``,
``--configurations``, ``--keys``) when one is to be completed, so it offers
what is installed then.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

__all__ = ["SHELLS", "completion", "script"]

SHELLS = ("bash", "zsh", "fish")
# Commands whose positional arguments name components, or a service.
_COMPONENT_COMMANDS = frozenset(
    {("start",), ("stop",), ("restart",), ("status",), ("logs",), ("run",), ("check", "mocks")}
)
_SERVICE_COMMANDS = frozenset({("describe",)})
# Arguments (command, destination) that name a configuration, or a key NAME.FIELD.
_CONFIGURATION_ARGUMENTS = frozenset(
    {("config", "show"), ("config", "sample"), ("config", "schema"), ("config", "check")}
)
_KEY_COMMANDS = frozenset({("config", "explain")})
# What the positional arguments of each command name.
_NAMED: dict[tuple[str, ...], str] = {
    **dict.fromkeys(_COMPONENT_COMMANDS, "components"),
    **dict.fromkeys(_SERVICE_COMMANDS, "services"),
    **dict.fromkeys(_KEY_COMMANDS, "keys"),
}
_FILE_METAVARS = frozenset({"FILE", "SYSTEM_FILE"})
_DIRECTORY_METAVARS = frozenset({"DIR"})
_LISTINGS = {
    "components": "command oservices components --names 2>/dev/null",
    "services": "command oservices components --services 2>/dev/null",
    "configurations": "command oservices components --configurations 2>/dev/null",
    "keys": "command oservices components --keys 2>/dev/null",
}


def completion(args: argparse.Namespace) -> int:
    """Print the completion script of ``args.shell``."""
    print(script(args.shell), end="")
    return 0


def script(shell: str) -> str:
    """The completion script of ``shell`` (one of :data:`SHELLS`)."""
    import shtab

    from oservices_core._cli.app import full_parser

    parser = full_parser()
    for path, sub in _commands(parser):
        for action in sub._actions:
            kind = _kind(path, action)
            if kind == "file":
                action.complete = shtab.FILE  # type: ignore[attr-defined]  # shtab reads it
            elif kind == "directory":
                action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]  # shtab reads it
            elif kind is not None:
                action.complete = shtab.cmd(_LISTINGS[kind])  # type: ignore[attr-defined]  # same
    text = shtab.complete(parser, shell=shell)
    return text if text.endswith("\n") else text + "\n"


def _kind(path: tuple[str, ...], action: argparse.Action) -> str | None:
    """What an argument names: "components", "services", "configurations", "keys",
    "file", "directory", or None."""
    if isinstance(action, argparse._SubParsersAction) or action.nargs == 0:
        return None
    if action.metavar in _FILE_METAVARS:
        return "file"
    if action.metavar in _DIRECTORY_METAVARS:
        return "directory"
    if path in _CONFIGURATION_ARGUMENTS and action.dest == "name":  # config check's --as too
        return "configurations"
    if action.option_strings:
        return None
    return _NAMED.get(path)


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``(words after oservices, parser)`` of the root and of every command under it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))
