"""The workflow: stages as data and a small runner.

Each stage calls its hooks, so any installed package extends it::

    configure  oservices_configure (each configuration), then oservices_configure_service
    setup      oservices_setup          (needs configure)
    init       oservices_initialize     (needs configure, setup)
    build      oservices_build          (needs configure; up to date when its inputs are)

A :class:`Stage` is the whole truth about a stage: the hooks it calls, the
function that calls them through the typed facade, what it needs, and whether
it is skipped when its inputs are unchanged. The runner knows no stage by name.

A stage that fails stops the run with a :class:`StageError` naming the stage,
the plugin and the hook; the files that stage wrote are rolled back (files of
stages that had finished are kept: each finished stage is complete).
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, final

from pydantic import BaseModel

from oservices_core._config.configuration import recording
from oservices_core._config.resolve import Layer, Source
from oservices_core._errors import StageError
from oservices_core._workflow.context import Artifact, Context, Lazy, plugin_in_frames
from oservices_core._workflow.uptodate import STATE_FILE, fingerprint, record, up_to_date

if TYPE_CHECKING:
    from oservices_core._config.settings import Settings
    from oservices_core._plugins.hooks import Hooks
    from oservices_core._plugins.manager import PluginManager
    from oservices_core._plugins.system import System

__all__ = ["STAGES", "Stage", "StageReport", "plan", "run_workflow"]

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``, called as a stage advances."""
Runner = Callable[["Hooks", Context, "Progress | None"], None]
"""``run(hooks, context, progress)``: a stage's work, calling hooks through the facade."""


@final
@dataclass(frozen=True, slots=True)
class Stage:
    """A named stage: the hooks it calls, how, and the stages it needs first.

    ``hooks`` names every hook ``run`` calls, the stage's own first: a failure
    names the one whose implementation raised. ``run(hooks, context, progress)``
    calls them through the typed facade, ``pm.hooks``. An ``incremental`` stage
    run with only what it needs records its inputs and the files it wrote, and
    is up to date (its hooks are not called) while neither changed. A stage that
    ``checks`` runs ``System.check`` first, once, with the configurations as
    configured (what it writes must describe a system that can run).
    """

    name: str
    hooks: tuple[str, ...]
    run: Runner
    needs: tuple[str, ...] = ()
    incremental: bool = False
    checks: bool = False

    @property
    def hook(self) -> str:
        """The stage's own hook: the first of :attr:`hooks`."""
        return self.hooks[0]


STAGES: tuple[Stage, ...] = (
    Stage(
        "configure",
        ("oservices_configure", "oservices_configure_service"),
        # A lambda: _configure is defined below, with what only it needs.
        lambda hooks, context, progress: _configure(hooks, context, progress),  # noqa: PLW0108
    ),
    Stage(
        "setup",
        ("oservices_setup",),
        lambda hooks, context, _: hooks.setup(context=context),
        needs=("configure",),
    ),
    Stage(
        "init",
        ("oservices_initialize",),
        lambda hooks, context, _: hooks.initialize(context=context),
        needs=("configure", "setup"),
    ),
    Stage(
        "build",
        ("oservices_build",),
        lambda hooks, context, _: hooks.build(context=context),
        needs=("configure",),
        incremental=True,
        checks=True,
    ),
)
_BY_NAME = {stage.name: stage for stage in STAGES}


@final
@dataclass(slots=True)
class StageReport:
    """What one stage did: how long it took and what each plugin wrote."""

    name: str
    seconds: float = 0.0
    artifacts: list[Artifact] = field(default_factory=list)
    up_to_date: bool = False  # skipped: the last run had the same inputs and left these files

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping for ``--json`` reports."""
        return {
            "stage": self.name,
            "seconds": round(self.seconds, 4),
            "up_to_date": self.up_to_date,
            "artifacts": [artifact.as_dict() for artifact in self.artifacts],
        }


def plan(names: Iterable[str]) -> list[Stage]:
    """The stages to run for ``names``, with what they need, in workflow order."""
    wanted: set[str] = set()
    for name in names:
        if name not in _BY_NAME:
            known = ", ".join(_BY_NAME)
            raise ValueError(f"unknown stage {name!r}: the stages are {known}")
        wanted |= {name, *_BY_NAME[name].needs}
    return [stage for stage in STAGES if stage.name in wanted]


def _incremental(planned: list[Stage]) -> bool:
    """An incremental stage with only what it needs: what it records is all that runs."""
    return bool(planned) and planned[-1].incremental and planned == plan([planned[-1].name])


def run_workflow(
    system: System,
    stages: Iterable[str] = ("build",),
    *,
    settings: Settings | None = None,
    output_dir: Path | None = None,
    dry_run: bool = False,
    overrides: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    out: TextIO | None = None,
    force: bool = False,
) -> tuple[Context, list[StageReport]]:
    """Run ``stages`` (and what they need) on ``system``; return the context and reports.

    A dry run prints its diffs to ``out`` (standard output by default). A build
    whose inputs are those of the last build, whose files are untouched, is up to
    date: its hooks are not called (its report says so) unless ``force`` is true.
    That holds for any :attr:`Stage.incremental` stage run with only what it needs.
    """
    from oservices_core._config.settings import active_settings

    settings = settings or active_settings()
    overrides = dict(overrides or {})
    pm = system.registry.plugin_manager
    context = Context(
        system,
        settings,
        output_dir=output_dir or settings.config_dir,
        dry_run=dry_run,
        out=out or sys.stdout,
    )
    resolver = system.resolver(settings, overrides=overrides)
    entries = system.configurations()
    context.resolved = Lazy(list(entries), lambda n: resolver.resolve(entries[n].cls, n))
    context.configurations = Lazy(list(entries), lambda n: context.resolved[n].value)
    planned = plan(stages)
    builds = _incremental(planned) and not dry_run
    state = settings.data_dir / STATE_FILE
    if builds and not force:
        recorded = up_to_date(state, context.output_dir, fingerprint(system, settings, overrides))
        if recorded is not None:
            return context, [
                *(StageReport(stage.name, up_to_date=True) for stage in planned[:-1]),
                StageReport(planned[-1].name, artifacts=recorded, up_to_date=True),
            ]
    for name in context.resolved:  # resolve now: a bad configuration stops before any hook
        context.resolved[name]
    reports = []
    with settings.activate():
        pm.hooks.settings_activated(settings=settings)
        for stage in planned:
            reports.append(_run_stage(pm, stage, context, progress))
    if builds:
        stamp = fingerprint(system, settings, overrides)
        record(state, context.output_dir, stamp, reports[-1].artifacts)
    return context, reports


def _run_stage(
    pm: PluginManager,
    stage: Stage,
    context: Context,
    progress: Progress | None,
) -> StageReport:
    report = StageReport(stage.name)
    context.stage = stage.name
    first = len(context.artifacts)
    started = time.perf_counter()
    if stage.checks:
        _check(context)
    with _failures(pm, stage, context):
        stage.run(pm.hooks, context, progress)
    context.commit()
    report.seconds = time.perf_counter() - started
    report.artifacts = context.artifacts[first:]
    return report


def _check(context: Context) -> None:
    """``System.check`` with each configuration as configured, at the settings asked for."""

    def at(name: str, settings: Settings) -> Any:
        return context.resolved[name].at(settings)

    context.system.check(context.settings, configuration_at=at)


@contextmanager
def _failures(pm: PluginManager, stage: Stage, context: Context) -> Iterator[None]:
    """Name the failing plugin and hook; undo the stage's writes."""
    hooks = list(stage.hooks)
    context.owners = _owners(pm, hooks)
    try:
        yield
    except Exception as exc:
        context.rollback()
        plugin = plugin_in_frames(exc.__traceback__, context.owners)
        hook = _hook_in_traceback(exc, pm, hooks)
        outcome = pm.outcome(plugin)
        distribution = f"{outcome.distribution} {outcome.version}" if outcome else "unknown"
        raise StageError(stage.name, plugin, distribution, hook, exc) from exc


def _owners(pm: PluginManager, hooks: list[str]) -> dict[Any, str]:
    """The code of every implementation of ``hooks`` -> its plugin (introspection only)."""
    owners = {}
    for hook in hooks:
        for impl in getattr(pm.hook, hook).get_hookimpls():
            owners[impl.function.__code__] = impl.plugin_name
    return owners


def _hook_in_traceback(exc: BaseException, pm: PluginManager, hooks: list[str]) -> str:
    codes = {
        impl.function.__code__: hook
        for hook in hooks
        for impl in getattr(pm.hook, hook).get_hookimpls()
    }
    found = hooks[0]
    tb = exc.__traceback__
    while tb is not None:
        found = codes.get(tb.tb_frame.f_code, found)
        tb = tb.tb_next
    return found


def _configure(hooks: Hooks, context: Context, progress: Progress | None) -> None:
    """The configure stage: each configuration, then each service; records what hooks assign."""
    names = list(context.resolved)
    # Without an implementation there is nothing to call, so nothing to record.
    pm = context.system.registry.plugin_manager
    watched = bool(pm.hook.oservices_configure.get_hookimpls())
    for index, name in enumerate(names, start=1):
        resolved = context.resolved[name]
        if watched:
            with _changes(context, [name]):
                hooks.configure(context=context, name=name, configuration=resolved.value)
        context.configurations[name] = resolved.value
        if progress is not None:
            progress(context.stage, index, len(names))
    for service in context.system.services.values():
        mine = [n for n in (service.name, *service.components) if n in context.resolved]
        with _changes(context, mine):
            hooks.configure_service(context=context, service=service)


@contextmanager
def _changes(context: Context, names: list[str]) -> Iterator[None]:
    """Record what hooks assign, as a ``plugin`` layer below the environment and overrides."""
    before = {name: context.resolved[name].value.model_copy(deep=True) for name in names}
    assigned: dict[tuple[int, str], str] = {}
    with recording(lambda model, field: _note(assigned, context, model, field)):
        yield
    for name in names:
        resolved = context.resolved[name]
        layer = Layer("plugin")
        current = resolved.value  # the instance the hooks were given, assigned in place
        for path, value, owner in _differences(before[name], current, (), assigned):
            plugin = owner or " or ".join(sorted(set(context.owners.values())))
            layer.set(path, value, Source("plugin", f"plugin {plugin}"))
        if layer.values:
            resolved.add_layer(layer)
        context.configurations[name] = resolved.value


def _note(
    assigned: dict[tuple[int, str], str], context: Context, model: BaseModel, field: str
) -> None:
    assigned[(id(model), field)] = plugin_in_frames(inspect.currentframe(), context.owners)


def _differences(
    before: BaseModel,
    after: BaseModel,
    prefix: tuple[str, ...],
    assigned: dict[tuple[int, str], str],
) -> Iterator[tuple[tuple[str, ...], Any, str]]:
    """(path, new value, plugin that assigned it or '') for every leaf that changed."""
    for name in type(after).model_fields:
        old, new = getattr(before, name), getattr(after, name)
        if isinstance(old, BaseModel) and isinstance(new, BaseModel) and type(old) is type(new):
            yield from _differences(old, new, (*prefix, name), assigned)
        elif old != new:
            yield (*prefix, name), new, assigned.get((id(after), name), "")
