"""The shop's configurations: typed, with defaults derived from the active settings.

The API listens on the settings' ``base_port``, so two installations with
different base ports run side by side. The worker and the scheduler do not
need the API to work (they share its database), but their Clients read
figures through it: ``api_url`` says where it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from oservices_core import Configuration, FromSettings

if TYPE_CHECKING:
    from oservices_core import Settings

__all__ = ["ApiConfiguration", "SchedulerConfiguration", "WorkerConfiguration"]


def _api_port(settings: Settings) -> int:
    return settings.base_port


def _api_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.base_port}"


class ApiConfiguration(Configuration):
    """The shop's JSON API: a Django application served by gunicorn."""

    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: Annotated[int, FromSettings(_api_port)] = Field(
        8000, ge=1, le=65535, description="Port the API listens on. Default: the base port."
    )
    workers: int = Field(2, ge=1, le=64, description="Number of gunicorn worker processes.")
    timeout: float = Field(
        5.0, gt=0, description="Seconds a Client waits for an answer from the API."
    )


class WorkerConfiguration(Configuration):
    """The worker: processes the orders the API queued."""

    poll_interval: float = Field(
        0.5, gt=0, description="Seconds between two looks at the queue when it is empty."
    )
    batch: int = Field(20, ge=1, description="Most orders processed in one pass.")
    api_url: Annotated[str, FromSettings(_api_url)] = Field(
        "http://127.0.0.1:8000",
        description="Where the Client reads the queue's figures. Default: the API on the "
        "base port.",
    )
    timeout: float = Field(5.0, gt=0, description="Seconds the Client waits for the API.")


class SchedulerConfiguration(Configuration):
    """The scheduler: runs the periodic job (a heartbeat row, old ones pruned)."""

    interval: float = Field(5.0, gt=0, description="Seconds between two runs of the job.")
    keep: int = Field(100, ge=1, description="Heartbeat rows kept; older ones are deleted.")
    api_url: Annotated[str, FromSettings(_api_url)] = Field(
        "http://127.0.0.1:8000",
        description="Where the Client reads the job's figures. Default: the API on the base port.",
    )
    timeout: float = Field(5.0, gt=0, description="Seconds the Client waits for the API.")
