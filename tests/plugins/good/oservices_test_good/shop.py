"""The shop service: an API component with a port, and a worker that depends on it."""

from __future__ import annotations

from pydantic import Field

from oservices_core import Component, Configuration, Service


class ShopApiConfiguration(Configuration):
    """The shop API."""

    port: int = Field(8400, description="Port the shop API listens on.")


api = Component(
    name="shop-api",
    configuration=ShopApiConfiguration,
    description="The shop's public API.",
)
worker = Component(name="shop-worker", depends_on=["shop-api"])
service = Service(
    name="shop",
    components=[api, worker],
    api=api,
    description="A small shop.",
)
