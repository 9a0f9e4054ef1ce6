"""Built-in ``systemd`` plugin: the build writes systemd units for one host.

Enabled by the package configuration ``systemd`` (``enabled = true``, or
``OSERVICES_SYSTEMD__ENABLED=1``), it writes in the output directory's
``systemd/``: ``oservices-NAME.service`` per component of the host being built;
``oservices-SYSTEM-init.service``, a oneshot unit that runs the initialize stage
(``oservices init``) and that every component unit requires and follows; and
``oservices-SYSTEM.target``, which starts and stops them together. Copy them to
``/etc/systemd/system``, then ``systemctl daemon-reload`` and
``systemctl enable --now oservices-SYSTEM.target``.

Every unit is sandboxed (``ProtectSystem=strict`` with the home writable,
``NoNewPrivileges=``, ``PrivateTmp=``, no capabilities, the system calls of
``@system-service``...) and runs as ``user`` when set. A directory under
``/var/lib``, ``/var/log``, ``/run`` or ``/var/cache`` is made by systemd
(``StateDirectory=``...); others by the initialize stage.

Every value is written as systemd reads it back (``%`` doubled, ``$`` doubled in
commands, words quoted with C escapes), or refused at build with a located
error. See the exports page for how each field is chosen.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from oservices_core import Configuration, ConfigurationError, Context, Problem, Settings, hookimpl
from oservices_plugins._export import (
    enabled,
    host_command,
    host_components,
    host_init_command,
    host_python,
    host_settings,
    host_text_problems,
    text_problem,
)

if TYPE_CHECKING:
    from oservices_core import Component

__all__ = [
    "NAME",
    "SystemdConfiguration",
    "init_name",
    "oservices_build",
    "oservices_configurations",
    "target_name",
    "unit_name",
]

NAME = "systemd"
_ENGINE = "systemd"
_RESTART = {"always": "always", "on-failure": "on-failure", "never": "no"}
# systemd's user names (valid_user_group_name, strict form), or a numeric id.
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,30}|[0-9]{1,10}")
# A unit name: a name of systemd's characters, then a unit type.
_UNIT = re.compile(
    r"[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?"
    r"\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)"
)
# Directories systemd makes and hands to the unit's user: (root, the unit's setting).
_MANAGED = (
    (Path("/var/lib"), "StateDirectory"),
    (Path("/var/log"), "LogsDirectory"),
    (Path("/var/cache"), "CacheDirectory"),
    (Path("/run"), "RuntimeDirectory"),
)
_UNSAFE_PROGRAM = "'\"\\"  # characters systemd refuses in a program's path (string_is_safe)
_TEMPORARY = (Path("/tmp"), Path("/var/tmp"))  # noqa: S108 - where PrivateTmp= hides files
_HOMES = (Path("/home"), Path("/root"), Path("/run/user"))  # what ProtectHome= hides
# The sandbox every unit gets: systemd-analyze security rates it "OK" (see the exports page).
_HARDENING = (
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("PrivateDevices", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("ProtectProc", "invisible"),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    # CPython writes no code at run time (no JIT; ctypes uses static trampolines): tested.
    ("MemoryDenyWriteExecute", "yes"),
    ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
    ("SystemCallFilter", "@system-service"),
    ("SystemCallFilter", "~@privileged"),
    # A filtered call fails (EPERM), which Python reports as an error, rather than killing.
    ("SystemCallErrorNumber", "EPERM"),
    ("SystemCallArchitectures", "native"),
    ("CapabilityBoundingSet", ""),
    ("AmbientCapabilities", ""),
    ("RemoveIPC", "yes"),
    ("UMask", "0027"),
)


class SystemdConfiguration(Configuration):
    """Export to systemd: one service unit per component of the host being built."""

    enabled: bool = Field(False, description="Write systemd units at build.")
    python: str = Field(
        "",
        description="Interpreter that runs `-m oservices_core run NAME`; "
        "empty: the one running the build.",
    )
    user: str = Field(
        "",
        description="User= of every unit: the account the system runs as (it must own the "
        "home); empty: root, still sandboxed.",
    )
    wanted_by: str = Field(
        "multi-user.target", description="The target that wants the system's target."
    )


@hookimpl(trylast=True)
def oservices_configurations() -> dict[str, type[Configuration]]:
    """The package configuration ``systemd``."""
    return {NAME: SystemdConfiguration}


@hookimpl(trylast=True)
def oservices_build(context: Context) -> None:
    """Write ``systemd/oservices-NAME.service`` per component of the host, and a target."""
    configuration = enabled(context, NAME)
    if not isinstance(configuration, SystemdConfiguration):
        return
    settings = host_settings(context)
    components = host_components(context.system, settings.host)
    _check(context, settings, configuration)
    target = target_name(context.system.name)
    here = {component.name for component in components}
    init = init_name(context.system.name)
    context.write_file(f"systemd/{init}", init_unit(context, settings, configuration))
    for component in components:
        text = service_unit(context, component, settings, configuration, here)
        context.write_file(f"systemd/{unit_name(component.name)}", text)
    units = [init, *(unit_name(component.name) for component in components)]
    context.write_file(f"systemd/{target}", target_unit(context, settings, units, configuration))


def unit_name(component: str) -> str:
    """The unit of a component: ``oservices-NAME.service``."""
    return f"oservices-{component}.service"


def target_name(system: str) -> str:
    """The target that groups a system's units: ``oservices-SYSTEM.target``."""
    return f"oservices-{_unit_part(system)}.target"


def init_name(system: str) -> str:
    """The oneshot unit that runs a system's initialize stage: ``oservices-SYSTEM-init.service``."""
    return f"oservices-{_unit_part(system)}-init.service"


def _unit_part(name: str) -> str:
    # systemd's unit names are ASCII letters, digits and ":_.-" (and "\\" for escapes).
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name.encode("ascii", "replace").decode())


def init_unit(context: Context, settings: Settings, configuration: SystemdConfiguration) -> str:
    """The oneshot unit of the initialize stage (directories, migrations, files): once per
    start of the target, before any component (each ``Requires=`` and follows it)."""
    system = context.system
    argv = host_init_command(python=configuration.python, system_file=system.file)
    unit = [
        ("Description", f"oservices initialize stage of system {system.name}"),
        ("PartOf", target_name(system.name)),
    ]
    service = [
        ("Type", "oneshot"),
        ("RemainAfterExit", "yes"),
        ("ExecStart", _exec(argv)),
        *_process(settings, configuration),
        ("TimeoutStartSec", "infinity"),  # migrations take what they take
    ]
    install = [("WantedBy", target_name(system.name))]
    return _unit(context, settings, [("Unit", unit), ("Service", service), ("Install", install)])


def service_unit(
    context: Context,
    component: Component,
    settings: Settings,
    configuration: SystemdConfiguration,
    here: set[str],
) -> str:
    """The service unit of ``component``; ``here`` names the components of this host."""
    restart = component.restart
    # Dependencies on another host have no unit here: systemd cannot order across hosts.
    # The initialize stage comes first, always.
    needs = [init_name(context.system.name)]
    needs += [unit_name(d) for d in component.depends_on if d in here]
    unit = [
        ("Description", f"oservices component {component.name} of system {context.system.name}"),
        ("PartOf", target_name(context.system.name)),
        *(("After", name) for name in needs),
        *(("Requires", name) for name in needs),
        ("StartLimitIntervalSec", _seconds(restart.window)),
        ("StartLimitBurst", str(restart.max_failures)),
    ]
    argv = host_command(
        component.name, python=configuration.python, system_file=context.system.file
    )
    service = [
        # notify: ready when the component calls notify_ready(); otherwise once exec'd.
        ("Type", "notify" if component.ready.kind == "notify" else "exec"),
        ("ExecStart", _exec(argv)),
        *_process(settings, configuration),
        ("Restart", _RESTART[restart.policy]),
        ("RestartSec", _seconds(restart.backoff)),
        *_success(restart.success_codes),
        ("TimeoutStartSec", _seconds(component.start_timeout)),
        ("TimeoutStopSec", _seconds(component.stop_timeout)),
        ("KillSignal", component.stop_signal.name),
        # Every process of the unit gets the stop signal, then SIGKILL after the timeout.
        ("KillMode", "control-group"),
        ("SendSIGKILL", "yes"),
    ]
    install = [("WantedBy", target_name(context.system.name))]
    return _unit(context, settings, [("Unit", unit), ("Service", service), ("Install", install)])


def target_unit(
    context: Context, settings: Settings, units: list[str], configuration: SystemdConfiguration
) -> str:
    """The target that starts (``Wants=``) every unit of the host."""
    unit = [
        ("Description", f"oservices system {context.system.name} on host {settings.host}"),
        *(("Wants", name) for name in units),
    ]
    install = [("WantedBy", configuration.wanted_by)]
    return _unit(context, settings, [("Unit", unit), ("Install", install)])


def _exec(argv: list[str]) -> str:
    """A command line: each word double-quoted with C escapes, ``$`` doubled in arguments
    (no variable is expanded; systemd expands none in the program's path, nor undoubles
    one there), a lone ``;`` escaped (it would end the command)."""
    program, *args = argv
    words = ["\\;" if arg == ";" else _quoted(arg).replace("$", "$$") for arg in args]
    return " ".join([_quoted(program), *words])


def _process(settings: Settings, configuration: SystemdConfiguration) -> list[tuple[str, str]]:
    """Where and as whom a unit's process runs, its settings, and its sandbox."""
    python = Path(host_python(configuration.python))
    paths = [settings.home, settings.system_file or settings.home, python]
    user = [("User", configuration.user)] if configuration.user else []
    return [
        ("WorkingDirectory", str(settings.home)),
        *(("Environment", _quoted(f"{k}={v}")) for k, v in sorted(settings.environ().items())),
        *user,
        *_directories(settings),
        ("ReadWritePaths", " ".join(_quoted(f"-{path}") for path in _writable(settings))),
        # A file under /tmp (a home, the interpreter) must stay visible: no private /tmp then.
        ("PrivateTmp", "no" if _under(paths, _TEMPORARY) else "yes"),
        ("ProtectHome", "read-only" if _under(paths, _HOMES) else "yes"),
        *_HARDENING,
    ]


def _under(paths: list[Path], roots: tuple[Path, ...]) -> bool:
    return any(path.is_relative_to(root) for path in paths for root in roots)


def _directories(settings: Settings) -> list[tuple[str, str]]:
    """``StateDirectory=``... for the directories systemd can make: it makes them and hands
    them, with all they hold, to ``User=`` (a home of ``/var/lib/NAME`` is one whole)."""
    found: list[tuple[str, str]] = []
    made: list[Path] = []
    for field in ("home", "config_dir", "data_dir", "log_dir", "run_dir"):
        path: Path = getattr(settings, field)
        if any(path.is_relative_to(done) for done in made):
            continue  # inside one systemd makes already
        for root, key in _MANAGED:
            if path.is_relative_to(root) and path != root:
                made.append(path)
                found.append((key, _quoted(str(path.relative_to(root)))))
                if key == "RuntimeDirectory":  # shared by every unit: kept while one stops
                    found.append(("RuntimeDirectoryPreserve", "yes"))
                break
    return found


def _writable(settings: Settings) -> list[Path]:
    """The home, and each directory outside it: the rest of the file system is read-only."""
    paths = [settings.home]
    for field in ("config_dir", "data_dir", "log_dir", "run_dir"):
        path: Path = getattr(settings, field)
        if not path.is_relative_to(settings.home):
            paths.append(path)
    return list(dict.fromkeys(paths))


def _check(context: Context, settings: Settings, configuration: SystemdConfiguration) -> None:
    """Refuse, located, every value systemd would not read back as written."""
    where = f"configuration {NAME!r}"
    found: list[Problem | None] = [*host_text_problems(context, settings, _ENGINE)]
    found.append(text_problem(where, "python", configuration.python, _ENGINE))
    python = host_python(configuration.python)
    if any(c in python for c in _UNSAFE_PROGRAM):
        found.append(
            Problem(
                where,
                "python",
                "a path without quotes or backslashes (systemd refuses them in a program's path)",
                repr(python),
                hint="name the interpreter by another path, a symbolic link for example, "
                f"with OSERVICES_SYSTEMD__PYTHON or python in {NAME}.toml",
            )
        )
    for variable, value in settings.environ().items():
        if value != value.strip() or value.endswith("\\"):
            found.append(
                Problem(
                    "settings",
                    variable.removeprefix("OSERVICES_").lower(),
                    "a value without spaces at either end (systemd strips them) and no "
                    "backslash at its end (systemd would join the next line to it)",
                    repr(value),
                    hint=f"set {variable} without them",
                )
            )
    if context.system.name.endswith("\\"):
        where = str(context.system.file) if context.system.file is not None else "system"
        found.append(
            Problem(
                where,
                "name",
                "a name without a backslash at its end (systemd would join the next line)",
                repr(context.system.name),
            )
        )
    if configuration.user and not _USER.fullmatch(configuration.user):
        found.append(
            Problem(
                where,
                "user",
                "a user name systemd accepts (a letter or _, then letters, digits, _ or -; "
                "at most 31) or a numeric id",
                repr(configuration.user),
                hint=f"set OSERVICES_SYSTEMD__USER, or user in {NAME}.toml",
            )
        )
    if not _UNIT.fullmatch(configuration.wanted_by):
        found.append(
            Problem(
                where,
                "wanted_by",
                "a unit name (letters, digits, ':_.-', then a type: multi-user.target)",
                repr(configuration.wanted_by),
                hint=f"set OSERVICES_SYSTEMD__WANTED_BY, or wanted_by in {NAME}.toml",
            )
        )
    problems = [problem for problem in found if problem is not None]
    if problems:
        raise ConfigurationError(problems, subject=f"plugin {NAME!r}")


def _success(codes: tuple[int, ...]) -> list[tuple[str, str]]:
    # Exit status 0 is always a success for systemd; the others are listed.
    others = [str(code) for code in codes if code != 0]
    return [("SuccessExitStatus", " ".join(others))] if others else []


def _seconds(value: float) -> str:
    return str(math.ceil(value * 1000)) + "ms" if value % 1 else str(int(value))


def _quoted(text: str) -> str:
    # A double-quoted word, C escapes inside; "%" starts a specifier everywhere (see _unit).
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _unit(
    context: Context, settings: Settings, sections: list[tuple[str, list[tuple[str, str]]]]
) -> str:
    head = (
        f"# Written by `oservices build` for host {settings.host!r} of system "
        f"{context.system.name!r}.\n# Do not edit: change the system and build again.\n"
    )
    blocks = [
        "\n".join([f"[{name}]", *(f"{key}={value.replace('%', '%%')}" for key, value in items)])
        for name, items in sections
    ]
    return head + "\n\n".join(blocks) + "\n"
