"""Declarations of components and services.

Both are plain declarations: building one does no work, so a module that
declares a component stays neutral (importable with nothing set up).
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, final

from oservices_core._errors import ConfigurationError, ImportTargetError, NotFoundError, Problem
from oservices_core._plugins.policy import Listen, Readiness, Restart, listen_of, parse_signal
from oservices_core._plugins.stash import Stash, StashKey

if TYPE_CHECKING:
    from oservices_core._config.configuration import Configuration
    from oservices_core._config.resolve import Resolved, Resolver

__all__ = ["Component", "Service", "check_name"]

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
Main = Callable[..., object] | str


def check_name(kind: str, name: str, *, where: str = "") -> str:
    """A component or service name: lower case letters, digits, ``_``, ``.``, ``-``,
    a letter or digit first (so never a path: no ``/``, no leading ``.``).

    A bad one is a :class:`ConfigurationError` located at ``where`` (default:
    the declaration).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigurationError(
            Problem(
                where or f"{kind} declaration",
                f"{kind} name" if where else "name",
                "lower-case letters, digits, '_', '.' or '-', a letter or digit first",
                repr(name),
                hint="for example 'shop-api'",
            )
        )
    return name


@final
class Component:
    """One long-running process: its configuration, entry point, client and mock.

    ``main`` is a callable or a ``"module:function"`` string, imported only in the
    component's own process; it receives the resolved configuration.

    ``extensions`` holds what the component declares for plugins, each value
    under the :class:`StashKey` its plugin defines (``{KEY: value}``); it is
    kept as a :class:`Stash` on ``component.extensions``, where the plugin
    reads it back, typed: ``component.extensions.get(KEY, default)``.

    How it runs: ``ready`` says how it reports readiness (see
    :class:`Readiness`), ``restart`` when it is started again (a
    :class:`Restart` or just its policy), ``stop_signal`` and ``stop_timeout``
    how it is stopped (then SIGKILL to its process group), ``start_timeout``
    how long it may take to be ready. With ``ready=None`` (no readiness
    signal), it counts as started once alive for ``start_seconds``, as
    supervisord's ``startsecs``: an exit before that is a failed start.
    ``spawn`` is ``"fork"`` (from a template process that has imported its
    modules already) or ``"exec"`` (a fresh interpreter, for a component that
    must not inherit anything).
    """

    __slots__ = (
        "_resolved",
        "client",
        "configuration",
        "depends_on",
        "description",
        "extensions",
        "main",
        "mock",
        "name",
        "ready",
        "restart",
        "spawn",
        "start_seconds",
        "start_timeout",
        "stop_signal",
        "stop_timeout",
    )

    def __init__(
        self,
        *,
        name: str,
        configuration: type[Configuration] | None = None,
        main: Main | None = None,
        client: type[Any] | None = None,
        mock: type[Any] | None = None,
        depends_on: Sequence[str] = (),
        description: str = "",
        extensions: Mapping[StashKey[Any], Any] | None = None,
        ready: str | None = None,
        restart: Restart | str = "on-failure",
        stop_signal: str | int = "SIGTERM",
        stop_timeout: float = 10.0,
        start_timeout: float = 60.0,
        start_seconds: float = 1.0,
        spawn: Literal["fork", "exec"] = "fork",
    ) -> None:
        self.name = check_name("component", name)
        where = f"component {name!r} declaration"
        self.ready = Readiness.parse(ready, where)
        self.restart = restart if isinstance(restart, Restart) else Restart(policy=restart)  # type: ignore[arg-type]  # checked by Restart
        self.stop_signal = parse_signal(stop_signal, where)
        self.stop_timeout = _positive(where, "stop_timeout", stop_timeout)
        self.start_timeout = _positive(where, "start_timeout", start_timeout)
        self.start_seconds = _seconds_at_least_zero(where, "start_seconds", start_seconds)
        if spawn not in ("fork", "exec"):
            raise ConfigurationError(Problem(where, "spawn", "'fork' or 'exec'", repr(spawn)))
        self.spawn = spawn
        self.extensions = _extensions(where, extensions)
        self.configuration = configuration
        self.main = main
        self.client = client
        self.mock = mock
        self.depends_on = tuple(depends_on)
        self.description = description
        self._resolved: tuple[Resolver, Resolved[Any]] | None = None

    def __repr__(self) -> str:
        return f"Component(name={self.name!r})"

    @property
    def CONFIGURATION(self) -> type[Configuration]:  # noqa: N802 - the founding notes' name
        """The configuration class."""
        if self.configuration is None:
            raise NotFoundError(f"component {self.name!r} declares no configuration")
        return self.configuration

    @property
    def CONF(self) -> Configuration:  # noqa: N802 - the founding notes' name
        """The resolved configuration for the settings active in this context."""
        value: Configuration = self.resolved().value
        return value

    def resolved(self) -> Resolved[Any]:
        """The configuration with its provenance, as this process resolves it here: resolved
        again when the settings, the system file or the environment change."""
        from oservices_core._config.resolution import resolver
        from oservices_core._config.settings import active_settings

        settings = active_settings()
        here = resolver(settings)  # the process's: the settings' system file, the environment
        if self._resolved is None or self._resolved[0] is not here:
            self._resolved = (here, here.resolve(self.CONFIGURATION, self.name))
        return self._resolved[1]

    def listen(self, configuration: Configuration | None = None) -> Listen | None:
        """Where it serves and how it is reached (its bind, port, probe and URL) with
        ``configuration`` (default: its ``CONF``); ``None`` when it names no port."""
        if configuration is None and self.configuration is not None:
            configuration = self.CONF
        return listen_of(self.ready, configuration)

    @property
    def Client(self) -> type[Any]:  # noqa: N802 - the founding notes' name
        """The class that talks to this component's public API."""
        return _required(self, "client", self.client)

    @property
    def Mock(self) -> type[Any]:  # noqa: N802 - the founding notes' name
        """A stand-in with the client's public methods, for tests; runs no process."""
        return _required(self, "mock", self.mock)

    def load_main(self) -> Callable[..., object]:
        """The entry callable, importing a ``"module:function"`` string now."""
        main = self.main
        if main is None:
            raise NotFoundError(f"component {self.name!r} declares no main")
        if callable(main):
            return main
        return _import(main, f"component {self.name!r} main")


def _positive(where: str, key: str, value: float) -> float:
    if not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(Problem(where, key, "a number of seconds > 0", repr(value)))
    return float(value)


def _seconds_at_least_zero(where: str, key: str, value: float) -> float:
    if not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ConfigurationError(Problem(where, key, "a number of seconds >= 0", repr(value)))
    return float(value)


def _extensions(where: str, extensions: Mapping[StashKey[Any], Any] | None) -> Stash:
    if extensions is None:
        return Stash()
    if not isinstance(extensions, Mapping):
        found = type(extensions).__name__
        raise ConfigurationError(
            Problem(where, "extensions", "a mapping of StashKey to value", f"a {found}")
        )
    wrong = [key for key in extensions if not isinstance(key, StashKey)]
    if wrong:
        raise ConfigurationError(
            [
                Problem(
                    where,
                    "extensions",
                    "keys that are StashKey objects, each defined by the plugin that reads it",
                    f"the key {key!r}",
                    hint="import the plugin's key (KEY = StashKey[...]() in its module) "
                    "and declare extensions={KEY: value}",
                )
                for key in wrong
            ]
        )
    return Stash(extensions)


def _required(component: Component, what: str, value: type[Any] | None) -> type[Any]:
    if value is None:
        raise NotFoundError(f"component {component.name!r} declares no {what}")
    return value


def _import(target: str, what: str) -> Callable[..., object]:
    module, _, attribute = target.partition(":")
    try:
        value: Any = importlib.import_module(module)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise ImportTargetError(f"{what} {target!r} cannot be imported: {exc}") from exc
    if not callable(value):
        raise ImportTargetError(f"{what} {target!r} is not callable")
    return value  # type: ignore[no-any-return]  # checked callable just above


@final
class Service:
    """Components that together provide a public API on a port; ``api`` names the API one."""

    __slots__ = ("api", "components", "configuration", "description", "name")

    def __init__(
        self,
        *,
        name: str,
        components: Sequence[str | Component],
        api: str | Component | None = None,
        description: str = "",
        configuration: type[Configuration] | None = None,
    ) -> None:
        self.name = check_name("service", name)
        self.components = tuple(c.name if isinstance(c, Component) else c for c in components)
        self.api = api.name if isinstance(api, Component) else api
        self.description = description
        self.configuration = configuration
        if self.api is not None and self.api not in self.components:
            raise ConfigurationError(
                Problem(
                    f"service {name!r} declaration",
                    "api",
                    f"one of its components {self.components}",
                    repr(self.api),
                    hint="add the API component to components",
                )
            )

    def __repr__(self) -> str:
        return f"Service(name={self.name!r}, components={list(self.components)!r})"
