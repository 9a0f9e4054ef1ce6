"""The plugin manager factory: hookspecs, then entry points, each load isolated.

Entry points of the group ``oservices`` load in a deterministic order (by
distribution, then entry-point name). A plugin that fails to import, fails
validation (unknown hook, bad signature, a name already taken) or requires
another oservices version is recorded as failed with its reason, and every
other plugin still loads; ``strict`` turns any failure into an error.
"""

from __future__ import annotations

import importlib.metadata
import re
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, final

import pluggy

from oservices_core import hookspecs
from oservices_core._errors import PluginLoadError
from oservices_core._plugins.component import Component, Service
from oservices_core._plugins.hooks import Hooks
from oservices_core._version import __version__

if TYPE_CHECKING:
    from oservices_core._config.configuration import Configuration
    from oservices_core._config.settings import Settings

__all__ = ["GROUP", "PluginManager", "PluginOutcome", "get_plugin_manager"]

GROUP = "oservices"
State = Literal["loaded", "blocked", "failed"]
_PREFIX = "oservices_"
# A requirement on oservices, extras allowed, no marker nor URL: group 1 is the specifier.
_REQUIRES_OSERVICES = re.compile(
    r"\s*oservices(?![\w.-])\s*(?:\[[^\]]*\])?\s*\(?([^;()@]*?)\)?\s*", re.IGNORECASE
)


@final
@dataclass(frozen=True, slots=True)
class PluginOutcome:
    """What happened to one entry point: loaded, blocked or failed, and why."""

    name: str
    distribution: str
    version: str
    state: State
    reason: str = ""
    kind: str = ""
    hooks: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping, for ``oservices plugins --json``."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "state": self.state,
            "reason": self.reason,
            "kind": self.kind,
            "hooks": list(self.hooks),
        }

    def __str__(self) -> str:
        where = f"plugin {self.name!r} ({self.distribution} {self.version})"
        return f"{where}: {self.reason}" if self.reason else where


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, plus the outcome of every entry point and a typed hook facade."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.outcomes: list[PluginOutcome] = []
        self.hooks = Hooks(self.hook)
        # Configurations that packages contribute: name -> (class, plugin name).
        self.package_configurations: dict[str, tuple[type[Configuration], str]] = {}

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:  # pluggy's own type
        # Only oservices_* names can be hooks; never touching other attributes keeps
        # registration from evaluating a component's properties.
        if not name.startswith(_PREFIX):
            return None
        return super().parse_hookimpl_opts(plugin, name)

    def components(self) -> dict[str, Component]:
        """Registered components by component name, in load order."""
        return {p.name: p for p in self.get_plugins_in_order() if isinstance(p, Component)}

    def services(self) -> dict[str, Service]:
        """Registered services by service name, in load order."""
        return {p.name: p for p in self.get_plugins_in_order() if isinstance(p, Service)}

    def get_plugins_in_order(self) -> list[object]:
        """Plugins in the order they were registered (pluggy keeps a set)."""
        return [plugin for _, plugin in self.list_name_plugin()]

    def outcome(self, name: str) -> PluginOutcome | None:
        """The outcome recorded for entry point ``name``."""
        return next((o for o in self.outcomes if o.name == name), None)


@dataclass(slots=True)
class _Options:
    blocked: frozenset[str]
    selected: frozenset[str] | None
    taken: dict[str, str] = field(default_factory=dict)  # component name -> plugin name


def get_plugin_manager(
    settings: Settings | None = None,
    *,
    strict: bool | None = None,
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
) -> PluginManager:
    """A fresh plugin manager: hookspecs, then every entry point, then ``check_pending()``.

    ``settings`` (default: the active ones) give the plugins to block, whether to
    autoload, and strictness. Nothing loads before this is called.
    """
    from oservices_core._config.settings import active_settings

    settings = settings or active_settings()
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    options = _options(settings)
    for name in options.blocked:
        pm.set_blocked(name)
    found = _discover() if entry_points is None else entry_points
    for ep, dist in sorted(((ep, _Dist.of(ep)) for ep in found), key=_order):
        pm.outcomes.append(_load(pm, ep, dist, options))
    _check_services(pm)
    _collect_configurations(pm)
    pm.check_pending()
    if settings.strict if strict is None else strict:
        _raise_failures(pm.outcomes)
    return pm


def _options(settings: Settings) -> _Options:
    selected = None if settings.autoload_plugins else frozenset(_names(settings.plugins))
    return _Options(frozenset(_names(settings.disable_plugins)), selected)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _discover() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=GROUP))


@final
@dataclass(frozen=True, slots=True)
class _Dist:
    """What outcomes and the version check need of a plugin's distribution."""

    name: str
    version: str
    requires: tuple[str, ...]

    @classmethod
    def of(cls, ep: importlib.metadata.EntryPoint) -> _Dist:
        # Each Distribution.name, .version and .requires parses METADATA anew: parse it once.
        if ep.dist is None:
            return cls("(unknown distribution)", "?", ())
        metadata = ep.dist.metadata
        requires = metadata.get_all("Requires-Dist")
        if requires is None:  # none declared, or an egg-info's requires.txt
            requires = ep.dist.requires or []
        return cls(metadata["Name"], metadata["Version"], tuple(requires))


def _order(found: tuple[importlib.metadata.EntryPoint, _Dist]) -> tuple[str, str]:
    ep, dist = found
    return (_normalize(dist.name), ep.name)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _outcome(
    ep: importlib.metadata.EntryPoint,
    dist: _Dist,
    state: State,
    reason: str = "",
    *,
    kind: str = "",
    hooks: Sequence[str] = (),
) -> PluginOutcome:
    return PluginOutcome(ep.name, dist.name, dist.version, state, reason, kind, tuple(hooks))


def _load(
    pm: PluginManager, ep: importlib.metadata.EntryPoint, dist: _Dist, options: _Options
) -> PluginOutcome:
    if pm.is_blocked(ep.name):
        return _outcome(ep, dist, "blocked", "blocked by name (disable_plugins)")
    if options.selected is not None and ep.name not in options.selected:
        return _outcome(ep, dist, "blocked", "autoload is off and the plugin is not listed")
    reason = _incompatible(dist)
    if reason:
        return _outcome(ep, dist, "failed", reason)
    try:
        plugin = ep.load()
    except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's, reported
        return _outcome(ep, dist, "failed", f"import failed: {type(exc).__name__}: {exc}")
    return _register(pm, ep, dist, plugin, options)


def _incompatible(dist: _Dist) -> str:
    """Why the plugin's distribution cannot run with this oservices, or ''.

    Only a requirement on oservices without a marker or URL counts. A pattern
    finds it and only its specifier is parsed: importing packaging.requirements
    costs more than a tenth of ``oservices components``.
    """
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    for text in dist.requires:
        match = _REQUIRES_OSERVICES.fullmatch(text)
        if match is None:
            continue
        try:
            specifier = SpecifierSet(match[1])
        except InvalidSpecifier:
            continue
        if not specifier.contains(__version__, prereleases=True):
            return f"requires oservices{specifier}, but {__version__} is installed"
    return ""


def _register(
    pm: PluginManager,
    ep: importlib.metadata.EntryPoint,
    dist: _Dist,
    plugin: object,
    options: _Options,
) -> PluginOutcome:
    kind = _kind(plugin)
    if not kind:
        found = type(plugin).__name__
        return _outcome(ep, dist, "failed", f"names a {found}, not a Component, Service or module")
    if isinstance(plugin, Component) and plugin.name in options.taken:
        owner = options.taken[plugin.name]
        return _outcome(
            ep,
            dist,
            "failed",
            f"component name {plugin.name!r} is already taken by plugin {owner!r}",
            kind=kind,
        )
    try:
        pm.register(plugin, name=ep.name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        _unregister(pm, plugin)
        return _outcome(ep, dist, "failed", f"invalid: {exc}", kind=kind)
    unknown = [hc.name for hc in pm.get_hookcallers(plugin) or [] if not hc.has_spec()]
    if unknown:
        _unregister(pm, plugin)
        return _outcome(ep, dist, "failed", f"unknown hook {', '.join(unknown)}", kind=kind)
    if isinstance(plugin, Component):
        options.taken[plugin.name] = ep.name
    hooks = sorted(hc.name for hc in pm.get_hookcallers(plugin) or [])
    return _outcome(ep, dist, "loaded", kind=kind, hooks=hooks)


def _kind(plugin: object) -> str:
    if isinstance(plugin, Component):
        return "component"
    if isinstance(plugin, Service):
        return "service"
    if isinstance(plugin, types.ModuleType | type):
        return "hooks"
    return ""


def _unregister(pm: PluginManager, plugin: object) -> None:
    if pm.is_registered(plugin):
        pm.unregister(plugin)


def _fail_late(pm: PluginManager, name: str, reason: str) -> None:
    """Unregister a plugin found invalid after loading, and record why."""
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    index, old = next((i, o) for i, o in enumerate(pm.outcomes) if o.name == name)
    pm.outcomes[index] = PluginOutcome(
        old.name, old.distribution, old.version, "failed", reason, old.kind
    )


def _check_services(pm: PluginManager) -> None:
    """A service naming components nobody registered fails, like a bad import."""
    components = pm.components()
    for name, plugin in pm.list_name_plugin():
        if not isinstance(plugin, Service):
            continue
        missing = [c for c in plugin.components if c not in components]
        if missing:
            reason = f"service {plugin.name!r} names unknown components: {', '.join(missing)}"
            _fail_late(pm, name, reason)


def _collect_configurations(pm: PluginManager) -> None:
    """Call each plugin's ``oservices_configurations`` apart, so a bad result names its plugin."""
    from oservices_core._config.configuration import Configuration

    taken = set(pm.components()) | set(pm.services())
    for impl in pm.hook.oservices_configurations.get_hookimpls():
        try:
            result: Any = impl.function()
            contributed: dict[str, object] = dict(result)
        except Exception as exc:  # noqa: BLE001 - the plugin's failure, reported
            _fail_late(pm, impl.plugin_name, f"oservices_configurations raised {exc!r}")
            continue
        good = {
            n: c
            for n, c in contributed.items()
            if isinstance(c, type) and issubclass(c, Configuration)
        }
        bad = sorted(set(contributed) - set(good))
        clash = [n for n in good if n in taken or n in pm.package_configurations]
        if bad or clash:
            what = f"not Configuration classes: {bad}" if bad else f"names already taken: {clash}"
            _fail_late(pm, impl.plugin_name, f"oservices_configurations returned {what}")
            continue
        for config_name, cls in good.items():
            pm.package_configurations[config_name] = (cls, impl.plugin_name)


def _raise_failures(outcomes: list[PluginOutcome]) -> None:
    failed = [outcome for outcome in outcomes if outcome.state == "failed"]
    if failed:
        raise PluginLoadError(failed)
