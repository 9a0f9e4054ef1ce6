"""A component the tests block with ``OSERVICES_DISABLE_PLUGINS=blocked-one``."""

from __future__ import annotations

from oservices_core import Component

component = Component(name="blocked-one")
