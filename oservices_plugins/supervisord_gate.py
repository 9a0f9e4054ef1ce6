"""Under supervisord, a component starts only once the initialize stage has succeeded.

supervisord has no dependencies between programs: ``priority`` orders their
start, it does not wait. So the file the ``supervisord`` plugin writes runs the
initialize stage as a program of its own (``oservices-init``: ``oservices init``,
run once, never restarted), and starts each component through this gate::

    PYTHON -m oservices_plugins.supervisord_gate GROUP:oservices-init -- COMMAND...

The gate asks the supervisord that started it (its XML-RPC interface, at
``SUPERVISOR_SERVER_URL``, which supervisord gives every program) how that
program is: exited with status 0, it replaces itself with ``COMMAND`` (the
same process: supervisord's signals reach the component); exited otherwise,
it asks supervisord to stop the component (``STOPPED``, whatever its restart
policy: restarting it could not help) and says why in its log; not run yet or
still running, it waits. So the state is that supervisord's own: after
``supervisorctl restart`` or a reload, the components wait for the new run.

Standard library only: it runs before every component start.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys
import time
import xmlrpc.client
from collections.abc import Sequence

__all__ = ["init_state", "main"]

_POLL = 0.2  # seconds between two looks at the initialize program
_FAILED = frozenset({"EXITED", "FATAL"})


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(self._path)
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def make_connection(self, host: object) -> http.client.HTTPConnection:
        return _UnixConnection(self._path)


def _proxy(server_url: str) -> xmlrpc.client.ServerProxy:
    if not server_url.startswith("unix://"):
        raise ValueError(f"a unix:// supervisord URL, found {server_url!r}")
    transport = _UnixTransport(server_url.removeprefix("unix://"))
    return xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=transport)


def init_state(server_url: str, program: str) -> tuple[str, int]:
    """The supervisord state name of ``program`` (``GROUP:NAME``) and its last exit status."""
    info = _proxy(server_url).supervisor.getProcessInfo(program)
    if not isinstance(info, dict):  # supervisord answers a struct
        raise ValueError(f"an answer supervisord would give, found {info!r}")
    return str(info["statename"]), int(info["exitstatus"])


def main(argv: Sequence[str] | None = None) -> int:
    """Wait for the initialize program, then exec the component's command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m oservices_plugins.supervisord_gate GROUP:PROGRAM -- COMMAND...")
        return 2
    url = os.environ.get("SUPERVISOR_SERVER_URL", "")
    if not url:
        print("oservices: this gate runs under supervisord (no SUPERVISOR_SERVER_URL)")
        return 2
    try:
        return _wait(url, args[0], args[2:])
    except KeyboardInterrupt:  # supervisord's stop signal, when it is SIGINT: a quiet end
        return 1


def _wait(url: str, program: str, command: list[str]) -> int:
    parent, said = os.getppid(), False
    while os.getppid() == parent:  # supervisord gone: nothing to wait for
        try:
            state, status = init_state(url, program)
        except (OSError, xmlrpc.client.Error, ValueError, KeyError) as exc:
            state, status = f"unknown ({exc})", -1
        if state == "EXITED" and status == 0:
            return _exec(command)
        if state in _FAILED:
            print(
                f"oservices: the initialize stage failed ({program} {state}, exit status "
                f"{status}): see its log; this component does not start",
                flush=True,
            )
            return _stop_self(url)
        if not said:
            print(f"oservices: waiting for the initialize stage ({program} {state})", flush=True)
            said = True
        time.sleep(_POLL)
    return 1


def _exec(command: list[str]) -> int:
    """Become ``command`` (PATH searched): the same process, which supervisord watches."""
    sys.stdout.flush()
    try:
        os.execvp(command[0], command)  # noqa: S606 - the component's own command
    except OSError as exc:
        print(f"oservices: cannot run {command[0]!r}: {exc}", flush=True)
    return 127


def _stop_self(url: str) -> int:
    """Ask supervisord to stop this program (it then stays ``STOPPED``); 1 if it cannot."""
    own = ":".join(
        os.environ.get(k, "") for k in ("SUPERVISOR_GROUP_NAME", "SUPERVISOR_PROCESS_NAME")
    )
    try:
        _proxy(url).supervisor.stopProcess(own, False)
    except (OSError, xmlrpc.client.Error, ValueError) as exc:
        print(f"oservices: could not stop {own}: {exc}", flush=True)
        return 1
    time.sleep(60)  # supervisord's stop signal ends this process before
    return 1


if __name__ == "__main__":
    sys.exit(main())
