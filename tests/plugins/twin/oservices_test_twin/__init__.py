"""A component named ``shop-api``, a name ``oservices-test-good`` takes first (it sorts first)."""

from __future__ import annotations

from oservices_core import Component

component = Component(name="shop-api")
