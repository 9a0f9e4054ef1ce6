"""The Administrator's HTTP endpoint: metrics, status, live events, a status page, control.

Off unless ``oservices up --http HOST:PORT`` or the setting ``admin_http``
asks for it. It runs on the Administrator's own loop, like the control socket,
and is held to the same containment: no thread per request, nothing that
blocks the loop, and no request that can end the Administrator. A request head
is bounded (:data:`MAX_HEAD`) and must arrive within a few seconds, a body too
(:data:`MAX_BODY`); at most :data:`MAX_CONNECTIONS` are open at once (the oldest
one still sending its request makes room), at most :data:`MAX_STREAMS` of them
event streams; an event stream whose client does not read is dropped once
:data:`STREAM_BUFFER` bytes wait for it; and when the process runs out of file
descriptors, accepting pauses instead of spinning. Every answer closes its
connection (``Connection: close``).

Routes: ``GET /`` the status page, ``/metrics`` Prometheus's text format,
``/api/status`` the JSON of ``oservices status --json`` (the same dispatch
makes both), ``/api/events`` server-sent events, ``/api/logs/NAME`` a
component's last lines, and ``POST /api/components/NAME/{start,stop,restart}``.

Security: the control actions and the logs need the token (in the header
``Authorization: Bearer TOKEN`` or ``X-Oservices-Token``); the token is made
per run, written 0600 in the run directory (``oservices ui`` prints the URL
with it), compared in constant time and never written anywhere else. On a
loopback address the rest is open, and the ``Host`` header must name a loopback
address (against DNS rebinding); on any other address every request needs the
token (``?token=`` is accepted too for ``GET``, so that a browser can open the
page and its event stream).
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import ipaddress
import json
import os
import re
import secrets
import socket
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, final
from urllib.parse import parse_qs, unquote, urlsplit

from oservices_core._errors import AdministratorError, NotFoundError, OservicesError

if TYPE_CHECKING:
    from oservices_core._config.settings import Settings
    from oservices_core._supervisor.control import Dispatch
    from oservices_core._supervisor.instance import Instance
    from oservices_core._supervisor.loop import Loop

__all__ = [
    "MAX_BODY",
    "MAX_CONNECTIONS",
    "MAX_HEAD",
    "MAX_STREAMS",
    "STREAM_BUFFER",
    "TOKEN_FILE",
    "URL_FILE",
    "Backend",
    "HttpError",
    "HttpServer",
    "Request",
    "event_kind",
    "parse_head",
    "serve",
]

MAX_HEAD = 16 * 1024  # bytes of a request line and its headers
MAX_HEADERS = 64
MAX_BODY = 16 * 1024  # bytes of a request body (no route reads one; it is only taken)
MAX_CONNECTIONS = 64  # open at once, event streams included
MAX_STREAMS = 16  # event streams open at once
STREAM_BUFFER = 256 * 1024  # bytes waiting for one event stream's client; beyond: dropped
MAX_LOG_LINES = 2000
MAX_LOG_BYTES = 256 * 1024
TOKEN_FILE = "http.token"  # noqa: S105 - the file's name; in the run directory, 0600
URL_FILE = "http.url"
_READ_SECONDS = 5.0  # for a client to send its whole request
_WRITE_SECONDS = 10.0  # for a client to take its whole answer
_KEEPALIVE = 15.0  # seconds between comments on idle event streams
_ACCEPT_PAUSE = 0.25
_ACCEPTS_PER_WAKE = 32
_COMMANDS = frozenset({"start", "stop", "restart"})
_TOKEN_CHARS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}
_SECURITY_HEADERS = (
    "X-Content-Type-Options: nosniff\r\n"
    "Cache-Control: no-store\r\n"
    "Referrer-Policy: no-referrer\r\n"  # the page's URL may hold the token
    "X-Frame-Options: DENY\r\n"
)
# The page is inline: its own script and style, and requests to this origin only.
_PAGE_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


class HttpError(Exception):
    """A request answered with an error status; the message is the body."""

    def __init__(self, status: int, message: str, headers: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed request head."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case; a name sent twice keeps its first value
    length: int  # of the body announced


@dataclass(frozen=True, slots=True)
class Backend:
    """What the endpoint asks of the Administrator, each call in its loop."""

    dispatch: Dispatch  # the control socket's: ``status`` answers both alike
    names: Callable[[], Collection[str]]
    metrics: Callable[[], bytes]
    log_file: Callable[[str], Path]
    page: Callable[[], bytes]


def serve(
    loop: Loop,
    settings: Settings,
    dispatch: Dispatch,
    instances: Callable[[], dict[str, Instance]],
    event_errors: Callable[[], int],
) -> HttpServer:
    """The endpoint of an Administrator: at ``settings.admin_http``, on its ``loop``."""
    from oservices_core._config.settings import split_address
    from oservices_core._supervisor.logfiles import log_path
    from oservices_core._supervisor.metrics import Metrics
    from oservices_core._supervisor.page import page

    metrics = Metrics(lambda: list(instances().values()), event_errors)
    backend = Backend(
        dispatch=dispatch,
        names=instances,
        metrics=metrics.exposition,
        log_file=lambda name: log_path(settings.log_dir, name),
        page=page,
    )
    host, port = split_address(settings.admin_http)
    return HttpServer(loop, host, port, settings.run_dir, backend)


def parse_head(data: bytes) -> Request:
    """Parse a request line and its headers (without the blank line that ends them)."""
    line, _, rest = data.partition(b"\n")
    try:
        method, target, version = line.rstrip(b"\r").decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        raise HttpError(400, "expected a request line: METHOD TARGET HTTP/1.1") from None
    if not _TOKEN_CHARS.fullmatch(method):
        raise HttpError(400, "the method is not a token")
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise HttpError(505, "expected HTTP/1.0 or HTTP/1.1")
    if not target.startswith("/"):
        raise HttpError(400, "expected a target starting with /")
    headers = _headers(rest.split(b"\n") if rest else [])
    parts = urlsplit(target)
    try:
        query = parse_qs(parts.query, max_num_fields=16)
    except ValueError:
        raise HttpError(400, "too many query fields") from None
    return Request(method, unquote(parts.path), query, headers, _length(headers))


def _headers(lines: list[bytes]) -> dict[str, str]:
    if len(lines) > MAX_HEADERS:
        raise HttpError(431, f"more than {MAX_HEADERS} header fields")
    headers: dict[str, str] = {}
    for raw in lines:
        # Latin-1 decodes any byte: a field value is opaque to HTTP, and checked where used.
        name, colon, value = raw.rstrip(b"\r").decode("latin-1").partition(":")
        if not colon or not _TOKEN_CHARS.fullmatch(name):
            raise HttpError(400, "a header line is not NAME: VALUE")
        key = name.lower()
        if key in headers and key in ("host", "content-length", "authorization"):
            raise HttpError(400, f"header {name} sent twice")
        headers.setdefault(key, value.strip(" \t"))
    return headers


def _length(headers: dict[str, str]) -> int:
    if "transfer-encoding" in headers:
        raise HttpError(411, "a body must come with Content-Length")
    text = headers.get("content-length", "0")
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise HttpError(400, "Content-Length is not a number")
    if int(text) > MAX_BODY:
        raise HttpError(413, f"a body larger than {MAX_BODY} bytes")
    return int(text)


def event_kind(message: str) -> str:
    """The kind of an Administrator event, by the wording of its message."""
    for prefix, kind in (
        ("starting", "starting"),
        ("started", "started"),
        ("ready", "ready"),
        ("exited", "exited"),
        ("EXITED", "exited"),
        ("restart", "restart"),
        ("FATAL", "fatal"),
        ("stopping", "stop"),
        ("stopped", "stop"),
    ):
        if message.startswith(prefix):
            return kind
    return "reload" if "reload" in message else "message"


def _response(
    status: int, body: bytes, content_type: str, *, headers: str = "", head: bool = False
) -> bytes:
    lines = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n{_SECURITY_HEADERS}{headers}\r\n"
    )
    return lines.encode("latin-1") + (b"" if head else body)


def _json(status: int, value: Any, head: bool = False) -> bytes:
    body = json.dumps(value).encode()
    return _response(status, body, "application/json", head=head)


def _error(exc: HttpError, head: bool = False) -> bytes:
    return _response(
        exc.status,
        json.dumps({"ok": False, "error": str(exc)}).encode(),
        "application/json",
        headers=exc.headers,
        head=head,
    )


@final
class _Connection:
    """One client: its request, then its answer, or the event stream it follows."""

    __slots__ = ("out", "received", "sock", "started", "state", "timer")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.state: Literal["reading", "answering", "writing", "streaming", "closed"] = "reading"
        self.received = bytearray()
        self.out = bytearray()
        self.timer: int | None = None
        self.started = time.monotonic()


@final
class HttpServer:
    """Listens on ``host:port`` on the Administrator's loop; see the module's docstring."""

    def __init__(self, loop: Loop, host: str, port: int, run_dir: Path, backend: Backend) -> None:
        self.loop = loop
        self.backend = backend
        self.run_dir = run_dir
        self.sock, self.loopback = _listen(host, port)
        self.hosts = frozenset({"localhost", "127.0.0.1", "::1", host.lower()})
        bound = self.sock.getsockname()
        self.url = f"http://{_shown(bound[0])}:{bound[1]}/"
        self.port: int = bound[1]
        self.token = secrets.token_urlsafe(32)
        self._connections: dict[int, _Connection] = {}
        self._streams: list[_Connection] = []
        self._spare: int | None = _spare()
        self._paused: int | None = None
        self._keepalive: int | None = None
        self._closed = False
        self._write_files()
        loop.add_reader(self.sock, self._accept)

    def _write_files(self) -> None:
        from oservices_core._config.atomic import write_atomic

        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.run_dir / TOKEN_FILE, f"{self.token}\n".encode(), mode=0o600)
        write_atomic(self.run_dir / URL_FILE, f"{self.url}\n".encode(), mode=0o600)

    def close(self) -> None:
        """Stop listening, drop every connection, remove the token and URL files."""
        self._closed = True
        self.loop.cancel(self._paused)
        self.loop.cancel(self._keepalive)
        self.loop.remove_reader(self.sock)
        self.sock.close()
        for connection in list(self._connections.values()):
            self._drop(connection)
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
        for name in (TOKEN_FILE, URL_FILE):
            (self.run_dir / name).unlink(missing_ok=True)

    # Events

    def publish(self, name: str, message: str) -> None:
        """Send an Administrator event to every event stream; a client that lags is dropped."""
        if not self._streams:
            return
        kind = event_kind(message)
        data = json.dumps(
            {"component": name, "kind": kind, "message": message, "time": time.time()}
        )
        self._send_all(f"event: {kind}\ndata: {data}\n\n".encode())

    def _send_all(self, data: bytes) -> None:
        for stream in list(self._streams):
            stream.out += data
            if len(stream.out) > STREAM_BUFFER:
                self._drop(stream)  # it does not read: it must not hold memory, nor the loop
            else:
                self._flush(stream)

    def _keep_alive(self) -> None:
        self._keepalive = None
        self._send_all(b": keep-alive\n\n")
        if self._streams:
            self._keepalive = self.loop.call_later(_KEEPALIVE, self._keep_alive)

    # Accepting

    def _accept(self) -> None:
        for _ in range(_ACCEPTS_PER_WAKE):
            try:
                sock, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue
                if exc.errno in (errno.EMFILE, errno.ENFILE) and self._evict():
                    continue
                self._turn_away()
                self._pause()
                return
            sock.setblocking(False)
            if len(self._connections) >= MAX_CONNECTIONS and not self._evict():
                _refuse(sock, 503, f"{MAX_CONNECTIONS} connections are open; try again")
                continue
            self._open(sock)

    def _evict(self) -> bool:
        """Drop the oldest connection still sending its request; whether one closed.

        Each one is read first: a request it has sent already is answered, not lost.
        """
        for connection in list(self._connections.values()):
            if connection.state != "reading":
                continue
            self._read(connection)  # may answer it, or close it
            if _state(connection) == "reading":
                self._drop(connection)
            if _state(connection) == "closed":
                return True
        return False

    def _turn_away(self) -> None:
        """Out of descriptors: answer one waiting client with the spare one, and close it."""
        if self._spare is None:
            return
        os.close(self._spare)
        self._spare = None
        with contextlib.suppress(OSError):
            sock, _ = self.sock.accept()
            _refuse(sock, 503, "the Administrator is short of file descriptors; try again")
        self._spare = _spare()

    def _pause(self) -> None:
        if self._paused is not None or self._closed:
            return
        self.loop.remove_reader(self.sock)

        def resume() -> None:
            self._paused = None
            if not self._closed:
                self._spare = self._spare if self._spare is not None else _spare()
                self.loop.add_reader(self.sock, self._accept)

        self._paused = self.loop.call_later(_ACCEPT_PAUSE, resume)

    # One connection

    def _open(self, sock: socket.socket) -> None:
        connection = _Connection(sock)
        self._connections[sock.fileno()] = connection
        connection.timer = self.loop.call_later(_READ_SECONDS, lambda: self._late(connection))
        self.loop.add_reader(sock, lambda: self._read(connection))

    def _late(self, connection: _Connection) -> None:
        if connection.state == "reading":
            _refuse(connection.sock, 408, "the request took too long", close=False)
        self._drop(connection)

    def _read(self, connection: _Connection) -> None:
        if connection.state != "reading":
            return
        received = connection.received
        try:
            chunk = connection.sock.recv(MAX_HEAD + MAX_BODY + 4 - len(received))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        received.extend(chunk)
        try:
            request = self._complete(received, ended=not chunk)
        except HttpError as exc:
            self._answer_with(connection, _error(exc))
            return
        if request is None:
            if not chunk:  # gone before its request was whole
                self._drop(connection)
            return
        self._answer_with(connection, None, request)

    def _complete(self, received: bytearray, *, ended: bool) -> Request | None:
        """The request, once its head and body are in; None while more is to come."""
        end, skip = _head_end(received)
        if end < 0 or end > MAX_HEAD:
            if len(received) > MAX_HEAD:
                raise HttpError(431, f"a request head larger than {MAX_HEAD} bytes")
            if ended and received:
                raise HttpError(400, "the request ended within its head")
            return None
        request = parse_head(bytes(received[:end]))
        if len(received) - end - skip < request.length:
            if ended:
                raise HttpError(400, "the request ended within its body")
            return None
        return request

    def _answer_with(
        self, connection: _Connection, data: bytes | None, request: Request | None = None
    ) -> None:
        self.loop.remove_reader(connection.sock)
        self.loop.cancel(connection.timer)
        connection.timer = None
        connection.received.clear()
        connection.state = "answering"
        if data is not None:
            self._write(connection, data)
            return
        assert request is not None
        head = request.method == "HEAD"
        try:
            self._route(connection, request)
        except HttpError as exc:
            self._write(connection, _error(exc, head))
        except NotFoundError as exc:
            self._write(connection, _error(HttpError(404, str(exc)), head))
        except (ValueError, OservicesError) as exc:
            self._write(connection, _error(HttpError(400, str(exc)), head))
        except Exception as exc:  # noqa: BLE001 - a bug in one answer must not end the pool
            import traceback

            traceback.print_exc(file=sys.stderr)
            self._write(connection, _error(HttpError(500, f"internal error: {exc!r}"), head))

    # Routes

    def _route(self, connection: _Connection, request: Request) -> None:
        self._check_host(request)
        path = request.path
        if path.startswith("/api/components/"):
            self._control(connection, request)
            return
        self._only(request, ("GET", "HEAD"))
        self._check_token(request, needed=not self.loopback, query=True)
        head = request.method == "HEAD"
        if path == "/":
            page = _response(
                200,
                self.backend.page(),
                "text/html; charset=utf-8",
                head=head,
                headers=f"Content-Security-Policy: {_PAGE_POLICY}\r\n",
            )
            self._write(connection, page)
        elif path == "/metrics":
            from oservices_core._supervisor.metrics import CONTENT_TYPE

            self._write(connection, _response(200, self.backend.metrics(), CONTENT_TYPE, head=head))
        elif path == "/api/status":
            self._status(connection, head)
        elif path == "/api/events":
            self._stream(connection, head)
        elif path.startswith("/api/logs/"):
            self._check_token(request, needed=True, query=True)
            self._write(connection, self._logs(path.removeprefix("/api/logs/"), request, head))
        else:
            raise HttpError(404, f"no page {path[:80]!r} here; see / for the status page")

    def _status(self, connection: _Connection, head: bool) -> None:
        def reply(body: dict[str, Any]) -> None:
            if connection.state == "answering":
                self._write(connection, _json(200, body.get("result"), head))

        self.backend.dispatch("status", None, reply)

    def _stream(self, connection: _Connection, head: bool) -> None:
        if len(self._streams) >= MAX_STREAMS:
            raise HttpError(503, f"{MAX_STREAMS} event streams are open; try again later")
        connection.state = "streaming"
        connection.out += (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
            f"{_SECURITY_HEADERS}\r\n"
        ).encode() + (b"" if head else b"retry: 2000\n\n")
        if head:
            self._write(connection, bytes(connection.out))
            return
        self._streams.append(connection)
        # Its reader sees the end of a client that leaves.
        self.loop.add_reader(connection.sock, lambda: self._hang_up(connection))
        if self._keepalive is None:
            self._keepalive = self.loop.call_later(_KEEPALIVE, self._keep_alive)
        self._flush(connection)

    def _hang_up(self, connection: _Connection) -> None:
        try:
            data = connection.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(connection)

    def _logs(self, name: str, request: Request, head: bool) -> bytes:
        from oservices_core._supervisor.logfiles import tail

        if name not in self.backend.names():
            raise HttpError(404, f"no component {name[:80]!r} here")
        text = request.query.get("lines", ["200"])[0]
        if not text.isascii() or not text.isdigit() or not 0 < int(text[:6]) <= MAX_LOG_LINES:
            raise HttpError(400, f"lines must be a number from 1 to {MAX_LOG_LINES}")
        data, _ = tail(self.backend.log_file(name), int(text))
        return _response(200, data[-MAX_LOG_BYTES:], "text/plain; charset=utf-8", head=head)

    def _control(self, connection: _Connection, request: Request) -> None:
        self._only(request, ("POST",))
        # From a header only: a page of another site can send none, so the token also
        # stands against cross-site requests; and one from a browser must come from here.
        self._check_token(request, needed=True, query=False)
        origin = request.headers.get("origin")
        host = request.headers.get("host", "")
        if origin is not None and origin.lower() not in (f"http://{host}".lower(), "null"):
            raise HttpError(403, "a control request from another origin")
        _, name, command = request.path.rsplit("/", 2)
        if command not in _COMMANDS or request.path != f"/api/components/{name}/{command}":
            raise HttpError(404, "expected /api/components/NAME/start, stop or restart")
        if name not in self.backend.names():
            raise HttpError(404, f"no component {name[:80]!r} here")

        def reply(body: dict[str, Any]) -> None:
            if connection.state == "answering":
                status = 200 if body.get("ok") else 400
                self._write(connection, _json(status, body))

        self.backend.dispatch(command, name, reply)

    def _only(self, request: Request, methods: tuple[str, ...]) -> None:
        if request.method not in methods:
            allowed = ", ".join(methods)
            raise HttpError(
                405,
                f"{request.method[:20]} is not allowed here: {allowed}",
                headers=f"Allow: {allowed}\r\n",
            )

    def _check_host(self, request: Request) -> None:
        """On loopback, the Host must be a loopback name: a page of another site that
        its DNS points here (rebinding) must not read the answers."""
        host = request.headers.get("host")
        if not self.loopback or host is None:
            return
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.lower().strip("[]") not in self.hosts:
            raise HttpError(403, "this endpoint answers only to loopback host names")

    def _check_token(self, request: Request, *, needed: bool, query: bool) -> None:
        if not needed:
            return
        given = request.headers.get("x-oservices-token")
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if given is None and scheme.lower() == "bearer":
            given = credentials.strip()
        if given is None and query:
            given = request.query.get("token", [None])[0]
        if not given:
            raise HttpError(
                401,
                "this needs the token: 'oservices ui' prints the URL with it",
                headers='WWW-Authenticate: Bearer realm="oservices"\r\n',
            )
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode()):
            raise HttpError(403, "wrong token: 'oservices ui' prints the URL with the right one")

    # Writing

    def _write(self, connection: _Connection, data: bytes) -> None:
        if connection.state == "closed":
            return
        connection.state = "writing"
        connection.out = bytearray(data)
        connection.timer = self.loop.call_later(_WRITE_SECONDS, lambda: self._drop(connection))
        self._flush(connection)

    def _flush(self, connection: _Connection) -> None:
        if connection.state not in ("writing", "streaming"):
            return
        try:
            sent = connection.sock.send(connection.out) if connection.out else 0
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:  # the client went away
            self._drop(connection)
            return
        del connection.out[:sent]
        if connection.out:
            self.loop.add_writer(connection.sock, lambda: self._flush(connection))
        elif connection.state == "writing":
            self._drop(connection)
        else:
            self.loop.remove_writer(connection.sock)

    def _drop(self, connection: _Connection) -> None:
        if connection.state == "closed":
            return
        connection.state = "closed"
        self.loop.cancel(connection.timer)
        with contextlib.suppress(ValueError):
            self._streams.remove(connection)
        with contextlib.suppress(KeyError):
            del self._connections[connection.sock.fileno()]
        self.loop.remove_reader(connection.sock)
        connection.sock.close()


def _state(connection: _Connection) -> str:
    return connection.state  # read again: a call may have changed it


def _head_end(received: bytearray) -> tuple[int, int]:
    """Where the head ends, and the length of the blank line that ends it; -1 if not yet."""
    crlf, lf = received.find(b"\r\n\r\n"), received.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, 4
    return (lf, 2) if lf >= 0 else (-1, 0)


def _shown(address: str) -> str:
    """An address as a URL names it; every interface (0.0.0.0, ::) as this machine's loopback,
    where ``oservices ui`` runs and a browser can open it."""
    ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
    if ip.is_unspecified:
        ip = ipaddress.ip_address("127.0.0.1" if ip.version == 4 else "::1")
    return f"[{ip}]" if ip.version == 6 else str(ip)


def _listen(host: str, port: int) -> tuple[socket.socket, bool]:
    """A listening socket on ``host:port``, and whether that address is a loopback one."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, UnicodeError) as exc:
        raise AdministratorError(
            f"cannot serve HTTP on {host}:{port}: the host is not an address of this machine "
            f"({exc}); set admin_http (or --http) to HOST:PORT, such as 127.0.0.1:9180"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        sock.close()
        raise AdministratorError(
            f"cannot serve HTTP on {host}:{port}: {exc.strerror or exc}; choose another "
            "address or port (admin_http, or --http), or stop what listens there"
        ) from None
    sock.setblocking(False)
    sock.set_inheritable(False)
    return sock, ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback


def _spare() -> int | None:
    """A descriptor kept in reserve, to answer a client when every other is taken."""
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def _refuse(sock: socket.socket, status: int, reason: str, *, close: bool = True) -> None:
    """Answer an error at once, without blocking; close unless told not to."""
    with contextlib.suppress(OSError):
        sock.setblocking(False)
        sock.send(_error(HttpError(status, reason)))
    if close:
        sock.close()
