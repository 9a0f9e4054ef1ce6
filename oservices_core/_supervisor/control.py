"""The control socket: how ``oservices status/stop/restart`` reach a running Administrator.

A unix stream socket in the run directory, in a directory only its owner can
enter, carrying one JSON request line and one JSON answer line per
connection. A bad request is answered with an error; the Administrator
carries on.

Clients are bounded too: :func:`request` gives up after ``timeout`` seconds,
sooner when the Administrator is stopped (SIGSTOP, Ctrl-Z) or has exited, and
every way of failing is a :class:`ControlError` that says what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

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
MAX_REQUEST = 64 * 1024
_IDLE_SECONDS = 5.0
MAX_ANSWER = 64 * 1024 * 1024  # bytes a client accepts as an answer
DEFAULT_TIMEOUT = 10.0  # seconds a client waits for an answer, unless told otherwise
_STOPPED_GRACE = 1.0  # seconds a client waits on a stopped (SIGSTOP) Administrator
_POLL = 0.25  # how often a waiting client looks at the Administrator's process
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
    """A listening socket at ``path`` that only this user can connect to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)  # connecting needs write access; the directory guards it too
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
    sock.listen(16)
    sock.setblocking(False)
    return sock


def parse_request(data: bytes, names: set[str]) -> Request:
    """Validate one request line; a ``ValueError`` says what is wrong with it."""
    if len(data) > MAX_REQUEST:
        raise ValueError(f"request larger than {MAX_REQUEST} bytes")
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    unknown = set(body) - {"command", "name"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    command, name = body.get("command"), body.get("name")
    if command not in COMMANDS:
        raise ValueError(f"command must be one of {sorted(COMMANDS)}, not {command!r}")
    if name is not None and (not isinstance(name, str) or name not in names):
        raise ValueError(f"no component {name!r} here; known: {', '.join(sorted(names))}")
    if command in _NEEDS_NAME and name is None:
        raise ValueError(f"{command} needs a component name")
    return Request(command, name)


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
                "start one with 'oservices up'"
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
class ControlServer:
    """The Administrator's end: reads requests without blocking its loop, answers each."""

    def __init__(self, loop: Loop, run_dir: Path, names: set[str], dispatch: Dispatch) -> None:
        from oservices_core._config.atomic import write_atomic

        self.loop = loop
        self.run_dir = run_dir
        self.names = names
        self.dispatch = dispatch
        self.sock = bind(socket_path(run_dir))
        loop.add_reader(self.sock, self._accept)
        write_atomic(run_dir / "oservices.pid", f"{os.getpid()}\n".encode())

    def close(self) -> None:
        """Stop listening; remove the socket and the pid file."""
        self.loop.remove_reader(self.sock)
        self.sock.close()
        socket_path(self.run_dir).unlink(missing_ok=True)
        (self.run_dir / "oservices.pid").unlink(missing_ok=True)

    def _accept(self) -> None:
        try:
            connection, _ = self.sock.accept()
        except BlockingIOError:
            return
        connection.setblocking(False)
        received = bytearray()

        def give_up() -> None:  # a client that never finishes its line
            self.loop.remove_reader(connection)
            connection.close()

        timer = self.loop.call_later(_IDLE_SECONDS, give_up)

        def read() -> None:
            try:
                chunk = connection.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            received.extend(chunk)
            if chunk and b"\n" not in chunk and len(received) <= MAX_REQUEST:
                return
            self.loop.remove_reader(connection)
            self.loop.cancel(timer)
            connection.setblocking(True)
            connection.settimeout(2)
            self._answer(connection, bytes(received).split(b"\n", 1)[0])

        self.loop.add_reader(connection, read)

    def _answer(self, connection: socket.socket, line: bytes) -> None:
        def reply(body: dict[str, Any]) -> None:
            with contextlib.suppress(OSError), connection:
                connection.sendall(json.dumps(body).encode() + b"\n")

        try:
            request = parse_request(line, self.names)
            self.dispatch(request.command, request.name, reply)
        except (ValueError, OservicesError) as exc:
            reply({"ok": False, "error": str(exc)})
