"""``oservices ui``: the URL of the running Administrator's status page, with its token.

As Jupyter prints its URL: the Administrator that serves HTTP (``up --http``,
or the setting ``admin_http``) writes its URL and a token made for this run in
the run directory, the token readable by its owner only; this command reads
them (without loading the settings when it can) and prints the URL that opens
the page with the right to act.
"""

from __future__ import annotations

import argparse

__all__ = ["ui_command"]


def ui_command(args: argparse.Namespace) -> int:
    """Print ``http://HOST:PORT/?token=TOKEN`` of the Administrator of this run directory."""
    from oservices_core._cli.running import _directory
    from oservices_core._errors import NotRunningError
    from oservices_core._supervisor.control import running_pid
    from oservices_core._supervisor.http import TOKEN_FILE, URL_FILE
    from oservices_core._supervisor.procutil import process_state

    run_dir = _directory("run_dir")
    try:
        url = (run_dir / URL_FILE).read_text(encoding="utf-8").strip()
        token = (run_dir / TOKEN_FILE).read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        url = token = ""
    pid = running_pid(run_dir)
    if not (url and token) or pid is None or process_state(pid) in (None, "Z", "X"):
        raise NotRunningError(
            f"no Administrator serves HTTP for {run_dir}: start one with "
            "'oservices up --http 127.0.0.1:9180' (or set OSERVICES_ADMIN_HTTP), with the "
            "same settings (RUN_DIR) as this command"
        )
    print(f"{url}?token={token}")
    return 0
