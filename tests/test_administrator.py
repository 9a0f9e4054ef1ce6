"""The Administrator from code, and its parts: policies, order, control requests, logs."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Literal

import psutil
import pytest

from oservices_core import (
    Administrator,
    Component,
    Configuration,
    ConfigurationError,
    Readiness,
    Restart,
    Settings,
    System,
    get_plugin_manager,
    hookimpl,
    notify_ready,
)
from oservices_core._errors import AdministratorError, NotFoundError
from oservices_core._plugins.policy import parse_signal, reachable
from oservices_core._plugins.registry import Registry
from oservices_core._supervisor.control import parse_request
from oservices_core._supervisor.logfiles import RotatingLog, follow, log_path, tail
from oservices_core._supervisor.loop import Loop
from oservices_core._supervisor.notify import NotifyListener
from oservices_core._supervisor.template import NAME as TEMPLATE_NAME

PROGRAMS = Path(__file__).resolve().parent / "programs"


# Policies ---------------------------------------------------------------------


def test_restart_policies_decide_by_exit_status() -> None:
    on_failure = Restart()
    assert not on_failure.wants_restart(0)
    assert on_failure.wants_restart(1)
    assert on_failure.wants_restart(-signal.SIGKILL)
    assert Restart(policy="always").wants_restart(0)
    assert not Restart(policy="never").wants_restart(1)
    custom = Restart(success_codes=(0, 3))
    assert custom.succeeded(3)
    assert not custom.succeeded(-3), "a signal is never success"


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = Restart(backoff=0.5, backoff_max=3)
    assert [policy.delay(n) for n in range(6)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"policy": "sometimes"}, "restart.policy"),
        ({"backoff": 5, "backoff_max": 1}, "restart.backoff"),
        ({"max_failures": 0}, "restart.max_failures"),
    ],
)
def test_bad_restart_policies_are_located(values: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Restart(**values)  # type: ignore[arg-type]  # wrong on purpose
    assert caught.value.problems[0].key == key


def test_readiness_strings() -> None:
    assert Readiness.parse(None).kind == "none"
    assert Readiness.parse("notify") == Readiness("notify")
    assert Readiness.parse("tcp") == Readiness("tcp", "port")
    assert str(Readiness.parse("tcp:8000")) == "tcp:8000"
    log = Readiness.parse("log:listening on \\d+")
    assert log.pattern is not None
    assert log.pattern.search("listening on 80")
    for bad in ("notify:x", "log:", "log:(", "http"):
        with pytest.raises(ConfigurationError, match="ready"):
            Readiness.parse(bad, "component 'x' declaration")


def test_stop_signals_by_name_or_number() -> None:
    assert parse_signal("TERM") is signal.SIGTERM
    assert parse_signal("sigint") is signal.SIGINT
    assert parse_signal(9) is signal.SIGKILL
    with pytest.raises(ConfigurationError, match="stop_signal"):
        parse_signal("SIGNOPE")


@pytest.mark.parametrize(
    ("values", "key"),
    [({"stop_timeout": 0}, "stop_timeout"), ({"spawn": "thread"}, "spawn")],
)
def test_bad_run_declarations(values: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Component(name="x", **values)  # type: ignore[arg-type]  # wrong on purpose
    assert caught.value.problems[0].key == key


# Order and declarations ---------------------------------------------------------


def _system(*components: Component) -> System:
    """A system of components declared here, for order checks (no processes)."""
    registry = Registry(get_plugin_manager(entry_points=[]))
    registry.components = {c.name: c for c in components}
    return System(registry, components=[c.name for c in components])


def test_start_order_follows_dependencies(settings: Settings) -> None:
    system = _system(
        Component(name="api", depends_on=["db", "cache"]),
        Component(name="cache", depends_on=["db"]),
        Component(name="db"),
    )
    assert system.start_order() == ["db", "cache", "api"]


def test_a_dependency_cycle_is_named(settings: Settings) -> None:
    system = _system(Component(name="a", depends_on=["b"]), Component(name="b", depends_on=["a"]))
    with pytest.raises(ConfigurationError, match="a -> b -> a"):
        system.check()


def test_a_missing_dependency_is_named(settings: Settings) -> None:
    system = _system(Component(name="a", depends_on=["ghost"]))
    wording = r"a\.depends_on: expected a component of the system, found 'ghost'"
    with pytest.raises(ConfigurationError, match=wording):
        system.check()


def test_tcp_readiness_must_name_a_configuration_field(settings: Settings) -> None:
    class Conf(Configuration):
        listen: int = 1

    system = _system(Component(name="web", configuration=Conf, ready="tcp"))
    with pytest.raises(ConfigurationError) as caught:
        system.check()
    assert "listen" in str(caught.value)
    _system(Component(name="web", configuration=Conf, ready="tcp:listen")).check()


class _Failing:
    """A plugin whose lifecycle hooks raise."""

    @staticmethod
    @hookimpl
    def oservices_component_ready(component: Component, pid: int) -> None:
        raise RuntimeError(f"bees in {component.name} {pid}")


def test_a_failing_lifecycle_hook_is_an_event_not_a_stop(settings: Settings) -> None:
    system = _system(Component(name="web"))
    system.registry.plugin_manager.register(_Failing(), name="failing")
    events: list[tuple[str, str]] = []
    admin = Administrator(
        system, settings=settings, control=False, on_event=lambda *e: events.append(e)
    )
    admin._hook(admin._hooks.component_ready, component=system.components["web"], pid=7)
    assert events == [
        ("administrator", "hook oservices_component_ready failed: RuntimeError('bees in web 7')")
    ]


# Control requests ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"{", "not JSON"),
        (b"\xff", "not JSON"),
        (b"[1]", "JSON object"),
        (b'{"command": "status", "extra": 1}', "unknown keys"),
        (b'{"command": "explode"}', "command must be one of"),
        (b'{"command": "restart"}', "needs a component name"),
        (b'{"command": "stop", "name": "ghost"}', "no component 'ghost'"),
        (b'{"command": "stop", "name": 3}', "no component 3"),
        (b"{" + b" " * 70000 + b"}", "larger than"),
    ],
)
def test_bad_control_requests_say_what_is_wrong(line: bytes, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_request(line, {"api"})


def test_good_control_requests() -> None:
    request = parse_request(b'{"command": "restart", "name": "api"}', {"api"})
    assert (request.command, request.name) == ("restart", "api")
    assert parse_request(b'{"command": "status"}', {"api"}).name is None


# Logs ----------------------------------------------------------------------------


def test_logs_rotate_by_size(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "api.log", max_bytes=10, backups=2)
    for chunk in (b"12345\n", b"67890\n", b"abcde\n", b"fghij\n"):
        log.write(chunk)
    log.close()
    assert (tmp_path / "api.log").read_bytes() == b"fghij\n"
    assert (tmp_path / "api.log.1").read_bytes() == b"abcde\n"
    assert (tmp_path / "api.log.2").read_bytes() == b"67890\n"
    assert not (tmp_path / "api.log.3").exists(), "only two backups are kept"


def test_tail_gives_the_last_lines_and_where_they_end(tmp_path: Path) -> None:
    path = tmp_path / "api.log"
    path.write_bytes(b"a\nb\nc\n")
    assert tail(path, 2) == (b"b\nc\n", 6)
    assert tail(path, -1) == (b"a\nb\nc\n", 6)
    assert tail(path, 0) == (b"", 6)
    assert tail(tmp_path / "none.log", 3) == (b"", 0)


def test_follow_reads_new_data_across_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "api.log"
    path.write_bytes(b"old\n")
    log = RotatingLog(path, max_bytes=12, backups=1)
    seen: list[bytes] = []
    done = threading.Event()

    def reader() -> None:
        for data in follow(path, offset=4, interval=0.01, running=lambda: not done.is_set()):
            seen.append(data)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for line in (b"one\n", b"two\n", b"three\n", b"four\n"):
            log.write(line)
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        while b"".join(seen) != b"one\ntwo\nthree\nfour\n" and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        done.set()
        thread.join()
        log.close()
    assert b"".join(seen) == b"one\ntwo\nthree\nfour\n"


# Loop and notify -------------------------------------------------------------------


def test_loop_runs_timers_in_order_and_calls_from_threads() -> None:
    loop = Loop()
    ran: list[str] = []
    loop.call_later(0.02, lambda: ran.append("late"))
    cancelled = loop.call_later(0.01, lambda: ran.append("cancelled"))
    loop.call_later(0.0, lambda: ran.append("early"))
    loop.cancel(cancelled)
    future = loop.submit(lambda: 42)
    failing = loop.submit(lambda: 1 / 0)
    deadline = time.monotonic() + 5
    while len(ran) < 2 and time.monotonic() < deadline:
        loop.run_once()
    loop.close()
    assert ran == ["early", "late"]
    assert future.result() == 42
    with pytest.raises(ZeroDivisionError):
        failing.result()


def test_notify_reaches_the_listener_with_the_senders_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    listener = NotifyListener("test" + str(os.getpid()))
    try:
        assert notify_ready() is False or os.environ.get("NOTIFY_SOCKET")
        monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
        assert notify_ready("serving")
        listener.sock.settimeout(5)
        listener.sock.setblocking(True)
        received = listener.receive()
    finally:
        listener.close()
    assert received == (os.getpid(), {"READY": "1", "STATUS": "serving"})


def test_notify_without_a_listener_is_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify_ready() is False
    monkeypatch.setenv("NOTIFY_SOCKET", "@oservices-nobody-listens-here")
    assert notify_ready() is False


# The Python API, with real processes ---------------------------------------------------


@pytest.fixture
def programs(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> System:
    """The fixture programs, installed through the import path here and in children."""
    monkeypatch.syspath_prepend(str(PROGRAMS))
    monkeypatch.setenv("PYTHONPATH", str(PROGRAMS))
    registry = Registry(get_plugin_manager())
    return System(registry, components=["obedient", "dependent", "crashloop"])


def test_the_administrator_from_code(programs: System, settings: Settings) -> None:
    events: list[tuple[str, str]] = []
    with Administrator(programs, settings=settings, on_event=lambda *e: events.append(e)) as admin:
        admin.wait_ready(["obedient", "dependent"])
        statuses = {s.name: s for s in admin.status()}
        assert statuses["obedient"].healthy
        first = statuses["dependent"].pid
        assert first is not None

        admin.restart("dependent")
        admin.wait_ready(["dependent"])
        assert {s.name: s for s in admin.status()}["dependent"].pid != first

        admin.stop("obedient")
        assert {s.name: s for s in admin.status()}["obedient"].state == "STOPPED"
        deadline = time.monotonic() + 30
        while admin.status()[-1].state != "FATAL" and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(AdministratorError, match="crashloop is FATAL: 3 failures"):
            admin.wait_ready(["crashloop"])
        with pytest.raises(NotFoundError, match="no component 'ghost'"):
            admin.stop("ghost")
        assert admin.reload() == []
    assert all(s.state in ("STOPPED", "FATAL") for s in admin.status())
    assert ("dependent", "ready") in events
    assert not (settings.run_dir / "oservices.sock").exists()
    assert json.loads(json.dumps(admin.status()[0].as_dict()))["name"] == "obedient"


def test_a_ready_sent_before_the_spawn_is_known_still_counts(
    programs: System, settings: Settings
) -> None:
    """The order a fast component can produce: its READY=1 reaches the
    Administrator before the template's word that it was spawned."""
    events: list[tuple[str, str]] = []
    admin = Administrator(
        programs, settings=settings, control=False, on_event=lambda *e: events.append(e)
    )
    admin._notify = NotifyListener(admin.token)  # what start() would open
    instance = admin.instances["obedient"]
    instance.state = "STARTING"  # as _spawn leaves it
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a component leading its own group, as the template makes it
        os.setpgid(0, 0)
        os.environ["NOTIFY_SOCKET"] = admin._notify.address
        notify_ready()
        os.write(ready_w, b"x")
        time.sleep(60)
        os._exit(0)
    try:
        os.read(ready_r, 1)  # sent: the datagram is queued on the listener
        admin._on_notify()
        assert not instance.ready, "not yet: nothing is known of this process"
        admin._on_spawned(instance, pid)
        assert instance.ready
        assert instance.state == "RUNNING"
        assert ("obedient", "ready") in events
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(ready_r)
        os.close(ready_w)
        admin._notify.close()


def _template() -> psutil.Process:
    (template,) = [p for p in psutil.Process().children() if p.name() == TEMPLATE_NAME]
    return template


def test_a_forked_template_lets_go_of_the_callers_state(
    programs: System, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    with Administrator(programs, settings=settings, template="fork") as admin:
        admin.wait_ready(["obedient"])
        # Forked: it shares the caller's command line (and its imports).
        assert _template().cmdline() == psutil.Process().cmdline()
        server.close()
        # Neither the template nor a component holds the caller's listening socket.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    # capsys replaced sys.stdout by an object in memory: the component wrote to
    # its own standard output, which is its log file, not to that object.
    assert "obedient: " in log_path(settings.log_dir, "obedient").read_text()
    assert "obedient: " not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("template", "threaded"), [("exec", False), ("fork", True)], ids=["by-default", "threads"]
)
def test_the_template_is_a_fresh_interpreter(
    programs: System, settings: Settings, template: Literal["exec", "fork"], threaded: bool
) -> None:
    release = threading.Event()
    waiting = threading.Thread(target=release.wait)
    if threaded:  # a lock another thread holds at a fork would stay held in the child
        waiting.start()
    try:
        with Administrator(programs, settings=settings, template=template) as admin:
            admin.wait_ready(["obedient"])
            assert "oservices_core._supervisor.template" in _template().cmdline()
    finally:
        release.set()
        if threaded:
            waiting.join()


def test_an_unknown_template_kind_is_refused(programs: System, settings: Settings) -> None:
    expected = "template: expected 'exec' or 'fork', found 'spawn'"
    with pytest.raises(ConfigurationError, match=expected):
        Administrator(programs, settings=settings, template="spawn")  # type: ignore[arg-type]  # wrong on purpose


@pytest.mark.parametrize(
    ("bound", "reached"),
    [("0.0.0.0", "127.0.0.1"), ("", "127.0.0.1"), ("::", "::1"), ("10.1.2.3", "10.1.2.3")],  # noqa: S104 - addresses compared, not bound
)
def test_a_wildcard_address_is_reached_on_loopback(bound: str, reached: str) -> None:
    assert reachable(bound) == reached
