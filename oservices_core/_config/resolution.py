"""One resolution per process: a :class:`Resolver` for each settings, system file and overrides.

Everything that asks "this configuration, here" (``Component.CONF``, the
workflow, the Administrator, ``up``'s addresses, ``describe``, the exporters)
calls :func:`resolver`, so one process builds one resolver for each settings
and overrides, and reads its system file once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oservices_core._config.resolve import Resolver
from oservices_core._config.settings import active_settings
from oservices_core._config.systemfile import read_system

if TYPE_CHECKING:
    from oservices_core._config.settings import Settings
    from oservices_core._config.systemfile import SystemSource

__all__ = ["resolver"]

_KEPT = 32  # resolvers kept: the settings of a few threads and hosts, each with a few overrides
_Key = tuple[object, ...]
# Each entry holds its settings and system source (in its resolver), so an id() in a
# key is never reused by another object while the entry is here.
_RESOLVERS: dict[_Key, tuple[Settings, Resolver]] = {}


def resolver(
    settings: Settings | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    system: SystemSource | None = None,
) -> Resolver:
    """The process's resolver for ``settings`` (the active ones by default) and ``overrides``.

    ``system`` is a system file already read (a loaded ``System``'s); without it,
    the settings' own system file applies. A change to the environment's
    ``OSERVICES_NAME__FIELD`` variables makes a new one.
    """
    settings = settings or active_settings()
    if system is None:
        path = settings.system_path()
        system = read_system(path) if path is not None else None
    key = (
        id(settings),
        id(system),  # the same object while the file is unchanged (read_system)
        tuple(sorted((k, repr(v)) for k, v in (overrides or {}).items())),
        _configuration_variables(),
    )
    kept = _RESOLVERS.get(key)
    if kept is not None and kept[0] is settings and kept[1].system is system:
        return kept[1]
    made = Resolver(settings, overrides=overrides, system=system)
    if len(_RESOLVERS) >= _KEPT:
        del _RESOLVERS[next(iter(_RESOLVERS))]
    _RESOLVERS[key] = (settings, made)
    return made


def _configuration_variables() -> tuple[tuple[str, str], ...]:
    """The ``OSERVICES_NAME__FIELD`` variables of this process's environment now."""
    found = (
        (k, v) for k, v in os.environ.items() if k.upper().startswith("OSERVICES_") and "__" in k
    )
    return tuple(sorted(found))
