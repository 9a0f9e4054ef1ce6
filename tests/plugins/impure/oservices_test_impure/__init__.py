"""A component module that is not neutral: it reads the environment and starts a thread.

``oservices check neutral`` must name both.
"""

from __future__ import annotations

import os
import threading

from oservices_core import Component

LEVEL = os.environ.get("IMPURE_LEVEL", "1")


def _tick() -> None:
    """Nothing; the thread's start is the impurity."""


threading.Thread(target=_tick, name="impure-ticker", daemon=True).start()

component = Component(name="impure-one")
