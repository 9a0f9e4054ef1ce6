"""The ``shop-report`` command. Importing it leaves a marker in the working directory.

The marker is how the tests see that ``oservices --help`` lists the command
without importing this module (which a real plugin command must never do at
import; this one does on purpose).
"""

from __future__ import annotations

import json
from pathlib import Path

MARKER = Path("shop-report-imported.marker")
MARKER.write_text("imported\n", encoding="utf-8")


def report(argv: list[str]) -> int:
    """Print the arguments as JSON; exit with the number after ``--exit`` (default 0)."""
    print(json.dumps(argv))
    return int(argv[argv.index("--exit") + 1]) if "--exit" in argv else 0
