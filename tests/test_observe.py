"""The Administrator's HTTP endpoint (issue 16): metrics, status, events, the page, control,
its token, and its containment under hostile input.

A real ``oservices up`` serves it (``OSERVICES_ADMIN_HTTP``, or ``--http``); the
tests find it as a user does, with ``oservices ui``, and talk to it over TCP.
After each attack, the endpoint and ``oservices status`` still answer and every
component still runs with the same process. The bounds that need a client
that never reads drive an :class:`HttpServer` on a loop of its own.

Prometheus scraping it is ``test_observe_prometheus.py``; the page in a real
browser, ``test_observe_browser.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
from _http import LOOPBACK, Endpoint, endpoint, read_all, status_of
from _loop import looping
from _processes import wait_for
from _run import environ, oservices_in
from _up import PROGRAMS, Up
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from test_control import Running, _harmless, _payloads

from oservices_core._config.settings import split_address
from oservices_core._supervisor.http import (
    MAX_CONNECTIONS,
    MAX_HEAD,
    MAX_STREAMS,
    TOKEN_FILE,
    URL_FILE,
    Backend,
    HttpServer,
    event_kind,
)
from oservices_core._supervisor.loop import Loop

COMPONENTS = ["obedient", "forker"]
VOLATILE = {"uptime", "cpu_percent", "memory"}  # they change between two looks
WRONG = "not-the-token"  # a wrong one, on purpose
ANY = "0.0.0.0"  # noqa: S104 - every interface: not loopback, so the token guards all


class Served(Running):
    """``oservices up`` serving HTTP, in its own home."""

    def __init__(self, home: Path, components: list[str], address: str = LOOPBACK) -> None:
        Up.__init__(self, home, components, [], OSERVICES_ADMIN_HTTP=address)
        self.socket = home / "run" / "oservices.sock"
        self.endpoint: Endpoint | None = None

    def http(self) -> Endpoint:
        if self.endpoint is None:
            self.endpoint = endpoint(self)
        return self.endpoint

    def assert_unharmed(self, before: dict[str, dict[str, Any]]) -> None:
        super().assert_unharmed(before)
        answer = self.http().request("/api/status")
        assert answer.status == 200
        assert [s["pid"] for s in answer.json()] == [before[n]["pid"] for n in COMPONENTS]


@pytest.fixture
def serve(home: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(components: list[str] = COMPONENTS, address: str = LOOPBACK) -> Served:
        started.append(Served(home, components, address))
        return started[-1]

    yield start
    for running in started:
        running.finish()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, Any]]]:
    """One Administrator for the tests that must leave it as they found it."""
    running = Served(tmp_path_factory.mktemp("observe"), COMPONENTS)
    try:
        before = running.wait_healthy()
        running.http()
        yield running, before
    finally:
        running.finish()


# What it serves -----------------------------------------------------------------------


def test_api_status_is_the_json_of_status(shared: tuple[Served, dict[str, Any]]) -> None:
    running, _ = shared
    served = running.http().request("/api/status")
    assert served.status == 200
    assert served.headers["Content-Type"] == "application/json"
    printed = json.loads(running.cli("status", "--json").stdout)

    def steady(statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in s.items() if k not in VOLATILE} for s in statuses]

    assert steady(served.json()) == steady(printed)
    assert [list(s) for s in served.json()] == [list(s) for s in printed]  # same keys, order


def test_metrics_name_every_component(shared: tuple[Served, dict[str, Any]]) -> None:
    running, before = shared
    answer = running.http().request("/metrics")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(answer.body.decode())}

    def values(family: str, **labels: str) -> dict[str, float]:
        return {
            s.labels["component"]: s.value
            for s in families[family].samples
            if s.name.startswith(family)
            and labels.items() <= s.labels.items()
            and not s.name.endswith("_created")
        }

    assert values("oservices_component_up") == dict.fromkeys(COMPONENTS, 1.0)
    assert values("oservices_component_ready") == dict.fromkeys(COMPONENTS, 1.0)
    assert values("oservices_component_restarts") == dict.fromkeys(COMPONENTS, 0.0)
    assert values("oservices_component_state", state="RUNNING") == dict.fromkeys(COMPONENTS, 1.0)
    assert values("oservices_component_state", state="FATAL") == dict.fromkeys(COMPONENTS, 0.0)
    assert values("oservices_component_log_write_errors") == dict.fromkeys(COMPONENTS, 0.0)
    assert set(values("oservices_component_cpu_seconds")) == set(COMPONENTS)
    memory = values("oservices_component_memory_bytes")
    assert all(memory[name] > 1_000_000 for name in COMPONENTS), memory
    # The Administrator's own process, by the client library's process collector.
    own = families["process_resident_memory_bytes"].samples[0].value
    assert own > 1_000_000
    assert families["process_open_fds"].samples[0].value > 0
    assert before  # unchanged: the shared Administrator is checked by later tests


def test_the_page_is_self_contained(shared: tuple[Served, dict[str, Any]]) -> None:
    running, _ = shared
    answer = running.http().request("/")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    page = answer.body.decode()
    # Nothing fetched from elsewhere: no source, link, import or URL but its own paths.
    assert not re.search(r"(src|href)\s*=", page), "the page loads an external resource"
    assert not re.search(r"https?://|@import|url\(", page)
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert running.http().request("/", method="HEAD").body == b""


def test_the_token_is_private_and_never_printed(shared: tuple[Served, dict[str, Any]]) -> None:
    running, _ = shared
    token_file = running.home / "run" / TOKEN_FILE
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().strip() == running.http().token
    assert running.http().url in running.log()  # ``up`` says where, without the token
    assert running.http().token not in running.log()
    logs = running.home / "log"
    assert not any(running.http().token in f.read_text(errors="replace") for f in logs.iterdir())


def test_logs_of_a_component_need_the_token(shared: tuple[Served, dict[str, Any]]) -> None:
    running, _ = shared
    http = running.http()
    assert http.request("/api/logs/obedient").status == 401
    answer = http.request("/api/logs/obedient?lines=5", token=http.token)
    assert answer.status == 200
    assert b"obedient: hello" in answer.body
    for path, status in [
        ("/api/logs/nobody", 404),
        ("/api/logs/..%2F..%2Fetc%2Fpasswd", 404),
        ("/api/logs/obedient?lines=0", 400),
        ("/api/logs/obedient?lines=99999999999999999999", 400),
        ("/api/logs/obedient?lines=%C2%B2", 400),
    ]:
        assert http.request(path, token=http.token).status == status, path


# The token ----------------------------------------------------------------------------


def test_control_actions_need_the_token(serve: Callable[..., Served]) -> None:
    running = serve()
    before = running.wait_healthy()
    http = running.http()
    restart = "/api/components/obedient/restart"
    assert http.request(restart, method="POST").status == 401
    assert http.request(restart, method="POST", token=WRONG).status == 403
    assert http.request(restart, method="POST", token=http.token + "x").status == 403
    # In the query it is no good for a control action: only a header, which no other
    # site's page can send.
    assert http.request(f"{restart}?token={http.token}", method="POST").status == 401
    other_site = {"Origin": "http://evil.example"}
    assert http.request(restart, method="POST", token=http.token, headers=other_site).status == 403
    assert http.request(restart, token=http.token).status == 405  # GET
    for path in ("/api/components/nobody/restart", "/api/components/obedient/reload"):
        assert http.request(path, method="POST", token=http.token).status == 404, path
    assert running.statuses()["obedient"]["pid"] == before["obedient"]["pid"]  # nothing done

    answer = http.request(restart, method="POST", token=http.token)
    assert answer.status == 200, answer.body
    assert answer.json() == {"ok": True, "result": None}
    after = running.wait_healthy()
    assert after["obedient"]["pid"] != before["obedient"]["pid"]
    assert after["forker"]["pid"] == before["forker"]["pid"]

    bearer = {"Authorization": f"Bearer {http.token}"}
    stop = http.request("/api/components/forker/stop", method="POST", headers=bearer)
    assert stop.status == 200
    assert running.statuses()["forker"]["state"] == "STOPPED"
    start = http.request("/api/components/forker/start", method="POST", headers=bearer)
    assert start.status == 200
    running.wait_healthy()


def test_another_host_name_is_refused_on_loopback(shared: tuple[Served, dict[str, Any]]) -> None:
    """A page whose DNS name points at 127.0.0.1 (rebinding) must not read the answers."""
    running, before = shared
    http = running.http()
    assert http.request("/api/status", headers={"Host": "evil.example"}).status == 403
    port = http.address[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        assert http.request("/api/status", headers={"Host": host}).status == 200, host
    running.assert_unharmed(before)


def test_a_non_loopback_address_needs_the_token_for_everything(
    serve: Callable[..., Served],
) -> None:
    running = serve(address=f"{ANY}:0")
    running.wait_healthy()
    http = running.http()
    assert http.url.startswith("http://127.0.0.1:")  # every interface: this machine's
    listening = [
        c.laddr
        for c in psutil.Process(running.pid).net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == http.address[1]
    ]
    assert [address.ip for address in listening] == [ANY]
    for path in ("/", "/metrics", "/api/status", "/api/events", "/api/logs/obedient"):
        assert http.request(path).status == 401, path
        assert http.request(path, token=WRONG).status == 403, path
    assert http.request("/metrics", headers={"Authorization": f"Bearer {http.token}"}).status == 200
    assert http.request(f"/api/status?token={http.token}").status == 200
    assert http.request("/", token=http.token).status == 200
    # Any host name: the token is what protects it.
    assert http.request("/api/status", token=http.token, headers={"Host": "x"}).status == 200


# Events -------------------------------------------------------------------------------


def _events(sock: socket.socket, until: Callable[[list[dict[str, Any]]], bool]) -> list[Any]:
    """Events read from an open stream until ``until`` holds for what came."""
    buffer = b""
    events: list[dict[str, Any]] = []
    while not until(events):
        chunk = sock.recv(65536)
        assert chunk, f"the stream ended; it had sent {buffer!r}"
        buffer += chunk
        *blocks, buffer = buffer.split(b"\n\n")
        for block in blocks:
            fields = dict(
                line.split(": ", 1) for line in block.decode().splitlines() if ": " in line
            )
            if "event" in fields:
                events.append({"event": fields["event"], **json.loads(fields["data"])})
    return events


def test_the_event_stream_delivers_a_restart(serve: Callable[..., Served]) -> None:
    running = serve()
    before = running.wait_healthy()
    http = running.http()
    with http.connect(timeout=60) as sock:
        host, port = http.address
        sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Content-Type: text/event-stream" in head
        result = running.cli("restart", "obedient")  # the command line's restart: same events
        assert result.returncode == 0, result.stderr

        def readied(events: list[dict[str, Any]]) -> bool:
            return any(e["event"] == "ready" for e in events)

        events = _events(sock, readied)
    kinds = [(e["component"], e["event"]) for e in events]
    assert kinds[0] == ("obedient", "restart"), kinds
    assert ("obedient", "exited") in kinds
    assert ("obedient", "starting") in kinds
    assert kinds[-1] == ("obedient", "ready")
    assert events[0]["message"] == "restart requested"
    assert running.wait_healthy()["obedient"]["pid"] != before["obedient"]["pid"]


def test_the_event_stream_delivers_a_reload(serve: Callable[..., Served]) -> None:
    running = serve()
    running.wait_healthy()
    http = running.http()
    with http.connect(timeout=60) as sock:
        sock.sendall(b"GET /api/events HTTP/1.0\r\n\r\n")
        assert sock.recv(15) == b"HTTP/1.1 200 OK"
        running.process.send_signal(signal.SIGHUP)  # what 'kill -HUP' does: reload

        def reloaded(events: list[dict[str, Any]]) -> bool:
            return any(e["event"] == "reload" for e in events)

        events = _events(sock, reloaded)
    assert events[-1]["component"] == "administrator"
    assert events[-1]["message"].startswith("reloaded; restarting nothing")


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("starting", "starting"),
        ("started, pid 12", "started"),
        ("ready", "ready"),
        ("exited with signal SIGTERM", "exited"),
        ("EXITED: exited with exit code 0", "exited"),
        ("restart requested", "restart"),
        ("restarting in 0.5s after exit code 1", "restart"),
        ("FATAL: 3 failures within 10s, last exit code 1; not restarted", "fatal"),
        ("stopping", "stop"),
        ("stopped", "stop"),
        ("reloaded; restarting obedient", "reload"),
        ("reload refused, nothing changed: bad file", "reload"),
        ("its output could not be written to x.log: No space left on device", "message"),
    ],
)
def test_each_event_has_its_kind(message: str, kind: str) -> None:
    assert event_kind(message) == kind


# Bad input: a clear error, never the Administrator's end ------------------------------


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD + 10) + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 100 + b"\r\n", 431),
        (b"GET /" + b"a" * (MAX_HEAD + 10), 431),  # a head that never ends
        (b"BREW /pot HTTP/1.1\r\n\r\n", 405),
        (b"BREW / HTTP/1.1\r\n\r\n", 405),
        (b"DELETE /api/status HTTP/1.1\r\n\r\n", 405),
        (b"G\xc3\x28T / HTTP/1.1\r\n\r\n", 400),  # invalid UTF-8 in the request line
        (b"GET /\xff\xfe HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX-\xff: \xc3\x28\r\n\r\n", 400),  # a header name that is no token
        (b"GET / HTTP/1.1\r\nUser-Agent: \xc3\x28\xa0\xa1\r\n\r\n", 200),  # any bytes in a value
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
        (b"GET\r\n\r\n", 400),
        (b"GET nothing HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"POST /api/components/obedient/restart HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc", 400),  # the body ends early
        (b"GET /?" + b"a=1&" * 100 + b" HTTP/1.1\r\n\r\n", 400),
        (b"\r\n\r\n", 400),
        (b"\x00\x01\x02\x03\n\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)), 400),  # TLS hello
    ],
)
def test_hostile_requests_get_an_error(
    shared: tuple[Served, dict[str, Any]], data: bytes, status: int
) -> None:
    running, before = shared
    answer = running.http().raw(data, close_write=True)
    assert status_of(answer) == status, answer[:300]
    body = answer.split(b"\r\n\r\n", 1)[1]
    if status != 200:
        assert len(body) < 1000  # what the client sent is not echoed in full
        assert json.loads(body)["ok"] is False
    running.assert_unharmed(before)


def test_slow_and_half_open_clients_are_dropped(shared: tuple[Served, dict[str, Any]]) -> None:
    running, before = shared
    http = running.http()
    held = []
    try:
        for index in range(MAX_CONNECTIONS + 40):  # past the cap: the oldest make room
            sock = http.connect()
            sock.sendall(b"GET / HTTP/1.1\r\nX-Slow: " if index % 2 else b"G")  # and no more
            held.append(sock)
        assert http.request("/api/status").status == 200  # the others wait: not this one
        assert running.cli("status").returncode == 0
        for sock in held:  # each one is closed: evicted, or once its time to send is up
            sock.settimeout(20)
            answer = read_all(sock)
            assert answer == b"" or status_of(answer) == 408
    finally:
        for sock in held:
            sock.close()
    running.assert_unharmed(before)


def test_many_concurrent_clients_all_get_their_answer(
    shared: tuple[Served, dict[str, Any]],
) -> None:
    running, before = shared
    http = running.http()
    idle = [http.connect() for _ in range(MAX_CONNECTIONS)]  # the cap, taken

    def ask(index: int) -> int:
        return http.request("/metrics" if index % 2 else "/api/status").status

    try:
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(ask, range(200)))
    finally:
        for sock in idle:
            sock.close()
    assert statuses == [200] * 200
    running.assert_unharmed(before)


def test_event_streams_are_capped(shared: tuple[Served, dict[str, Any]]) -> None:
    running, before = shared
    http = running.http()
    streams = []
    try:
        for _ in range(MAX_STREAMS):
            sock = http.connect()
            sock.sendall(b"GET /api/events HTTP/1.1\r\n\r\n")
            assert sock.recv(15) == b"HTTP/1.1 200 OK"
            streams.append(sock)
        assert status_of(http.raw(b"GET /api/events HTTP/1.1\r\n\r\n")) == 503
    finally:
        for sock in streams:
            sock.close()
    wait_for(
        lambda: status_of(http.raw(b"GET /api/events HTTP/1.0\r\n\r\n", close_write=True)) == 200,
        10,
        "a stream to be free again",
    )
    running.assert_unharmed(before)


# The control-protocol fuzz, over HTTP ---------------------------------------------------


def _as_http(data: bytes, how: str) -> bytes:
    """A payload of the control socket's fuzz, sent as part of an HTTP request."""
    if how == "body":
        head = f"POST /api/components/obedient/status HTTP/1.1\r\nContent-Length: {len(data)}\r\n"
        return head.encode() + b"\r\n" + data
    if how == "path":
        return b"GET /" + data[:2000] + b" HTTP/1.1\r\n\r\n"
    if how == "header":
        return b"GET /api/status HTTP/1.1\r\nX-Fuzz: " + data[:MAX_HEAD] + b"\r\n\r\n"
    return data  # "raw": instead of a request


@pytest.fixture
def fuzzed(shared: tuple[Served, dict[str, Any]]) -> Iterator[tuple[Served, list[socket.socket]]]:
    """The shared Administrator, and connections held open; afterwards it must be unharmed."""
    running, before = shared
    held: list[socket.socket] = []
    yield running, held
    for sock in held:
        sock.close()
    running.assert_unharmed(before)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    data=_payloads.filter(_harmless),
    how=st.sampled_from(["raw", "body", "path", "header"]),
    end=st.sampled_from(["close_write", "hold", "hang_up"]),
)
def test_fuzz_the_control_protocol_over_http(
    fuzzed: tuple[Served, list[socket.socket]], data: bytes, how: str, end: str
) -> None:
    running, held = fuzzed
    http = running.http()
    sent = _as_http(data, how)
    if end == "hold":  # and keep the connection open: it is dropped in time
        sock = http.connect()
        with contextlib.suppress(OSError):
            sock.sendall(sent[: MAX_HEAD * 2])
        held.append(sock)
        return
    if end == "hang_up":
        with http.connect() as sock, contextlib.suppress(OSError):
            sock.sendall(sent[: len(sent) // 2])
        return
    answer = http.raw(sent, close_write=True)
    if not sent:
        assert answer == b""
        return
    status = status_of(answer)
    assert status in (200, 400, 401, 404, 405, 411, 413, 431, 505), answer[:300]
    assert b"Traceback" not in answer


# Bounds that need a client that never reads: a server on a loop of its own --------------


def _backend(run_dir: Path, page: bytes) -> Backend:
    def dispatch(command: str, name: str | None, reply: Callable[[dict[str, Any]], None]) -> None:
        reply({"ok": True, "result": []})

    return Backend(
        dispatch=dispatch,
        names=lambda: {"obedient"},
        metrics=lambda: b"",
        log_file=lambda name: run_dir / f"{name}.log",
        page=lambda: page,
    )


@contextlib.contextmanager
def _server(run_dir: Path, page: bytes = b"<!doctype html>") -> Iterator[HttpServer]:
    loop = Loop()
    backend = _backend(run_dir, page)
    server = HttpServer(loop, "127.0.0.1", 0, run_dir, backend)
    with looping(loop, server.close):
        yield server
    assert not (run_dir / TOKEN_FILE).exists()


def test_an_event_stream_that_is_not_read_is_dropped(tmp_path: Path) -> None:
    with _server(tmp_path) as server:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the window opens
        slow.connect(("127.0.0.1", server.port))
        slow.sendall(b"GET /api/events HTTP/1.1\r\n\r\n")
        wait_for(lambda: server._streams, 10, "the stream to open")
        message = "x" * 16384
        sent = 0
        while server._streams and sent < 256 << 20:  # the kernel's buffers fill first
            server.loop.submit(lambda: server.publish("obedient", message)).result(10)
            sent += len(message)
        assert not server._streams, sent  # dropped once STREAM_BUFFER bytes waited for it
        assert sent < 64 << 20
        # The loop still serves others.
        with socket.create_connection(("127.0.0.1", server.port)) as other:
            other.sendall(b"GET /api/status HTTP/1.0\r\n\r\n")
            assert status_of(read_all(other)) == 200
        slow.close()


def test_a_client_that_does_not_read_its_answer_blocks_no_one(tmp_path: Path) -> None:
    page = b"x" * (8 << 20)  # more than the socket buffers hold
    with _server(tmp_path, page) as server:
        lazy = socket.create_connection(("127.0.0.1", server.port))
        lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        lazy.sendall(b"GET / HTTP/1.0\r\n\r\n")
        time.sleep(0.2)  # its answer is under way, and stuck
        with socket.create_connection(("127.0.0.1", server.port)) as other:
            other.sendall(b"GET /api/status HTTP/1.0\r\n\r\n")
            assert status_of(read_all(other)) == 200
        lazy.close()


# The command line ----------------------------------------------------------------------


def test_ui_says_when_nothing_serves_http(home: Path) -> None:
    result = oservices_in(home, "ui")
    assert result.returncode == 2
    assert "no Administrator serves HTTP" in result.stderr
    assert "oservices up --http" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("address", ["nonsense", "127.0.0.1:99999", "host:port", "a b:80", ":80"])
def test_a_bad_address_is_a_located_error(home: Path, address: str) -> None:
    (home / "system.toml").write_text('components = ["obedient"]\n')
    env = {"PYTHONPATH": str(PROGRAMS)}
    for args, where in (
        (["up", "--http", address], "admin_http"),
        (["up"], "OSERVICES_ADMIN_HTTP"),
    ):
        variables = env if args != ["up"] else {**env, "OSERVICES_ADMIN_HTTP": address}
        result = oservices_in(home, *args, env=variables)
        assert result.returncode == 2, result.stdout
        assert where in result.stderr
        assert "expected an address HOST:PORT" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (home / "run" / "oservices.sock").exists()


def test_a_taken_port_is_a_clear_error(home: Path) -> None:
    (home / "system.toml").write_text('components = ["obedient"]\n')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = oservices_in(
            home, "up", "--http", f"127.0.0.1:{port}", env={"PYTHONPATH": str(PROGRAMS)}
        )
    assert result.returncode == 2, result.stdout
    assert f"cannot serve HTTP on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_detached_passes_http_on(home: Path, detached: dict[str, str]) -> None:
    (home / "system.toml").write_text('components = ["obedient"]\n')
    result = oservices_in(home, "up", "-d", "--http", LOOPBACK, env=detached)
    assert result.returncode == 0, result.stderr
    printed = oservices_in(home, "ui", env=detached)
    assert printed.returncode == 0, printed.stderr
    url, _, token = printed.stdout.strip().partition("?token=")
    http = Endpoint(url, token)
    assert [s["name"] for s in http.request("/api/status").json()] == ["obedient"]
    assert oservices_in(home, "stop", env=detached).returncode == 0
    assert not (home / "run" / TOKEN_FILE).exists()
    assert oservices_in(home, "ui", env=detached).returncode == 2
    assert os.environ.get("OSERVICES_ADMIN_HTTP") is None  # nothing leaked into this process


def _imported(home: Path, *command: str) -> tuple[int, set[str]]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "oservices_core", *command],
        cwd=home,
        env=environ(home),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stderr.splitlines()
    return result.returncode, {line.split("|")[-1].strip() for line in lines if "|" in line}


@pytest.mark.parametrize(("command", "code"), [(["--help"], 0), (["ui"], 2), (["up", "--help"], 0)])
def test_the_command_line_does_not_load_the_metrics_library(
    home: Path, command: list[str], code: int
) -> None:
    returned, imported = _imported(home, *command)
    assert returned == code
    assert not {m for m in imported if m.split(".")[0] == "prometheus_client"}
    if command == ["ui"]:  # it reads two files, as status does: without pydantic
        assert not {m for m in imported if m.split(".")[0] == "pydantic"}


def test_out_of_file_descriptors_does_not_end_the_administrator(
    serve: Callable[..., Served],
) -> None:
    running = serve()
    before = running.wait_healthy()
    http = running.http()
    administrator = psutil.Process(running.pid)
    limits = administrator.rlimit(resource.RLIMIT_NOFILE)
    held: list[socket.socket] = []
    status = b"GET /api/status HTTP/1.0\r\n\r\n"
    try:
        # A little room: connections fill it, then accept() meets EMFILE; the oldest
        # connection that has not sent its request makes room for the next one.
        base = administrator.num_fds()
        administrator.rlimit(resource.RLIMIT_NOFILE, (base + 4, limits[1]))
        held += [http.connect() for _ in range(40)]
        wait_for(lambda: administrator.num_fds() >= base + 3, 10, "every descriptor taken")
        assert status_of(http.raw(status)) == 200
        # No room at all, and no connection of its own to give up: the spare descriptor
        # lets it tell one client so; it pauses accepting, and lives.
        for sock in held:
            sock.close()
        held.clear()
        wait_for(lambda: administrator.num_fds() <= base, 15, "the connections to close")
        administrator.rlimit(resource.RLIMIT_NOFILE, (administrator.num_fds(), limits[1]))
        assert status_of(http.raw(status)) == 503
        held += [http.connect() for _ in range(5)]  # queued, not accepted
        assert running.process.poll() is None
    finally:
        for sock in held:
            sock.close()
        administrator.rlimit(resource.RLIMIT_NOFILE, limits)
    running.assert_unharmed(before)


@given(st.text(max_size=300) | st.from_regex(r"\[?[0-9a-z:.]{0,40}\]?:[0-9]{0,7}"))
def test_an_address_is_host_and_port_or_a_value_error(text: str) -> None:
    try:
        host, port = split_address(text)
    except ValueError as exc:
        error = str(exc)
    else:
        assert host
        assert 0 <= port <= 65535
        assert int(text.rsplit(":", 1)[1]) == port
        return
    assert "expected HOST:PORT" in error
    assert len(error) < 300  # a long value is not echoed in full


def test_an_ipv6_loopback_address_is_served(tmp_path: Path) -> None:
    loop = Loop()
    server = HttpServer(loop, "::1", 0, tmp_path, _backend(tmp_path, b""))
    try:
        assert server.loopback
        assert server.url.startswith("http://[::1]:")
        assert (tmp_path / URL_FILE).read_text().strip() == server.url
    finally:
        server.close()
        loop.close()


# The Kubernetes export ----------------------------------------------------------------


def test_the_kubernetes_export_publishes_the_metrics_port(tmp_path: Path) -> None:
    import yaml
    from _export_demo import make_demo
    from test_plugin_export_kubernetes import ENV, VALIDATE, validate

    demo = make_demo(tmp_path)
    demo.system()
    demo.build("kubernetes", env={**ENV, "OSERVICES_KUBERNETES__METRICS_PORT": "9180"})
    paths = sorted((demo.output / "kubernetes").glob("deployment-*.yaml"))
    assert paths
    for path in paths:
        template = yaml.safe_load(path.read_text())["spec"]["template"]
        assert template["metadata"]["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "9180",
            "prometheus.io/path": "/metrics",
        }
        ports = template["spec"]["containers"][0]["ports"]
        assert {"name": "metrics", "containerPort": 9180} in ports
    assert VALIDATE is not None, "kubernetes-validate is a test dependency"
    result = validate(*paths)
    assert result.returncode == 0, result.stdout + result.stderr
