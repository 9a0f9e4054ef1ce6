"""Built-in ``systemd`` plugin: the build writes systemd units for one host.

Enabled by the package configuration ``systemd`` (``enabled = true``, or
``OSERVICES_SYSTEMD__ENABLED=1``), it writes in the output directory's
``systemd/``: ``oservices-NAME.service`` per component of the host being built,
and ``oservices-SYSTEM.target``, which starts and stops them together. Copy them
to ``/etc/systemd/system`` (or ``~/.config/systemd/user``), then
``systemctl daemon-reload`` and ``systemctl enable --now oservices-SYSTEM.target``.
See the exports page for how each field is chosen.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from pydantic import Field

from oservices_core import Configuration, Context, Settings, hookimpl
from oservices_plugins._export import (
    enabled,
    host_command,
    host_components,
    host_settings,
)

if TYPE_CHECKING:
    from oservices_core import Component

__all__ = [
    "NAME",
    "SystemdConfiguration",
    "oservices_build",
    "oservices_configurations",
    "target_name",
    "unit_name",
]

NAME = "systemd"
_RESTART = {"always": "always", "on-failure": "on-failure", "never": "no"}


class SystemdConfiguration(Configuration):
    """Export to systemd: one service unit per component of the host being built."""

    enabled: bool = Field(False, description="Write systemd units at build.")
    python: str = Field(
        "",
        description="Interpreter that runs `-m oservices_core run NAME`; "
        "empty: the one running the build.",
    )
    user: str = Field("", description="User= of every unit; empty: systemd's default.")
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
    target = target_name(context.system.name)
    here = {component.name for component in components}
    for component in components:
        text = service_unit(context, component, settings, configuration, here)
        context.write_file(f"systemd/{unit_name(component.name)}", text)
    units = [unit_name(component.name) for component in components]
    context.write_file(f"systemd/{target}", target_unit(context, settings, units, configuration))


def unit_name(component: str) -> str:
    """The unit of a component: ``oservices-NAME.service``."""
    return f"oservices-{component}.service"


def target_name(system: str) -> str:
    """The target that groups a system's units: ``oservices-SYSTEM.target``."""
    return f"oservices-{re.sub(r'[^A-Za-z0-9_.-]', '-', system)}.target"


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
    needs = [unit_name(d) for d in component.depends_on if d in here]
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
        ("ExecStart", " ".join(_quoted(arg).replace("$", "$$") for arg in argv)),
        ("WorkingDirectory", str(settings.home)),
        *(("Environment", _quoted(f"{k}={v}")) for k, v in sorted(settings.environ().items())),
        *((("User", configuration.user),) if configuration.user else ()),
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


def _success(codes: tuple[int, ...]) -> list[tuple[str, str]]:
    # Exit status 0 is always a success for systemd; the others are listed.
    others = [str(code) for code in codes if code != 0]
    return [("SuccessExitStatus", " ".join(others))] if others else []


def _seconds(value: float) -> str:
    return str(math.ceil(value * 1000)) + "ms" if value % 1 else str(int(value))


def _quoted(text: str) -> str:
    # A double-quoted word, C escapes inside; "%" starts a specifier everywhere.
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
