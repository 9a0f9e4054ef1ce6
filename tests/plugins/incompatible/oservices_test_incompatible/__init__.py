"""A component for oservices 99; oservices must refuse it before importing this module."""

from __future__ import annotations

from oservices_core import Component

component = Component(name="incompatible-one")
