"""The control socket: how ``oservices status/stop/restart`` reach a running Administrator.

A unix stream socket in the run directory, in a directory only its owner can
enter, carrying one JSON request line and one JSON answer line per
connection. A bad request is answered with an error; the Administrator
carries on.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

from oservices_core._errors import (
    AdministratorError,
    ControlError,
    NotRunningError,
    OservicesError,
)
from oservices_core._supervisor.procutil import connect_unix, unix_address

__all__ = [
    "COMMANDS",
    "ControlServer",
    "Request",
    "bind",
    "lock",
    "parse_request",
    "request",
    "socket_path",
]

COMMANDS = frozenset({"status", "stop", "start", "restart", "reload"})
_NEEDS_NAME = frozenset({"start", "restart"})
MAX_REQUEST = 64 * 1024
_IDLE_SECONDS = 5.0

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


def request(run_dir: Path, command: str, name: str | None = None, timeout: float = 120) -> Any:
    """Send a request to the Administrator of ``run_dir``; its answer.

    :raises NotRunningError: no Administrator answers.
    :raises ControlError: it refused the request (the reason is in the message).
    """
    path = socket_path(run_dir)
    try:
        sock = connect_unix(path, timeout)
    except (FileNotFoundError, ConnectionRefusedError):
        raise NotRunningError(
            f"no Administrator is running for {run_dir} (no answer on {path}); "
            "start one with 'oservices up'"
        ) from None
    with sock:
        body: dict[str, Any] = {"command": command}
        if name is not None:
            body["name"] = name
        sock.sendall(json.dumps(body).encode() + b"\n")
        answer = _read_line(sock)
    reply = json.loads(answer) if answer else {"ok": False, "error": "no answer"}
    if not reply.get("ok"):
        raise ControlError(f"the Administrator refused {command!r}: {reply.get('error')}")
    return reply.get("result")


def _read_line(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)


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
