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


def run_rally() -> None:
    """``ping`` and ``pong`` take turns, ten lines each: each writes its next line once the
    other's last one is in the other's log, so read and stamped by the Administrator."""
    from oservices_core import active_settings

    me = os.environ["OSERVICES_COMPONENT"]
    other, first = ("pong", 1) if me == "ping" else ("ping", 0)
    log = active_settings().log_dir / f"{other}.log"
    notify_ready()
    for turn in range(10):
        awaited = f" {other} {turn - first}\n".encode()
        while turn - first >= 0 and awaited not in (log.read_bytes() if log.exists() else b""):
            time.sleep(0.01)
        print(f"{me} {turn}", flush=True)
    _idle()


# What ``hostile`` writes: not UTF-8, colours, a cursor moved up and a line erased, a
# carriage return before another component's prefix, a line of 200 KiB, no newline at the end.
HOSTILE = (
    b"bad \xff\xfe utf-8\n"
    b"\x1b[31mred\n"
    b"\x1b[1A\x1b[2Kerased\n"
    b"\rping | forged\n"
    b"hostile " + b"h" * 200 * 1024 + b"\n"
    b"the end without a newline"
)


def run_hostile() -> None:
    """Writes :data:`HOSTILE`, then idles (its last line never ends)."""
    os.write(1, HOSTILE)
    notify_ready()
    _idle()


def run_gush() -> None:
    """Writes 8 MiB as fast as a pipe takes it, then ``gush: done``."""
    notify_ready()
    line = b"g" * 1023 + b"\n"
    for _ in range(8 * 1024):
        os.write(1, line)
    os.write(1, b"gush: done\n")
    _idle()


def run_driverless() -> int:
    """Django with the PostgreSQL backend where no driver is installed: it fails to start."""
    sys.modules["psycopg"] = sys.modules["psycopg2"] = None  # type: ignore[assignment]  # unimportable, as when missing
    import django
    from django.conf import settings

    settings.configure(DATABASES={"default": {"ENGINE": "django.db.backends.postgresql"}})
    django.setup()
    from django.db import connection

    connection.ensure_connection()
    return 0


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
ping = Component(name="ping", main=run_rally, ready="notify")
pong = Component(name="pong", main=run_rally, ready="notify")
hostile = Component(name="hostile", main=run_hostile, ready="notify")
gush = Component(name="gush", main=run_gush, ready="notify")
driverless = Component(name="driverless", main=run_driverless, ready="notify", restart="never")
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
