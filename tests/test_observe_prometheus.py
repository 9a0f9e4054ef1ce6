"""A real Prometheus server (Debian's ``prometheus``) scrapes a running Administrator.

The Administrator listens on every interface, so every request needs its token:
Prometheus reads it from the token file, as the scrape configuration of the
docs says. Then Prometheus's query API returns ``oservices_component_up`` for
each component. A missing ``prometheus`` fails the test: ``.ci/run`` installs it.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _engines import needed
from _processes import free_port, wait_for
from test_observe import ANY, COMPONENTS, Served

from oservices_core._supervisor.http import TOKEN_FILE

SCRAPE = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: oservices
    authorization:
      type: Bearer
      credentials_file: {token}
    static_configs:
      - targets: ["{target}"]
"""


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[str, Path], str]]:
    """Start Prometheus scraping ``target`` with the token in ``token``; its address."""
    binary = needed("prometheus", "apt-get install prometheus; .ci/run does")
    started: list[subprocess.Popen[bytes]] = []
    output = tmp_path / "prometheus.out"

    def start(target: str, token: Path) -> str:
        config = tmp_path / "prometheus.yml"
        config.write_text(SCRAPE.format(target=target, token=token))
        address = f"127.0.0.1:{free_port()}"
        with output.open("wb") as out:
            started.append(
                subprocess.Popen(
                    [
                        binary,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp_path / 'data'}",
                        f"--web.listen-address={address}",
                        "--log.level=warn",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        wait_for(lambda: _get(f"http://{address}/-/ready") is not None, 60, _news(started, output))
        return f"http://{address}"

    yield start
    for process in started:
        process.kill()
        process.wait(30)


def _news(started: list[subprocess.Popen[bytes]], output: Path) -> Callable[[], str]:
    return lambda: f"prometheus (exit {started[-1].poll()}):\n{output.read_text(errors='replace')}"


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - a local server
            body: bytes = answer.read()
            return body
    except (urllib.error.URLError, OSError):
        return None


def _query(server: str, query: str) -> list[dict[str, Any]]:
    body = _get(f"{server}/api/v1/query?query={query}")
    if body is None:
        return []
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    results: list[dict[str, Any]] = answer["data"]["result"]
    return results


def test_prometheus_scrapes_the_administrator(
    home: Path, prometheus: Callable[[str, Path], str]
) -> None:
    running = Served(home, COMPONENTS, f"{ANY}:0")
    try:
        running.wait_healthy()
        port = running.http().address[1]
        server = prometheus(f"127.0.0.1:{port}", home / "run" / TOKEN_FILE)

        def scraped() -> list[dict[str, Any]] | None:
            found = _query(server, "oservices_component_up")
            names = {r["metric"]["component"] for r in found}
            return found if names == set(COMPONENTS) else None

        found = wait_for(scraped, 60, lambda: f"a scrape: {_query(server, 'up')}")
        for result in found:
            assert result["metric"]["job"] == "oservices"
            assert result["value"][1] == "1"
        (target,) = _query(server, 'up{job="oservices"}')
        assert target["value"][1] == "1"  # the scrape itself succeeded, with the token
        ready = _query(server, "oservices_component_ready")
        assert {r["metric"]["component"]: r["value"][1] for r in ready} == dict.fromkeys(
            COMPONENTS, "1"
        )
        running_states = _query(server, 'oservices_component_state{state="RUNNING"}')
        assert {r["metric"]["component"] for r in running_states} == set(COMPONENTS)
        assert _query(server, "process_resident_memory_bytes")  # the Administrator's own
    finally:
        running.finish()
