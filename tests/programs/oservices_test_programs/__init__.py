"""Components with the behaviours the Administrator must handle.

Each ``main`` prints what it does, so a failing test shows it in the
component's log. None of them reads anything at import time (neutral).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Annotated

from oservices_core import (
    Component,
    Configuration,
    FromSettings,
    Restart,
    Service,
    notify_ready,
)


class ObedientConfiguration(Configuration):
    """A value the tests change to see which components a reload restarts."""

    greeting: str = "hello"


class ListenerConfiguration(Configuration):
    """Where the listener listens."""

    host: str = "127.0.0.1"
    port: int = 0


def _idle() -> None:
    while True:
        time.sleep(3600)


def _sleeper() -> int:
    """Fork a process that only sleeps (in the caller's process group); its pid."""
    pid = os.fork()
    if pid == 0:
        time.sleep(3600)
        os._exit(0)
    return pid


def run_obedient(configuration: ObedientConfiguration) -> None:
    """Ready at once; dies on SIGTERM (the default disposition)."""
    print(f"obedient: {configuration.greeting}", flush=True)
    notify_ready()
    _idle()


def run_stubborn() -> None:
    """Ignores SIGTERM: only SIGKILL after the grace period ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("stubborn: ready", flush=True)
    _idle()


def run_forker() -> None:
    """Two children, each with a grandchild, all in its process group."""
    for _ in range(2):
        if os.fork() == 0:
            _sleeper()
            _idle()
    notify_ready()
    _idle()


def run_escaper() -> None:
    """A child that leaves the process group (setsid) and keeps standard output open."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:  # a grandchild in the new session, holding stdout too
            _idle()
        _idle()
    notify_ready()
    _idle()


def run_early() -> int:
    """Starts children, reports ready, then exits while they still run."""
    for _ in range(2):
        _sleeper()
    notify_ready()
    time.sleep(0.3)
    print("early: leaving my children behind", flush=True)
    return 0


def run_crashloop() -> int:
    """Fails at once, every time."""
    print("crashloop: failing", file=sys.stderr, flush=True)
    return 7


def run_listener(configuration: ListenerConfiguration) -> None:
    """Ready when its port accepts connections (no notify call)."""
    import socket

    with socket.create_server((configuration.host, configuration.port)) as server:
        while True:
            connection, _ = server.accept()
            connection.close()


class ReporterConfiguration(Configuration):
    """Values each set by another layer, and the field its readiness names."""

    host: str = "127.0.0.1"
    http_port: int = 0
    word: str = "default"
    number: int = 1


def run_reporter(configuration: ReporterConfiguration) -> None:
    """Writes what its main was given and what ``reporter.CONF`` says, then serves."""
    import json
    import socket

    from oservices_core import active_settings

    seen = {"main": configuration.model_dump(), "conf": reporter.CONF.model_dump()}
    target = active_settings().data_dir / "reporter.json"
    target.write_text(json.dumps(seen))
    with socket.create_server((configuration.host, configuration.http_port)) as server:
        while True:
            connection, _ = server.accept()
            connection.close()


def run_chatty() -> None:
    """Ready at once, then writes a kilobyte of output every 10 ms."""
    notify_ready()
    line = "chatty: " + "x" * 1015 + "\n"
    for count in range(10**9):
        sys.stdout.write(f"{count:08d}{line}")
        sys.stdout.flush()
        time.sleep(0.01)


def run_quitter() -> int:
    """No readiness signal, and exits at once with success."""
    print("quitter: done", flush=True)
    return 0


def run_handlers() -> int:
    """Prints its signal dispositions: a component must find the defaults."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        handler = signal.getsignal(sig)
        name = {signal.SIG_DFL: "default", signal.default_int_handler: "python"}.get(
            handler, repr(handler)
        )
        print(f"{sig.name}={name}", flush=True)
    return 0


class ListenerClient:
    """Talks to the listener: its public API is accepting connections."""

    def __init__(self, configuration: ListenerConfiguration) -> None:
        self.address = (configuration.host, configuration.port)

    def ping(self, timeout: float = 5.0) -> bool:
        """Whether the listener accepts a connection."""
        import socket

        try:
            with socket.create_connection(self.address, timeout=timeout):
                return True
        except OSError:
            return False


class ListenerMock:
    """The listener's stand-in: always answers."""

    def __init__(self, configuration: ListenerConfiguration) -> None:
        self.pings = 0

    def ping(self, timeout: float = 5.0) -> bool:
        """Counts the call; True."""
        self.pings += 1
        return True


class DriftedMock:
    """A Mock that drifted: another parameter, another return, an extra and a missing method."""

    def __init__(self, configuration: ListenerConfiguration) -> None:
        pass

    def ping(self, wait: float = 5.0) -> str:
        """Not what the Client offers."""
        return "yes"

    def shutdown(self) -> None:
        """Not in the Client."""


_FAST = Restart(backoff=0.05, backoff_max=0.2, max_failures=3, window=60)

obedient = Component(
    name="obedient", configuration=ObedientConfiguration, main=run_obedient, ready="notify"
)
dependent = Component(
    name="dependent",
    configuration=ObedientConfiguration,
    main=run_obedient,
    ready="notify",
    depends_on=["obedient"],
)
stubborn = Component(
    name="stubborn", main=run_stubborn, ready="log:stubborn: ready", stop_timeout=0.5
)
forker = Component(name="forker", main=run_forker, ready="notify")
escaper = Component(name="escaper", main=run_escaper, ready="notify")
early = Component(name="early", main=run_early, ready="notify", restart="on-failure")
crashloop = Component(name="crashloop", main=run_crashloop, restart=_FAST)
listener = Component(
    name="listener",
    configuration=ListenerConfiguration,
    main=run_listener,
    ready="tcp",
    client=ListenerClient,
    mock=ListenerMock,
)
drifted = Component(
    name="drifted",
    configuration=ListenerConfiguration,
    main=run_listener,
    client=ListenerClient,
    mock=DriftedMock,
)
execed = Component(
    name="execed",
    configuration=ObedientConfiguration,
    main=run_obedient,
    ready="notify",
    spawn="exec",
)
handlers = Component(name="handlers", main=run_handlers, restart="never")
chatty = Component(name="chatty", main=run_chatty, ready="notify")
quitter = Component(name="quitter", main=run_quitter, restart="never")
reporter = Component(
    name="reporter",
    configuration=ReporterConfiguration,
    main=run_reporter,
    ready="tcp:http_port",
)
reporting = Service(name="reporting", components=["reporter"], api="reporter")


class ListeningConfiguration(Configuration):
    """The listening service's own value: a reload restarts its components when it changes."""

    motd: str = "welcome"


listening = Service(
    name="listening",
    components=["listener"],
    api="listener",
    configuration=ListeningConfiguration,
)
slowstop = Component(
    name="slowstop", main=run_stubborn, ready="log:stubborn: ready", stop_timeout=60
)


class BoundConfiguration(Configuration):
    """A port derived from the base port, as a real component's would be."""

    host: str = "127.0.0.1"
    port: Annotated[int, FromSettings(lambda s: s.base_port + 1)] = 8001


class FixedConfiguration(Configuration):
    """A port fixed in the declaration: the same in every test, unless the toolkit moves it."""

    host: str = "127.0.0.1"
    port: int = 18765


def run_bound(configuration: BoundConfiguration | FixedConfiguration) -> None:
    """Binds its port (an address already in use ends it with a traceback), then serves."""
    import socket

    with socket.create_server((configuration.host, configuration.port)) as server:
        print(f"bound: listening on {configuration.port}", flush=True)
        while True:
            connection, _ = server.accept()
            connection.close()


def run_failing() -> int:
    """Says why on standard error, and fails at once, every time (its policy would restart it)."""
    print("failing: cannot open /nonexistent/frobnicator.conf", file=sys.stderr, flush=True)
    return 3


def run_mute() -> None:
    """Runs, and never says it is ready."""
    print("mute: running, never ready", flush=True)
    _idle()


bound = Component(
    name="bound",
    configuration=BoundConfiguration,
    main=run_bound,
    ready="tcp",
    client=ListenerClient,
    mock=ListenerMock,
)
fixed = Component(
    name="fixed",
    configuration=FixedConfiguration,
    main=run_bound,
    ready="tcp",
    client=ListenerClient,
    mock=ListenerMock,
)
failing = Component(name="failing", main=run_failing, ready="notify")
mute = Component(name="mute", main=run_mute, ready="notify")
