"""The control socket: how ``oservices status/stop/restart`` reach a running Administrator.

A unix stream socket in the run directory, in a directory only its owner can
enter, carrying one JSON request line and one JSON answer line per
connection. A bad request is answered with an error; the Administrator
carries on.

Nothing a client does may end or stall the Administrator: a request is
bounded in size and in nesting before it is parsed; reading and writing never
block its loop (a client that does not finish its request, or does not read
its answer, is dropped after a few seconds); at most :data:`MAX_CONNECTIONS`
are open at once (the oldest one still sending its request makes room for a
new one); and when the process runs out of file descriptors, ``accept`` turns
the waiting client away with an answer and pauses briefly instead of failing or
spinning.

Clients are bounded too: :func:`request` gives up after ``timeout`` seconds,
sooner when the Administrator is stopped (SIGSTOP, Ctrl-Z) or has exited, and
every way of failing is a :class:`ControlError` that says what to do.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import stat
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, final

from oservices_core._errors import (
    AdministratorError,
    ControlError,
    NotRunningError,
    OservicesError,
)
from oservices_core._supervisor.procutil import (
    connect_unix,
    process_state,
    unix_address,
)

__all__ = [
    "COMMANDS",
    "DEFAULT_TIMEOUT",
    "MAX_CONNECTIONS",
    "MAX_DEPTH",
    "MAX_REQUEST",
    "ControlServer",
    "Request",
    "bind",
    "lock",
    "parse_request",
    "request",
    "running_pid",
    "socket_path",
    "stop_all",
]

COMMANDS = frozenset({"status", "stop", "start", "restart", "reload"})
_NEEDS_NAME = frozenset({"start", "restart"})
MAX_REQUEST = 64 * 1024  # bytes of one request line
MAX_DEPTH = 8  # nesting of arrays and objects in a request (a valid one has 1)
MAX_CONNECTIONS = 64  # open at once; then the oldest still reading makes room, or refusal
MAX_ANSWER = 64 * 1024 * 1024  # bytes a client accepts as an answer
DEFAULT_TIMEOUT = 10.0  # seconds a client waits for an answer, unless told otherwise
_READ_SECONDS = 5.0  # for a client to send its whole request line
_WRITE_SECONDS = 5.0  # for a client to take its whole answer
_ACCEPT_PAUSE = 0.25  # seconds without accepting after running out of descriptors
_ACCEPTS_PER_WAKE = 32  # then the loop serves others before accepting more
_STOPPED_GRACE = 1.0  # seconds a client waits on a stopped (SIGSTOP) Administrator
_POLL = 0.25  # how often a waiting client looks at the Administrator's process
_SHOWN = 80  # characters of a client's value quoted back in an error
_ucred = struct.Struct("3i")  # struct ucred: pid, uid, gid

if TYPE_CHECKING:
    from oservices_core._supervisor.loop import Loop

Reply = Callable[[dict[str, Any]], None]
Dispatch = Callable[[str, "str | None", Reply], None]


class Request:
    """A validated request: a command and, for some, a component name."""

    __slots__ = ("command", "name")

    def __init__(self, command: str, name: str | None) -> None:
        self.command = command
        self.name = name


def socket_path(run_dir: Path) -> Path:
    """The control socket of the Administrator that uses ``run_dir``."""
    return run_dir / "oservices.sock"


def bind(path: Path) -> socket.socket:
    """A listening socket at ``path`` that only this user can connect to.

    What is at ``path`` is replaced only if it is a socket (one a previous
    Administrator left: the caller holds the run directory's lock); anything
    else there is an :class:`AdministratorError`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)  # connecting needs write access; the directory guards it too
    kind = _kind(path)
    if kind not in (None, "socket"):
        raise AdministratorError(
            f"{path} is {kind}, not a socket: the Administrator cannot listen there. "
            "It is not oservices's: move or remove it, then run 'oservices up' again"
        )
    path.unlink(missing_ok=True)
    address, fd = unix_address(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(address)
    finally:
        os.umask(old)
        if fd is not None:
            os.close(fd)
    sock.listen(socket.SOMAXCONN)
    sock.setblocking(False)
    return sock


def parse_request(data: bytes, names: set[str]) -> Request:
    """Validate one request line; a ``ValueError`` says what is wrong with it."""
    if len(data) > MAX_REQUEST:
        raise ValueError(f"request larger than {MAX_REQUEST} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not JSON: not UTF-8 ({exc})") from None
    if _too_deep(text):
        raise ValueError(f"not a request: arrays or objects nested deeper than {MAX_DEPTH}")
    try:
        body = json.loads(text)
    except RecursionError:  # the check above should make this impossible
        raise ValueError("not a request: nested too deep") from None
    except ValueError as exc:  # not JSON, or an integer too long to convert
        raise ValueError(f"not JSON: {_cut(str(exc))}") from None
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    unknown = set(body) - {"command", "name"}
    if unknown:
        raise ValueError(f"unknown keys {_shown(sorted(unknown))}")
    command, name = body.get("command"), body.get("name")
    if not isinstance(command, str) or command not in COMMANDS:
        raise ValueError(f"command must be one of {sorted(COMMANDS)}, not {_shown(command)}")
    if name is not None and (not isinstance(name, str) or name not in names):
        raise ValueError(f"no component {_shown(name)} here; known: {', '.join(sorted(names))}")
    if command in _NEEDS_NAME and name is None:
        raise ValueError(f"{command} needs a component name")
    return Request(command, name)


def _too_deep(text: str) -> bool:
    """Whether arrays and objects nest deeper than :data:`MAX_DEPTH` (strings skipped)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False  # the usual request: no need to look closer
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _shown(value: object) -> str:
    return _cut(repr(value))


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}... ({len(text)} characters)"


# The client's end -------------------------------------------------------------------


def request(
    run_dir: Path, command: str, name: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> Any:
    """Send a request to the Administrator of ``run_dir``; its answer.

    Gives up after ``timeout`` seconds, and sooner when the Administrator's
    process is stopped (SIGSTOP) or exits before answering.

    :raises NotRunningError: no Administrator answers.
    :raises ControlError: it refused the request (the reason is in the message),
        or did not answer in time, or the socket path is not a socket.
    """
    return _exchange(run_dir, command, name, timeout)[0]


def stop_all(run_dir: Path, timeout: float) -> int | None:
    """Ask the Administrator of ``run_dir`` to stop everything; wait until it has exited.

    Returns its pid (None when it cannot be known).

    :raises ControlError: it did not exit within ``timeout`` seconds (or the
        request failed, as for :func:`request`).
    """
    deadline = time.monotonic() + timeout
    _, pid = _exchange(run_dir, "stop", None, min(timeout, DEFAULT_TIMEOUT))
    while pid is not None and process_state(pid) not in (None, "Z", "X"):
        if time.monotonic() > deadline:
            raise ControlError(
                f"the Administrator (pid {pid}) is still stopping after {timeout:g}s: "
                "a component may be slow to stop ('oservices status' shows which, while it "
                f"answers){_state_hint(pid)}; wait longer (--timeout), or end it with "
                f"'kill {pid}'"
            )
        time.sleep(0.02)
    return pid


def _exchange(
    run_dir: Path, command: str, name: str | None, timeout: float
) -> tuple[Any, int | None]:
    """One request and its answer's ``result``, and the Administrator's pid."""
    path = socket_path(run_dir)
    deadline = time.monotonic() + timeout
    sock = _connect(path, run_dir, deadline, timeout)
    with sock:
        pid = _peer_pid(sock) or running_pid(run_dir)
        who = "the Administrator" if pid is None else f"the Administrator (pid {pid})"
        body: dict[str, Any] = {"command": command}
        if name is not None:
            body["name"] = name
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.sendall(json.dumps(body).encode() + b"\n")
        except TimeoutError:
            raise _no_answer(who, command, timeout) from None
        except OSError:
            pass  # closed at once: it may have said why (too busy, out of resources)
        answer = _read_answer(sock, who, pid, command=command, deadline=deadline, timeout=timeout)
    try:
        reply = json.loads(answer)
    except ValueError:
        raise ControlError(f"{who} gave an unreadable answer to {command!r}") from None
    if not isinstance(reply, dict):
        raise ControlError(f"{who} gave an unreadable answer to {command!r}")
    if not reply.get("ok"):
        raise ControlError(f"the Administrator refused {command!r}: {reply.get('error')}")
    return reply.get("result"), pid


def _connect(path: Path, run_dir: Path, deadline: float, timeout: float) -> socket.socket:
    """A connection to the socket at ``path``; a full backlog is retried with backoff."""
    delay = 0.005
    while True:
        try:
            return connect_unix(path, max(deadline - time.monotonic(), 0.001))
        except BlockingIOError:  # its listen backlog is full: it is busy, or stuck
            if time.monotonic() + delay > deadline:
                pid = running_pid(run_dir)
                who = "the Administrator" if pid is None else f"the Administrator (pid {pid})"
                raise ControlError(
                    f"{who} did not accept the connection within {timeout:g}s: its queue of "
                    f"connections on {path} stayed full (it is overloaded or stuck); "
                    "try again, or wait longer (--timeout)"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        except TimeoutError:
            raise _no_answer("the Administrator", "connect", timeout) from None
        except (FileNotFoundError, ConnectionRefusedError):
            kind = _kind(path)
            if kind not in (None, "socket"):
                raise ControlError(
                    f"{path} is {kind}, not the Administrator's socket: no Administrator "
                    "can listen there. It is not oservices's: move or remove it, then start "
                    "one with 'oservices up'"
                ) from None
            raise NotRunningError(
                f"no Administrator is running for {run_dir} (no answer on {path}); "
                "start one with 'oservices up'. A system run by another engine "
                "(supervisord, systemd...) answers to that engine's commands instead"
            ) from None
        except (OSError, ValueError) as exc:  # permission denied, a file in the path, a NUL
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ControlError(
                f"cannot connect to the Administrator's socket {path}: {reason}; "
                "check RUN_DIR (the settings of the 'oservices up' that runs it)"
            ) from None


def _read_answer(
    sock: socket.socket, who: str, pid: int | None, *, command: str, deadline: float, timeout: float
) -> bytes:
    """The answer line; watches the Administrator's process while it waits."""
    chunks: list[bytes] = []
    size = 0
    stopped_since: float | None = None
    while True:
        now = time.monotonic()
        if now >= deadline:
            raise _no_answer(who, command, timeout, _state_hint(pid))
        sock.settimeout(min(deadline - now, _POLL))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            state = process_state(pid) if pid is not None else "?"
            if state in (None, "Z", "X"):
                raise ControlError(
                    f"{who} exited before answering {command!r}; "
                    "its log (LOG_DIR/_administrator.log, or the terminal of 'oservices up') "
                    "says why"
                ) from None
            if state in ("T", "t"):
                stopped_since = now if stopped_since is None else stopped_since
                if now - stopped_since >= _STOPPED_GRACE:
                    raise ControlError(
                        f"{who} did not answer {command!r}: it is stopped (SIGSTOP or Ctrl-Z); "
                        f"resume it with 'kill -CONT {pid}' (or 'fg' in its terminal). The "
                        "request waits in its queue and is carried out when it resumes"
                    ) from None
            else:
                stopped_since = None
            continue
        except OSError as exc:
            raise ControlError(f"{who} closed the connection before answering: {exc}") from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n"):
            break
        if size > MAX_ANSWER:
            raise ControlError(f"{who} answered {command!r} with more than {MAX_ANSWER} bytes")
    if not chunks:
        raise ControlError(
            f"{who} closed the connection without answering {command!r}; "
            "it may be stopping, or short of resources (its log says)"
        )
    return b"".join(chunks)


def _no_answer(who: str, command: str, timeout: float, hint: str = "") -> ControlError:
    return ControlError(
        f"{who} did not answer {command!r} within {timeout:g}s{hint}; "
        "the request may still be carried out when it answers again. "
        "Try again, wait longer (--timeout), or see its log"
    )


def _state_hint(pid: int | None) -> str:
    if pid is None:
        return ""
    state = process_state(pid)
    if state in ("T", "t"):
        return f": it is stopped (SIGSTOP or Ctrl-Z); resume it with 'kill -CONT {pid}'"
    if state in (None, "Z", "X"):
        return ": it has exited"
    return ""


def _peer_pid(sock: socket.socket) -> int | None:
    """The pid of the process that listens at the other end (Linux), else None."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:  # pragma: no cover - not Linux
        return None
    try:
        pid, _, _ = _ucred.unpack(sock.getsockopt(socket.SOL_SOCKET, option, _ucred.size))
    except OSError:  # pragma: no cover - the kernel always has them for a unix socket
        return None
    return pid or None


def _kind(path: Path) -> str | None:
    """What is at ``path``: None when nothing, else ``"socket"``, ``"a directory"``..."""
    try:
        mode = os.lstat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a special file"


def lock(run_dir: Path) -> int:
    """Hold the run directory's lock for this process's life; refuse a second Administrator."""
    import fcntl

    fd = os.open(run_dir / "oservices.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AdministratorError(
            f"an Administrator already runs for {run_dir} (pid {running_pid(run_dir) or '?'}); "
            "use 'oservices status', or 'oservices stop' first"
        ) from None
    return fd


def running_pid(run_dir: Path) -> int | None:
    """The pid the running Administrator wrote, if any."""
    try:
        return int((run_dir / "oservices.pid").read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None


# The Administrator's end ------------------------------------------------------------


@final
class _Connection:
    """One client: it sends its request line, waits for the answer, takes it."""

    __slots__ = ("out", "received", "sock", "state", "timer")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.state: Literal["reading", "answering", "writing", "closed"] = "reading"
        self.received = bytearray()
        self.out = b""
        self.timer: int | None = None


@final
class ControlServer:
    """The Administrator's end: reads requests and writes answers without blocking its loop."""

    def __init__(self, loop: Loop, run_dir: Path, names: set[str], dispatch: Dispatch) -> None:
        from oservices_core._config.atomic import write_atomic

        self.loop = loop
        self.run_dir = run_dir
        self.names = names
        self.dispatch = dispatch
        self.sock = bind(socket_path(run_dir))
        self._connections: dict[int, _Connection] = {}  # by descriptor, oldest first
        self._spare: int | None = _spare()  # given up to turn a client away when out of files
        self._paused: int | None = None  # the timer that resumes accepting
        self._closed = False
        loop.add_reader(self.sock, self._accept)
        write_atomic(run_dir / "oservices.pid", f"{os.getpid()}\n".encode())

    def close(self) -> None:
        """Stop listening; drop every connection; remove the socket and the pid file."""
        self._closed = True
        self.loop.cancel(self._paused)
        self.loop.remove_reader(self.sock)
        self.sock.close()
        for connection in list(self._connections.values()):
            self._drop(connection)
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
        socket_path(self.run_dir).unlink(missing_ok=True)
        (self.run_dir / "oservices.pid").unlink(missing_ok=True)

    # Accepting

    def _accept(self) -> None:
        for _ in range(_ACCEPTS_PER_WAKE):
            try:
                sock, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue  # that client gave up already
                if exc.errno in (errno.EMFILE, errno.ENFILE) and self._evict():
                    continue  # one of ours that had not finished its request made room
                self._turn_away(f"the Administrator is short of resources ({exc.strerror})")
                self._pause()
                return
            sock.setblocking(False)
            if len(self._connections) >= MAX_CONNECTIONS and not self._evict():
                _refuse(sock, f"the Administrator has {MAX_CONNECTIONS} connections open")
                continue
            self._open(sock)

    def _evict(self) -> bool:
        """Drop the oldest connection still sending its request; whether one closed.

        Each one is read first: a request it has sent already is answered, not lost.
        """
        for connection in list(self._connections.values()):
            if connection.state != "reading":
                continue
            self._read(connection)  # may move it on, or close it
            if _state(connection) == "reading":
                self._drop(connection)
            if _state(connection) == "closed":
                return True
        return False

    def _turn_away(self, reason: str) -> None:
        """Accept one waiting client with the spare descriptor, answer it, and close it."""
        if self._spare is None:
            return
        os.close(self._spare)
        self._spare = None
        try:
            sock, _ = self.sock.accept()
        except OSError:
            pass
        else:
            _refuse(sock, reason)
        self._spare = _spare()

    def _pause(self) -> None:
        """Stop accepting for a moment: the listen socket stays readable, and would spin."""
        if self._paused is not None or self._closed:
            return
        self.loop.remove_reader(self.sock)

        def resume() -> None:
            self._paused = None
            if not self._closed:
                if self._spare is None:
                    self._spare = _spare()
                self.loop.add_reader(self.sock, self._accept)

        self._paused = self.loop.call_later(_ACCEPT_PAUSE, resume)

    # One connection

    def _open(self, sock: socket.socket) -> None:
        connection = _Connection(sock)
        self._connections[sock.fileno()] = connection
        connection.timer = self.loop.call_later(_READ_SECONDS, lambda: self._drop(connection))
        self.loop.add_reader(sock, lambda: self._read(connection))

    def _read(self, connection: _Connection) -> None:
        if connection.state != "reading":  # dropped earlier in the same turn of the loop
            return
        received = connection.received
        try:
            chunk = connection.sock.recv(MAX_REQUEST + 1 - len(received))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk and not received:  # gone without a word
            self._drop(connection)
            return
        received.extend(chunk)
        line, newline, _ = bytes(received).partition(b"\n")
        if chunk and not newline and len(received) <= MAX_REQUEST:
            return  # more to come
        self.loop.remove_reader(connection.sock)
        self.loop.cancel(connection.timer)
        connection.timer = None
        connection.state = "answering"
        received.clear()
        self._answer(connection, line)

    def _answer(self, connection: _Connection, line: bytes) -> None:
        def reply(body: dict[str, Any]) -> None:
            if connection.state == "answering":
                self._write(connection, json.dumps(body).encode() + b"\n")

        try:
            request = parse_request(line, self.names)
            self.dispatch(request.command, request.name, reply)
        except (ValueError, OservicesError) as exc:
            reply({"ok": False, "error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a bug in one answer must not end the pool
            import traceback

            traceback.print_exc(file=sys.stderr)
            reply({"ok": False, "error": f"internal error: {exc!r}"})

    def _write(self, connection: _Connection, data: bytes) -> None:
        connection.state = "writing"
        connection.out = data
        connection.timer = self.loop.call_later(_WRITE_SECONDS, lambda: self._drop(connection))
        self._flush(connection)
        if connection.state == "writing":
            self.loop.add_writer(connection.sock, lambda: self._flush(connection))

    def _flush(self, connection: _Connection) -> None:
        if connection.state != "writing":
            return
        try:
            sent = connection.sock.send(connection.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # the client went away
            self._drop(connection)
            return
        connection.out = connection.out[sent:]
        if not connection.out:
            self._drop(connection)

    def _drop(self, connection: _Connection) -> None:
        if connection.state == "closed":
            return
        connection.state = "closed"
        self.loop.cancel(connection.timer)
        with contextlib.suppress(KeyError):
            del self._connections[connection.sock.fileno()]
        self.loop.remove_reader(connection.sock)
        connection.sock.close()


def _state(connection: _Connection) -> str:
    return connection.state  # read again: a call may have changed it


def _spare() -> int | None:
    """A descriptor kept in reserve, to answer a client when every other is taken."""
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def _refuse(sock: socket.socket, reason: str) -> None:
    """Answer an error at once, without waiting for the request or blocking; close."""
    with contextlib.suppress(OSError), sock:
        sock.setblocking(False)
        sock.send(json.dumps({"ok": False, "error": f"{reason}; try again"}).encode() + b"\n")
