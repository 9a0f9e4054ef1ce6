"""The Administrator's HTTP endpoint as tests reach it: found with ``oservices ui``, asked
with the standard library, or sent raw bytes the way a hostile client would."""

from __future__ import annotations

import contextlib
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from _processes import wait_for
from _up import Up

LOOPBACK = "127.0.0.1:0"  # the setting: loopback, a free port


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Endpoint:
    """Where a running Administrator serves HTTP, and the token ``oservices ui`` printed."""

    url: str  # http://HOST:PORT/
    token: str

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        assert parts.hostname is not None
        assert parts.port is not None
        return parts.hostname, parts.port

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        token: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Answer:
        sent = dict(headers or {})
        if token is not None:
            sent["X-Oservices-Token"] = token
        request = urllib.request.Request(  # noqa: S310 - our own server, http only
            self.url.rstrip("/") + path, method=method, headers=sent
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
                return Answer(answer.status, dict(answer.headers), answer.read())
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, dict(error.headers), error.read())

    def connect(self, timeout: float = 10) -> socket.socket:
        return socket.create_connection(self.address, timeout=timeout)

    def raw(self, data: bytes, *, close_write: bool = False, timeout: float = 30) -> bytes:
        """Send ``data`` on a fresh connection; everything it answers until it closes."""
        with self.connect(timeout) as sock:
            with contextlib.suppress(OSError):  # it may answer and close before all is sent
                sock.sendall(data)
                if close_write:
                    sock.shutdown(socket.SHUT_WR)
            return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    with contextlib.suppress(OSError):
        while chunk := sock.recv(1 << 20):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer."""
    line = answer.split(b"\r\n", 1)[0].split(b" ")
    assert line[0] == b"HTTP/1.1", answer[:200]
    return int(line[1])


def endpoint(running: Up) -> Endpoint:
    """The endpoint of ``running``, as a user finds it: ``oservices ui``."""

    def printed() -> str | None:
        assert running.process.poll() is None, running.log()
        result = running.cli("ui")
        assert "Traceback" not in result.stderr, result.stderr
        return result.stdout.strip() if result.returncode == 0 else None

    url = wait_for(printed, 60, lambda: f"oservices ui to print the URL\n{running.log()}")
    base, _, token = url.partition("?token=")
    assert base.startswith("http://"), url
    assert token, url
    return Endpoint(base, token)
