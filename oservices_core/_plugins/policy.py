"""How a component is run: readiness, where it listens, restart policy, stop signal, timeouts.

These are plain, frozen declarations read by the Administrator and by the
exporters (supervisord, systemd, compose, Kubernetes), so one component means
the same thing under every engine.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, field
from typing import Any, Literal, final

from oservices_core._errors import ConfigurationError, Problem

__all__ = [
    "Listen",
    "Readiness",
    "Restart",
    "listen_of",
    "parse_signal",
    "port_field",
    "reachable",
]

Policy = Literal["always", "on-failure", "never"]
_POLICIES = ("always", "on-failure", "never")


@final
@dataclass(frozen=True, slots=True)
class Restart:
    """When the Administrator starts a component again after it exits.

    ``policy``: ``"always"``, ``"on-failure"`` (an exit code outside
    ``success_codes``, or a signal) or ``"never"``. Restarts wait ``backoff``
    seconds, doubled after each failure up to ``backoff_max``; a run that lasts
    ``stable_after`` seconds resets the count. ``max_failures`` failures within
    ``window`` seconds make the component FATAL: it is not started again.
    """

    policy: Policy = "on-failure"
    success_codes: tuple[int, ...] = (0,)
    backoff: float = 0.5
    backoff_max: float = 30.0
    stable_after: float = 10.0
    max_failures: int = 5
    window: float = 60.0

    def __post_init__(self) -> None:
        if self.policy not in _POLICIES:
            _invalid("restart.policy", " or ".join(map(repr, _POLICIES)), repr(self.policy))
        if self.backoff < 0 or self.backoff_max < self.backoff:
            _invalid("restart.backoff", "0 <= backoff <= backoff_max", f"{self.backoff}")
        if self.max_failures < 1 or self.window <= 0:
            _invalid("restart.max_failures", "at least 1, in a window > 0", f"{self.max_failures}")

    def succeeded(self, returncode: int) -> bool:
        """Whether an exit status counts as success (a signal never does)."""
        return returncode >= 0 and returncode in self.success_codes

    def wants_restart(self, returncode: int) -> bool:
        """Whether this exit calls for a restart, before counting failures."""
        if self.policy == "always":
            return True
        return self.policy == "on-failure" and not self.succeeded(returncode)

    def delay(self, failures: int) -> float:
        """The wait before the next start after ``failures`` failures in a row."""
        if failures <= 0:
            return 0.0
        return float(min(self.backoff * 2 ** (failures - 1), self.backoff_max))


@final
@dataclass(frozen=True, slots=True)
class Readiness:
    """How a started component says it is ready.

    Written as a string in a component declaration:

    - ``"notify"``: the component calls :func:`oservices_core.notify_ready`
      (the sd_notify protocol, so it also works under systemd ``Type=notify``);
    - ``"tcp"`` or ``"tcp:FIELD"``: the port in configuration field ``FIELD``
      (default ``port``) accepts a connection; ``"tcp:8000"`` names a port;
    - ``"log:REGEX"``: a line of its output matches ``REGEX``;
    - ``None``: ready as soon as its process exists.
    """

    kind: Literal["none", "notify", "tcp", "log"] = "none"
    target: str = ""
    pattern: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str | None, where: str = "component declaration") -> Readiness:
        """Read the string form; a bad one is a :class:`ConfigurationError`."""
        if text is None or text == "none":
            return cls()
        kind, _, target = text.partition(":")
        if kind == "notify" and not target:
            return cls("notify")
        if kind == "tcp":
            return cls("tcp", target or "port")
        if kind == "log" and target:
            try:
                return cls("log", target, re.compile(target))
            except re.error as exc:
                _invalid("ready", "a valid regular expression", f"{target!r} ({exc})", where)
        _invalid(
            "ready", "'notify', 'tcp', 'tcp:FIELD', 'tcp:PORT' or 'log:REGEX'", repr(text), where
        )
        raise AssertionError  # pragma: no cover - _invalid raises

    def __str__(self) -> str:
        return self.kind if not self.target else f"{self.kind}:{self.target}"


@final
@dataclass(frozen=True, slots=True)
class Listen:
    """Where a component serves, and how it is reached: the one rule that ``up``'s addresses,
    the Administrator's probe, ``describe`` and the exporters all follow.

    ``bind`` is the address it binds (its configuration's ``host``, or ``""`` when it has
    none), ``port`` the port it serves on.
    """

    bind: str
    port: int

    @property
    def probe(self) -> tuple[str, int]:
        """Where to connect, on its own machine, to find it serving."""
        return reachable(self.bind), self.port

    def url(self, host: str | None = None) -> str:
        """Its HTTP address, for a client on its machine, or reaching it as ``host``."""
        name = host or reachable(self.bind)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{self.port}/"


def listen_of(ready: Readiness, configuration: Any) -> Listen | None:
    """Where a component with readiness ``ready`` and this resolved configuration listens.

    Its port is the ``tcp`` readiness port (``tcp:8000``, or ``tcp:FIELD``'s field),
    else its configuration's ``port`` field; it binds its configuration's ``host``.
    ``None`` when it names no port.
    """
    field = port_field(ready)
    port: object = int(ready.target) if field is None else getattr(configuration, field, None)
    if not isinstance(port, int) or isinstance(port, bool):
        return None
    host = getattr(configuration, "host", "")
    return Listen(host if isinstance(host, str) else "", port)


def port_field(ready: Readiness) -> str | None:
    """The configuration field that holds the port of a component with readiness ``ready``:
    ``tcp:FIELD``'s field, else ``port``; None when ``tcp:PORT`` names the port itself."""
    if ready.kind != "tcp":
        return "port"
    return None if ready.target.isdigit() else ready.target


def reachable(host: str) -> str:
    """Where to connect to reach a server bound to ``host`` on this machine."""
    wildcard = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - not bound
    return wildcard.get(host, host)


def parse_signal(value: str | int, where: str = "component declaration") -> signal.Signals:
    """A signal from its name (``"SIGTERM"`` or ``"TERM"``) or number."""
    try:
        if isinstance(value, int):
            return signal.Signals(value)
        name = value.upper()
        return signal.Signals[name if name.startswith("SIG") else f"SIG{name}"]
    except (KeyError, ValueError):
        _invalid("stop_signal", "a signal name such as 'SIGTERM' or 'INT'", repr(value), where)
        raise AssertionError from None  # pragma: no cover - _invalid raises


def _invalid(key: str, expected: str, found: str, where: str = "component declaration") -> None:
    raise ConfigurationError(Problem(where, key, expected, found))
