"""Hook implementations: a package configuration, and a setup stage that does nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from oservices_core import Configuration, hookimpl

if TYPE_CHECKING:
    from oservices_core import Context


class ShopCommonConfiguration(Configuration):
    """What every shop component shares."""

    currency: str = Field("EUR", description="Currency of every price.")


@hookimpl
def oservices_configurations() -> dict[str, type[Configuration]]:
    """The shop package's own configuration."""
    return {"shop-common": ShopCommonConfiguration}


@hookimpl
def oservices_setup(context: Context) -> None:
    """Nothing to set up; implemented so the listing shows the hook."""
