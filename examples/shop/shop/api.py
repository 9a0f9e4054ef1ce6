"""The API component's process: gunicorn, run from Python, serving Django.

gunicorn's arbiter is the component's process; its workers are forked from
it, in its process group, so they stop with it (SIGTERM to the group is
gunicorn's graceful stop) and die with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication

if TYPE_CHECKING:
    from shop.configuration import ApiConfiguration

__all__ = ["ShopServer", "gunicorn_options", "main"]


def gunicorn_options(configuration: ApiConfiguration) -> dict[str, Any]:
    """gunicorn's settings for the API's configuration."""
    host = configuration.host
    return {
        "bind": f"[{host}]:{configuration.port}" if ":" in host else f"{host}:{configuration.port}",
        "workers": configuration.workers,
        "worker_class": "sync",
        "proc_name": "shop-api",
        "accesslog": "-",  # the component's output: oservices writes it to LOG_DIR/shop-api.log
        "errorlog": "-",
        "graceful_timeout": 5,  # below the component's stop_timeout
        # gunicorn 25.1+ opens a control socket under $HOME by default: oservices is the control.
        "control_socket_disable": True,
    }


class ShopServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type information
    """A gunicorn application whose settings come from code, not its command line."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        known = self.cfg.settings
        for key, value in self.options.items():
            if key in known:  # an older gunicorn lacks the newest settings
                self.cfg.set(key, value)

    def load(self) -> Any:
        # In each gunicorn worker; Django was set up by oservices in the process it forked from.
        from django.core.wsgi import get_wsgi_application

        return get_wsgi_application()


def main(configuration: ApiConfiguration) -> None:
    """Serve the API until stopped."""
    ShopServer(gunicorn_options(configuration)).run()
