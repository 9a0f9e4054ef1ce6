"""The control socket: how ``oservices status/stop/restart`` reach a running Administrator.

A unix stream socket in the run directory, in a directory only its owner can
enter, carrying one JSON request line and one JSON answer line per
connection. A bad request is answered with an error; the Administrator
carries on.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from oservices_core._errors import OservicesError
from oservices_core._procutil import connect_unix, unix_address

__all__ = [
    "COMMANDS",
    "AdministratorNotRunning",
    "Request",
    "bind",
    "parse_request",
    "request",
    "socket_path",
]

COMMANDS = frozenset({"status", "stop", "start", "restart", "reload"})
_NEEDS_NAME = frozenset({"start", "restart"})
MAX_REQUEST = 64 * 1024


class AdministratorNotRunning(OservicesError):
    """No Administrator answers on the control socket."""


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
    """Send a request to the Administrator of ``run_dir``; its answer, or an error."""
    path = socket_path(run_dir)
    try:
        sock = connect_unix(path, timeout)
    except (FileNotFoundError, ConnectionRefusedError):
        raise AdministratorNotRunning(
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
        raise OservicesError(f"the Administrator refused {command!r}: {reply.get('error')}")
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
