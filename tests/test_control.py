"""The control socket under hostile input, load and resource shortage, and its clients' bounds.

No input, load or resource shortage may end the Administrator (issue 13). A
real ``oservices up`` runs components of ``tests/programs``; requests are
sent as raw bytes, the way a buggy or hostile client would. After each
attack, ``oservices status`` must still answer and every component must still
run, with the same process. The parts that need a reply bigger than a socket
buffer, or a dispatch that fails, drive a :class:`ControlServer` on its own
loop.

Every process a test starts carries a token of its own in its environment;
the end of each test kills whatever still carries it.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
from _loop import looping
from _processes import TOKEN, carrying, wait_for
from _run import environ, oservices_in
from _up import PROGRAMS, Up
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oservices_core._supervisor import control as _control
from oservices_core._supervisor.control import (
    MAX_CONNECTIONS,
    MAX_REQUEST,
    ControlServer,
    socket_path,
)
from oservices_core._supervisor.loop import Loop
from oservices_core._supervisor.procutil import connect_unix

COMPONENTS = ["obedient", "forker"]


class Running(Up):
    """``oservices up`` in the foreground, in its own home, as the control tests look at it."""

    def __init__(self, home: Path, components: list[str]) -> None:
        super().__init__(home, components, [])
        self.socket = socket_path(home / "run")

    @property
    def pid(self) -> int:
        return self.process.pid

    def statuses(self) -> dict[str, dict[str, Any]]:
        result = self.cli("status", "--json")
        assert "Traceback" not in result.stderr, result.stderr
        if result.returncode not in (0, 3):
            return {}
        return {s["name"]: s for s in json.loads(result.stdout)}

    def wait_healthy(self, timeout: float = 60) -> dict[str, dict[str, Any]]:
        def healthy() -> dict[str, dict[str, Any]] | None:
            assert self.process.poll() is None, self.log()
            found = self.statuses()
            ready = found and all(s["state"] == "RUNNING" and s["ready"] for s in found.values())
            return found if ready else None

        return wait_for(healthy, timeout, lambda: f"every component ready\n{self.log()}")  # type: ignore[no-any-return]  # statuses

    def assert_unharmed(self, before: dict[str, dict[str, Any]]) -> None:
        """Alive, answering, every component running with the process it had."""
        assert self.process.poll() is None, self.log()
        after = self.wait_healthy(timeout=30)
        assert {n: s["pid"] for n, s in after.items()} == {n: s["pid"] for n, s in before.items()}
        assert "Traceback" not in self.log(), self.log()

    def cpu(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system

    def finish(self) -> None:
        if self.process.poll() is None:  # a test may have left it stopped
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
        super().finish()


@pytest.fixture
def up(home: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(components: list[str] = COMPONENTS) -> Running:
        started.append(Running(home, components))
        return started[-1]

    yield start
    for running in started:
        running.finish()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, dict[str, Any]]]:
    """One Administrator for the tests that must leave it as they found it."""
    running = Running(tmp_path_factory.mktemp("control"), COMPONENTS)
    try:
        yield running, running.wait_healthy()
    finally:
        running.finish()


def _connect(path: Path, timeout: float = 10.0) -> socket.socket:
    return connect_unix(path, timeout)


def _exchange(path: Path, data: bytes, *, close_write: bool = False) -> dict[str, Any] | None:
    """Send ``data`` on a fresh connection; the answer line, or None when there is none."""
    with _connect(path) as sock:
        with contextlib.suppress(OSError):  # it may answer and close before all is sent
            sock.sendall(data)
            if close_write:
                sock.shutdown(socket.SHUT_WR)
        answer = _read_line(sock)
    return json.loads(answer) if answer else None


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    with contextlib.suppress(OSError):
        while not chunks or not chunks[-1].endswith(b"\n"):
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


# Hostile requests -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"[" * 60000 + b"\n", "nested deeper"),  # ended the Administrator with RecursionError
        (b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"\n", "nested deeper"),
        (b'{"command": []}\n', "command must be"),  # unhashable: a TypeError once
        (b'{"command": {"x": 1}}\n', "command must be"),
        (b'{"command": "stop", "name": ["obedient"]}\n', "no component"),
        (b"\xff\xfe\xfd\n", "not UTF-8"),
        (b'{"command": "\xed\xa0\x80"}\n', "not UTF-8"),  # an encoded surrogate
        (b"1" * 20000 + b"\n", "not JSON"),  # an integer too long to convert
        (b"{" + b" " * (MAX_REQUEST + 10), "larger than"),  # no newline at all
        (b'{"command": "status", "' + b"k" * 50000 + b'": 1}\n', "unknown keys"),
        (b"\n", "not JSON"),
    ],
)
def test_hostile_requests_get_an_error_and_change_nothing(
    shared: tuple[Running, dict[str, Any]], data: bytes, error: str
) -> None:
    running, before = shared
    answer = _exchange(running.socket, data)
    assert answer is not None, running.log()
    assert answer["ok"] is False
    assert error in answer["error"]
    assert len(answer["error"]) < 1000  # what the client sent is not echoed in full
    running.assert_unharmed(before)


def test_a_request_without_newline_is_answered_at_end_of_input(
    shared: tuple[Running, dict[str, Any]],
) -> None:
    running, before = shared
    answer = _exchange(running.socket, b'{"command": "status"}', close_write=True)
    assert answer is not None
    assert answer["ok"] is True
    assert [s["name"] for s in answer["result"]] == COMPONENTS
    running.assert_unharmed(before)


def test_half_open_clients_do_not_block_others_and_are_dropped(
    shared: tuple[Running, dict[str, Any]],
) -> None:
    running, before = shared
    held = []
    for index in range(MAX_CONNECTIONS + 40):  # past the cap: the oldest make room
        sock = _connect(running.socket)
        if index % 2:
            sock.sendall(b'{"command": "status"')  # and no newline, ever
        held.append(sock)
    try:
        started = time.monotonic()
        answer = _exchange(running.socket, b'{"command": "status"}\n')
        assert answer is not None
        assert answer["ok"] is True
        assert time.monotonic() - started < 2.0
        result = running.cli("status")
        assert result.returncode == 0, result.stderr
        # Each one is closed by the Administrator: evicted, or after 5 s without a request.
        for sock in held:
            sock.settimeout(15)
            assert _read_line(sock) == b""
    finally:
        for sock in held:
            sock.close()
    running.assert_unharmed(before)


def test_many_concurrent_clients_all_get_their_answer(
    shared: tuple[Running, dict[str, Any]],
) -> None:
    running, before = shared
    idle = [_connect(running.socket) for _ in range(MAX_CONNECTIONS)]  # the cap, taken

    def ask(_: int) -> dict[str, Any] | None:
        return _exchange(running.socket, b'{"command": "status"}\n')

    try:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(ask, range(300)))
    finally:
        for sock in idle:
            sock.close()
    assert all(a is not None and a["ok"] for a in answers), [a for a in answers if not a]
    running.assert_unharmed(before)


# The property: whatever bytes come, the Administrator answers and carries on ---------

_SAFE_COMMANDS = ("status", "explode", "", "STATUS", "stop ")
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
_objects = st.fixed_dictionaries(
    {},
    optional={
        "command": st.sampled_from(_SAFE_COMMANDS) | _json_values,
        "name": st.sampled_from(["nobody", "obedient/../x", ""]) | _json_values,
        "extra": _json_values,
    },
).map(lambda body: json.dumps(body).encode())
_payloads = st.one_of(
    st.binary(max_size=4096),
    _objects,
    st.integers(1, 200_000).map(lambda n: b"[" * n),
    st.integers(1, 100_000).map(lambda n: b'{"command":' * n),
    st.integers(MAX_REQUEST - 2, 3 * MAX_REQUEST).map(lambda n: b"x" * n),
    st.binary(min_size=1, max_size=64).map(lambda b: b + b"\xc3\x28\xa0\xa1\xf0\x28\x8c\xbc"),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


def _harmless(data: bytes) -> bool:
    """Not a request that would really stop, restart, start or reload something."""
    try:
        body = json.loads(data.split(b"\n", 1)[0])
    except (ValueError, RecursionError):
        return True
    command = body.get("command") if isinstance(body, dict) else None
    return command not in ("stop", "start", "restart", "reload")


@pytest.fixture
def fuzzed(
    shared: tuple[Running, dict[str, Any]],
) -> Iterator[tuple[Running, list[socket.socket]]]:
    """The shared Administrator, and connections held open; afterwards it must be unharmed."""
    running, before = shared
    held: list[socket.socket] = []
    yield running, held
    for sock in held:
        sock.close()
    running.assert_unharmed(before)
    assert running.cli("status").returncode == 0


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    data=_payloads.filter(_harmless),
    how=st.sampled_from(["line", "close_write", "hold", "hang_up"]),
)
def test_fuzz_the_control_protocol(
    fuzzed: tuple[Running, list[socket.socket]], data: bytes, how: str
) -> None:
    running, held = fuzzed
    if how == "hold":  # send without ending the line, and keep the connection open
        sock = _connect(running.socket)
        with contextlib.suppress(OSError):
            sock.sendall(data[:MAX_REQUEST])
        held.append(sock)
        return
    if how == "hang_up":  # send part of it and leave
        with _connect(running.socket) as sock, contextlib.suppress(OSError):
            sock.sendall(data[: len(data) // 2])
        return
    if how == "line":
        answer = _exchange(running.socket, data + b"\n")
    else:  # the end of input ends the request
        answer = _exchange(running.socket, data, close_write=True)
        if not data:
            assert answer is None
            return
    assert answer is not None, (data[:100], how, running.log())
    assert set(answer) in ({"ok", "result"}, {"ok", "error"})
    if not answer["ok"]:
        assert isinstance(answer["error"], str)
        assert answer["error"]


# Replies that do not fit a socket buffer, failing dispatches, the cap ---------------


@contextlib.contextmanager
def _server(run_dir: Path, dispatch: _control.Dispatch) -> Iterator[ControlServer]:
    """A control server on a loop of its own, in a thread."""
    loop = Loop()
    server = ControlServer(loop, run_dir, {"obedient"}, dispatch)
    with looping(loop, server.close):
        yield server


def test_a_client_that_does_not_read_its_answer_blocks_no_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_control, "_WRITE_SECONDS", 1.0)
    big = "x" * (8 << 20)  # far more than a socket buffer holds

    def dispatch(command: str, name: str | None, reply: _control.Reply) -> None:
        reply({"ok": True, "result": big})

    with _server(tmp_path, dispatch) as server:
        path = socket_path(tmp_path)
        slow = _connect(path)
        slow.sendall(b'{"command": "status"}\n')  # and never reads
        time.sleep(0.2)
        started = time.monotonic()
        answer = _exchange(path, b'{"command": "status"}\n')
        elapsed = time.monotonic() - started
        assert answer == {"ok": True, "result": big}
        assert elapsed < 1.0, "the loop waited for the slow reader"
        # The slow reader is dropped once its time to read is over.
        wait_for(lambda: not server._connections, 10, "the slow reader to be dropped")
        slow.close()


def test_a_failing_dispatch_is_an_error_answer(tmp_path: Path) -> None:
    def dispatch(command: str, name: str | None, reply: _control.Reply) -> None:
        raise RuntimeError("a bug")

    with _server(tmp_path, dispatch):
        answer = _exchange(socket_path(tmp_path), b'{"command": "status"}\n')
        assert answer == {"ok": False, "error": "internal error: RuntimeError('a bug')"}
        answer = _exchange(socket_path(tmp_path), b'{"command": "status"}\n')
        assert answer is not None  # still serving


def test_open_connections_are_capped(tmp_path: Path) -> None:
    waiting: list[_control.Reply] = []

    def dispatch(command: str, name: str | None, reply: _control.Reply) -> None:
        waiting.append(reply)  # answered later, like 'stop NAME'

    with _server(tmp_path, dispatch) as server:
        path = socket_path(tmp_path)
        busy = []
        for _ in range(MAX_CONNECTIONS):
            sock = _connect(path)
            sock.sendall(b'{"command": "status"}\n')
            busy.append(sock)
        wait_for(lambda: len(waiting) == MAX_CONNECTIONS, 10, "every request to be dispatched")
        # Every slot waits for its answer: a new client is refused at once, with a reason.
        refused = _exchange(path, b'{"command": "status"}\n')
        assert refused is not None
        assert f"{MAX_CONNECTIONS} connections open" in refused["error"]
        assert server.loop.submit(lambda: len(server._connections)).result(5) == MAX_CONNECTIONS
        for sock in busy:
            sock.close()
        server.loop.submit(lambda: [reply({"ok": True}) for reply in waiting]).result(5)
        wait_for(lambda: not server._connections, 10, "the answered connections to close")


# Out of file descriptors ------------------------------------------------------------


def _open_fds(pid: int) -> int:
    return psutil.Process(pid).num_fds()


def test_out_of_file_descriptors_does_not_end_the_administrator(
    up: Callable[..., Running],
) -> None:
    running = up()
    before = running.wait_healthy()
    administrator = psutil.Process(running.pid)
    limits = administrator.rlimit(resource.RLIMIT_NOFILE)
    held: list[socket.socket] = []
    try:
        # A little room: connections fill it, then accept() meets EMFILE; the oldest
        # connection that has not sent a request makes room for the next one.
        base = _open_fds(running.pid)
        administrator.rlimit(resource.RLIMIT_NOFILE, (base + 4, limits[1]))
        held += [_connect(running.socket) for _ in range(40)]
        wait_for(lambda: _open_fds(running.pid) >= base + 3, 10, "every descriptor to be taken")
        cpu = running.cpu()
        time.sleep(1.0)
        assert running.cpu() - cpu < 0.5, "it spins"
        answer = _exchange(running.socket, b'{"command": "status"}\n')
        assert answer is not None
        assert answer["ok"] is True

        # No room at all, and no connection of its own to give up: the spare descriptor
        # lets it tell one client so; it pauses accepting, and lives.
        for sock in held:
            sock.close()
        held.clear()
        wait_for(lambda: _open_fds(running.pid) <= base, 15, "the connections to close")
        administrator.rlimit(resource.RLIMIT_NOFILE, (_open_fds(running.pid), limits[1]))
        result = running.cli("status", "--timeout", "3")
        assert result.returncode == 2, result.stdout
        assert "Traceback" not in result.stderr
        assert "short of resources (Too many open files)" in result.stderr, result.stderr
        waiting = [_connect(running.socket) for _ in range(5)]  # queued, not accepted
        held += waiting
        time.sleep(0.5)
        cpu = running.cpu()
        time.sleep(1.0)
        assert running.cpu() - cpu < 0.5, "it spins"
        assert running.process.poll() is None
    finally:
        for sock in held:
            sock.close()
        administrator.rlimit(resource.RLIMIT_NOFILE, limits)
    running.assert_unharmed(before)


# Clients: bounded, and clear ---------------------------------------------------------


def test_a_stopped_administrator_makes_status_fail_fast_and_say_why(
    up: Callable[..., Running],
) -> None:
    running = up(["obedient"])
    before = running.wait_healthy()
    os.kill(running.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        result = running.cli("status")
        elapsed = time.monotonic() - started
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert f"the Administrator (pid {running.pid}) did not answer 'status'" in result.stderr
        assert f"kill -CONT {running.pid}" in result.stderr
        assert elapsed < 10.0
    finally:
        os.kill(running.pid, signal.SIGCONT)
    running.assert_unharmed(before)


def test_an_administrator_that_never_answers_times_out(home: Path) -> None:
    run_dir = home / "run"
    run_dir.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX) as frozen:  # listens, never accepts: a hung loop
        frozen.bind(str(socket_path(run_dir)))
        frozen.listen(8)
        started = time.monotonic()
        result = oservices_in(home, "status", "--timeout", "1")
        elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert f"(pid {os.getpid()}) did not answer 'status' within 1s" in result.stderr
    assert elapsed < 8.0


def test_a_full_listen_queue_is_retried_then_reported(home: Path) -> None:
    run_dir = home / "run"
    run_dir.mkdir(mode=0o700)
    path = socket_path(run_dir)
    queued = []
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen(0)
        with contextlib.suppress(BlockingIOError):
            for _ in range(64):
                sock = socket.socket(socket.AF_UNIX)
                queued.append(sock)
                sock.setblocking(False)
                sock.connect(str(path))
        result = oservices_in(home, "status", "--timeout", "1")
        for sock in queued:
            sock.close()
    assert result.returncode == 2
    assert "did not accept the connection within 1s" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["directory", "file"])
@pytest.mark.parametrize("command", [["status"], ["stop"], ["restart", "obedient"]])
def test_something_else_at_the_socket_path_is_named(
    home: Path, kind: str, command: list[str]
) -> None:
    path = socket_path(home / "run")
    path.parent.mkdir()
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text("not a socket\n")
    result = oservices_in(home, *command)
    assert result.returncode == 2
    assert f"{path} is a {'directory' if kind == 'directory' else 'regular file'}" in (
        result.stderr
    )
    assert "move or remove it" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_refuses_a_directory_at_the_socket_path(home: Path) -> None:
    path = socket_path(home / "run")
    path.mkdir(parents=True)
    (home / "system.toml").write_text('components = ["obedient"]\n')
    token = uuid.uuid4().hex
    try:
        result = oservices_in(home, "up", env={"PYTHONPATH": str(PROGRAMS), TOKEN: token})
        assert result.returncode == 2
        assert f"{path} is a directory, not a socket" in result.stderr
        assert "Traceback" not in result.stderr
        assert path.is_dir()  # nothing of the user's is removed
        wait_for(lambda: not carrying(token), 15, "the template to go")
    finally:
        for process in carrying(token):
            process.kill()


def test_stop_all_waits_a_bounded_time(up: Callable[..., Running]) -> None:
    running = up(["obedient", "slowstop"])  # slowstop ignores SIGTERM for 60 s
    running.wait_healthy()
    started = time.monotonic()
    result = running.cli("stop", "--timeout", "1")
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert f"the Administrator (pid {running.pid}) is still stopping after 1s" in result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 8.0
    assert running.process.poll() is None


# logs takes names, not paths --------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "../../x", ".x", "a/b", "X", ""])
@pytest.mark.parametrize("follow", [[], ["-f"]])
def test_logs_accepts_only_component_names(home: Path, name: str, follow: list[str]) -> None:
    (home / "log").mkdir()
    (home / "x.log").write_text("a secret outside LOG_DIR\n")
    result = oservices_in(home, "logs", *follow, name)
    assert result.returncode == 2
    assert "a secret" not in result.stdout
    assert "command line: component name: expected lower-case letters" in result.stderr
    assert repr(name) in result.stderr


# A light status ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (["status"], 2),
        (["status", "obedient"], 2),
        (["stop"], 0),  # nothing to stop: idempotent
        (["stop", "obedient", "dependent"], 0),
        (["start", "obedient"], 2),
        (["restart", "obedient"], 2),
        (["logs", "obedient"], 2),
    ],
)
def test_running_commands_do_not_import_pydantic(home: Path, command: list[str], code: int) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "oservices_core", *command],
        cwd=home,
        env=environ(home),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == code  # no Administrator, no log
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] in ("pydantic", "pydantic_settings")}


def test_an_unusual_source_falls_back_to_the_settings(home: Path) -> None:
    (home / ".env").write_text('export OSERVICES_RUN_DIR="elsewhere/run"\n')
    result = oservices_in(home, "status")
    assert result.returncode == 2
    assert f"no Administrator is running for {home / 'elsewhere' / 'run'}" in result.stderr


def test_status_figures_cover_the_process_tree(up: Callable[..., Running]) -> None:
    running = up(["forker"])  # two children, each with a child of its own
    forker = running.wait_healthy()["forker"]
    leader = psutil.Process(forker["pid"])
    # Ready once its children are forked; their own children may come a moment later.
    wait_for(lambda: len(leader.children(recursive=True)) == 4, 10, "the forker's grandchildren")
    tree = [leader, *leader.children(recursive=True)]
    expected = sum(p.memory_info().rss for p in tree)
    time.sleep(1.1)  # past the cached figures
    memory = running.statuses()["forker"]["memory"]
    assert 0.8 * expected < memory < 1.25 * expected


def test_the_process_tree_is_found_without_scanning_proc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from oservices_core._supervisor import instance as _instance
    from oservices_core._supervisor.procutil import process_tree

    def scan(*args: object) -> None:
        raise AssertionError("a scan of every process")

    shell = subprocess.Popen(
        ["/bin/sh", "-c", "sleep 60 & (sleep 60 & wait) & wait"], start_new_session=True
    )
    try:
        leader = psutil.Process(shell.pid)
        wait_for(lambda: len(leader.children(recursive=True)) == 3, 10, "the shell's children")
        expected = {shell.pid, *(p.pid for p in leader.children(recursive=True))}
        monkeypatch.setattr(psutil, "pids", scan)
        monkeypatch.setattr(psutil, "process_iter", scan)
        monkeypatch.setattr(psutil._pslinux, "ppid_map", scan)
        assert set(process_tree(shell.pid)) == expected
        assert process_tree(shell.pid)[0] == shell.pid
        cpu, memory, seconds = _instance._usage(shell.pid)
        assert seconds is not None
        assert cpu is not None
        assert memory == pytest.approx(
            sum(psutil.Process(pid).memory_info().rss for pid in expected), rel=0.2
        )
        assert process_tree(2**22 + 1) == [2**22 + 1]  # no such process: just itself
    finally:
        os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()


def test_figures_are_read_at_most_once_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    from oservices_core import Component
    from oservices_core._supervisor import instance as _instance

    reads: list[int] = []

    def usage(pid: int) -> tuple[float, int, float]:
        reads.append(pid)
        return 1.0, 2, 3.0

    monkeypatch.setattr(_instance, "_usage", usage)
    instance = _instance.Instance(Component(name="figures", main="os:getpid"))
    assert instance.status().memory is None  # no process: nothing read
    instance.pid = os.getpid()
    for _ in range(100):
        assert instance.status().memory == 2
    assert reads == [os.getpid()]
    instance.pid = os.getppid()  # another process: read at once
    instance.status()
    monkeypatch.setattr(_instance, "USAGE_SECONDS", 0.0)
    instance.status()
    assert reads == [os.getpid(), os.getppid(), os.getppid()]
