"""The ``oservices`` command line.

Parsing needs only argparse; each command imports what it uses when it runs,
so ``oservices --help`` and ``--version`` import neither pydantic nor any plugin.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from oservices_core._cli.options import add_sets, add_system
from oservices_core._version import __version__

TYPE_CHECKING = False  # not typing's: importing typing costs --help a tenth of its time
if TYPE_CHECKING:
    from typing import NoReturn

    from oservices_core._config.resolve import Resolved

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]
EXIT_BAD_INPUT = 2
if TYPE_CHECKING:
    # argparse's class is generic only to type checkers.
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2 for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, commands = _parser()
    plugin = _plugin_command(commands, argv)
    if plugin is not None:
        return plugin
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    return _run(handler, args)


def _plugin_command(builtins: Commands, argv: list[str]) -> int | None:
    """Run a plugin's command when one is named; list them all when help is asked for."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    builtin = first in builtins.choices
    wants_help = not builtin and any(arg in ("-h", "--help") for arg in argv)
    if builtin or (first is None and not wants_help):
        return None
    from oservices_core._cli.commands import plugin_commands, run_plugin_command

    commands = plugin_commands()
    if first is not None and first in commands:
        index = argv.index(first)
        return _run_plugin(run_plugin_command, first, commands[first][0], argv[index + 1 :])
    _add_plugin_commands(builtins, commands)
    return None


def _run_plugin(
    run: Callable[[str, str, list[str]], int], name: str, value: str, argv: list[str]
) -> int:
    from oservices_core._errors import OservicesError

    try:
        return run(name, value, argv)
    except OservicesError as exc:
        return _error(exc)


def _add_plugin_commands(subparsers: Commands, commands: dict[str, tuple[str, str]]) -> None:
    for name, (value, distribution) in sorted(commands.items()):
        if name in subparsers.choices:  # a built-in command always wins (see _plugin_command)
            print(
                f"oservices: warning: plugin command {name!r} ({value}, from {distribution})"
                " is ignored: a built-in command has that name",
                file=sys.stderr,
            )
            continue
        subparsers.add_parser(name, help=f"(plugin command from {distribution})", add_help=False)


def _run(handler: Handler, args: argparse.Namespace) -> int:
    from oservices_core._cli.options import shown_warnings
    from oservices_core._errors import OservicesError

    try:
        _activate_options(args)
        with shown_warnings():
            return handler(args)
    except OservicesError as exc:
        return _error(exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`oservices ... | head`): stop quietly, as cat does.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces a closed stdout for exit
        return 141


def _error(exc: Exception) -> int:
    """Print ``oservices: error: ...`` on standard error (in red on a terminal); exit 2."""
    from oservices_core._cli.style import error_prefix

    print(f"{error_prefix(sys.stderr)} {exc}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _activate_options(args: argparse.Namespace) -> None:
    """``--strict`` is ``OSERVICES_STRICT=1``, ``--host NAME`` is ``OSERVICES_HOST=NAME``,
    ``--environment NAME`` is ``OSERVICES_ENVIRONMENT=NAME``, ``--http HOST:PORT`` is
    ``OSERVICES_ADMIN_HTTP`` and ``--system FILE`` is ``OSERVICES_SYSTEM_FILE=FILE`` for the
    command: activate settings saying so (so the processes it starts inherit them)."""
    _system_alias(args)
    if getattr(args, "detach", False):
        return  # ``up -d`` passes them on to the Administrator it starts, which reads settings
    values: dict[str, object] = {}
    if getattr(args, "strict", False):
        values["strict"] = True
    if getattr(args, "host", None):
        values["host"] = args.host
    if getattr(args, "environment", None):
        values["environment"] = args.environment
    if getattr(args, "system", None):
        values["system_file"] = os.path.abspath(args.system)
    if getattr(args, "http", None):
        values["admin_http"] = args.http
    if values:
        from oservices_core._config.settings import load_settings

        load_settings(**values).activate()


def _system_alias(args: argparse.Namespace) -> None:
    """``up SYSTEM_FILE`` is ``up --system SYSTEM_FILE``; both at once must agree."""
    positional = getattr(args, "system_positional", None)
    if positional is None:
        return
    if args.system is not None and os.path.abspath(args.system) != os.path.abspath(positional):
        from oservices_core._errors import ConfigurationError, Problem

        raise ConfigurationError(
            Problem(
                "command line",
                "SYSTEM_FILE",
                "one system file",
                f"--system {args.system!r} and SYSTEM_FILE {positional!r}",
                hint="give --system FILE alone (SYSTEM_FILE is its older form)",
            )
        )
    args.system = positional


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose ``PROG: error:`` is red as ours is (see :func:`_error`)."""

    def error(self, message: str) -> NoReturn:
        from oservices_core._cli.style import paint

        self.print_usage(sys.stderr)
        head = paint(f"{self.prog}: error:", "bold red", sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{head} {message}\n")


def _parser() -> tuple[argparse.ArgumentParser, Commands]:
    parser: argparse.ArgumentParser = _Parser(
        prog="oservices",
        description="Manage Python services and components: configure, build and run them.",
    )
    parser.add_argument("--version", action="version", version=f"oservices {__version__}")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail when any plugin fails to load (also OSERVICES_STRICT=1)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _registry_parsers(commands)
    _config_parser(commands)
    from oservices_core._cli.running_parsers import add_parsers

    add_parsers(commands)
    _completion_parser(commands)
    return parser, commands


def _names_options(components: argparse.ArgumentParser) -> None:
    """``components --names``, ``--services``, ``--configurations`` and ``--keys``: one a line,
    for scripts and completion."""
    only = components.add_mutually_exclusive_group()
    only.add_argument(
        "--names", action="store_true", help="print only the components' names, one a line"
    )
    only.add_argument(
        "--services", action="store_true", help="print only the services' names, one a line"
    )
    only.add_argument(
        "--configurations",
        action="store_true",
        help="print only the configurations' names, one a line",
    )
    only.add_argument(
        "--keys",
        action="store_true",
        help="print only the configurations' keys (NAME.FIELD), one a line",
    )


def _completion_parser(commands: Commands) -> None:
    completion = commands.add_parser(
        "completion", help="print the shell completion script for bash, zsh or fish"
    )
    completion.add_argument(
        "shell",
        metavar="SHELL",
        choices=("bash", "zsh", "fish"),
        help="the shell: bash, zsh or fish",
    )
    completion.set_defaults(handler=_lazy("completion", "completion"))


def full_parser() -> argparse.ArgumentParser:
    """The parser with the plugins' commands too, as ``oservices --help`` shows them."""
    from oservices_core._cli.commands import plugin_commands

    parser, commands = _parser()
    _add_plugin_commands(commands, plugin_commands())
    return parser


def _registry_parsers(commands: Commands) -> None:
    plugins = commands.add_parser("plugins", help="list plugins: distribution, hooks, state")
    plugins.add_argument("--json", action="store_true", help="print JSON for scripts")
    plugins.set_defaults(handler=_lazy("registry", "plugins"))
    components = commands.add_parser("components", help="list components and their services")
    components.add_argument("--json", action="store_true", help="print JSON for scripts")
    _names_options(components)
    components.set_defaults(handler=_lazy("registry", "components"))
    describe = commands.add_parser("describe", help="describe a service: components, API, files")
    describe.add_argument("service", metavar="SERVICE")
    describe.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_system(describe)
    describe.set_defaults(handler=_lazy("registry", "describe"))
    check = commands.add_parser("check", help="check installed plugins")
    check.set_defaults(handler=_usage(check))
    checks = check.add_subparsers(title="checks", metavar="CHECK")
    neutral = checks.add_parser(
        "neutral",
        help="import each plugin module in a fresh process and fail if it does work at import time",
    )
    neutral.add_argument(
        "modules",
        nargs="*",
        metavar="MODULE",
        help="modules to check (default: every installed plugin's)",
    )
    neutral.set_defaults(handler=_lazy("registry", "neutral"))
    mocks = checks.add_parser(
        "mocks", help="fail when a component's Mock drifts from its Client's public interface"
    )
    mocks.add_argument("names", nargs="*", metavar="NAME", help="components (default: all)")
    mocks.set_defaults(handler=_lazy("registry", "mocks"))
    _stage_parsers(commands)


_STAGE_HELP = {
    "configure": "resolve every configuration and let plugins configure them",
    "setup": "configure, then set up each component's process (the setup hooks)",
    "init": "configure and set up, then initialize the installation (the initialize hooks)",
    "build": "configure, then write configuration files",
}


def _stage_parsers(commands: Commands) -> None:
    for name, text in _STAGE_HELP.items():
        parser = commands.add_parser(name, help=text)
        add_system(parser)
        parser.add_argument(
            "--output", metavar="DIR", help="where files go (default: the configuration directory)"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print what would change as a diff; write nothing",
        )
        parser.add_argument("--json", action="store_true", help="print a JSON report")
        parser.add_argument(
            "--host",
            metavar="NAME",
            help="the host whose files to write, as the system file names it "
            "(the host setting; default: OSERVICES_HOST, else this machine's name)",
        )
        parser.add_argument(
            "--environment",
            metavar="NAME",
            help="the environment to write files for, such as prod (the environment setting; "
            "default: OSERVICES_ENVIRONMENT, else dev)",
        )
        parser.add_argument(
            "--force", action="store_true", help="run even when the last build had the same inputs"
        )
        add_sets(parser)
        parser.set_defaults(handler=_lazy("stages", "stage"), stage=name)


def _lazy(module: str, function: str) -> Handler:
    """A handler that imports its module only when the command runs."""

    def handler(args: argparse.Namespace) -> int:
        import importlib

        run: Handler = getattr(importlib.import_module(f"oservices_core._cli.{module}"), function)
        return run(args)

    return handler


def _config_parser(commands: Commands) -> None:
    config = commands.add_parser("config", help="show, explain, check and sample configurations")
    config.set_defaults(handler=_usage(config))
    actions = config.add_subparsers(title="actions", metavar="ACTION")
    name_help = "a registered configuration's name, or an import path package.module:Class"

    show = actions.add_parser("show", help="print resolved values (secrets masked)")
    show.add_argument("name", metavar="NAME", help=name_help + ", or 'settings'")
    show.add_argument("--json", action="store_true", help="print JSON (secrets masked)")
    add_sets(show)
    add_system(show)
    show.set_defaults(handler=_show)

    explain = actions.add_parser("explain", help="print a value, its source and what it hides")
    explain.add_argument("key", metavar="NAME.FIELD", help="the configuration, a dot, the field")
    add_sets(explain)
    add_system(explain)
    explain.set_defaults(handler=_explain)

    sample = actions.add_parser("sample", help="print commented TOML with the defaults")
    sample.add_argument("name", metavar="NAME", help=name_help)
    sample.set_defaults(handler=_sample)

    schema = actions.add_parser("schema", help="print the JSON Schema")
    schema.add_argument("name", metavar="NAME", help=name_help)
    schema.set_defaults(handler=_schema)

    check = actions.add_parser("check", help="validate a TOML file (exit 0, or 2 with the errors)")
    check.add_argument("file", metavar="FILE")
    check.add_argument("--as", dest="name", metavar="NAME", required=True, help=name_help)
    check.set_defaults(handler=_check)


def _resolved(name: str, sets: list[str]) -> Resolved:  # type: ignore[type-arg]  # any configuration
    from oservices_core._cli import names as _names
    from oservices_core._cli.options import overrides_from
    from oservices_core._config.resolution import resolver

    target = _names.find(name)
    overrides = overrides_from(sets)
    _only_for(target.name, overrides)
    return resolver(overrides=overrides).resolve(target.cls, target.name)


def _only_for(name: str, overrides: dict[str, str]) -> None:
    """An override of another configuration would be silently unused: refuse it."""
    from oservices_core._errors import ConfigurationError, Problem

    problems = [
        Problem(
            "--set",
            key,
            f"an override of {name!r} (NAME.FIELD=VALUE)",
            repr(key.partition(".")[0]),
            hint=f"write --set {name}.FIELD=VALUE",
        )
        for key in overrides
        if key.partition(".")[0] != name
    ]
    if problems:
        raise ConfigurationError(problems)


def _show(args: argparse.Namespace) -> int:
    from oservices_core._cli import names as _names

    if _names.is_settings(args.name):
        if args.json:
            print(_names.settings_json())
        else:
            print(_names.render_settings(), end="")
        return 0
    resolved = _resolved(args.name, args.sets)
    if args.json:
        print(_names.masked_json(resolved.value))
    else:
        print(_names.render_masked(resolved.value, resolved.name), end="")
    return 0


def _usage(parser: argparse.ArgumentParser) -> Handler:
    """A handler for a command group named without its action: its help, exit 2."""

    def handler(args: argparse.Namespace) -> int:
        parser.print_help()
        return EXIT_BAD_INPUT

    return handler


def _explain(args: argparse.Namespace) -> int:
    from oservices_core._cli import names as _names

    name, field = _names.split_key(args.key)
    resolved = _resolved(name, args.sets)
    provenance = resolved.explain(field)
    print(f"{resolved.name}.{field} = {provenance.shown()}")
    print(f"  from: {provenance.source.where(tuple(field.split('.')))}")
    for source, value in provenance.hidden:
        print(f"  hides: {source.where(tuple(field.split('.')))} = {provenance.shown(value)}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from oservices_core._cli import names as _names

    print(_names.render_sample(_names.find(args.name)), end="")
    return 0


def _schema(args: argparse.Namespace) -> int:
    import json

    from oservices_core._cli import names as _names

    schema = _names.find(args.name).cls.model_json_schema()
    print(json.dumps(schema, indent=2, sort_keys=True))
    return 0


def _check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from oservices_core._cli import names as _names

    target = _names.find(args.name)
    target.cls.load(Path(args.file))
    print(f"{args.file}: a valid {target.name!r} configuration")
    return 0
