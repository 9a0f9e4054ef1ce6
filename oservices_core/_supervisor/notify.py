"""Readiness over the sd_notify protocol, both ends.

A component calls :func:`notify_ready` once it serves. Under the
Administrator, and under systemd with ``Type=notify``, ``NOTIFY_SOCKET`` names
a datagram socket and the call sends ``READY=1``; anywhere else it does
nothing, so a component never needs to know how it is run.
"""

from __future__ import annotations

import os
import socket
import struct

__all__ = ["NotifyListener", "notify", "notify_ready"]

_UCRED = struct.Struct("3i")  # pid, uid, gid


def notify(*states: str) -> bool:
    """Send ``KEY=VALUE`` lines to ``$NOTIFY_SOCKET``; False when nobody listens."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # the abstract namespace, as systemd spells it
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall("\n".join(states).encode())
        except OSError:
            return False
    return True


def notify_ready(status: str | None = None) -> bool:
    """Tell the Administrator (or systemd) that this component is ready."""
    states = ["READY=1"]
    if status:
        states.append(f"STATUS={status}")
    return notify(*states)


class NotifyListener:
    """The Administrator's end: a datagram socket that knows who sent each message."""

    def __init__(self, token: str) -> None:
        self.address = f"@oservices-notify-{token}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind("\0" + self.address[1:])
        self.sock.setblocking(False)

    def receive(self) -> tuple[int, dict[str, str]] | None:
        """The sender's pid and its states; None for a message without credentials."""
        try:
            data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(_UCRED.size))
        except BlockingIOError:
            return None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, uid, _ = _UCRED.unpack(payload[: _UCRED.size])
                if uid != os.getuid():
                    return None  # only our own user's processes may speak for a component
                return pid, _states(data)
        return None

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def _states(data: bytes) -> dict[str, str]:
    states = {}
    for line in data.decode(errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            states[key.strip()] = value
    return states
