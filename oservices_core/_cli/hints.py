"""Known causes of a failed start, and what fixes them: a table, matched against what
``up -d`` prints when it fails (a component's reason and last lines, or the
Administrator's error)."""

from __future__ import annotations

import re

__all__ = ["hints"]

# (what the output says, what to do): the first pattern found in the text gives its hint.
_KNOWN = (
    (
        r"Error loading psycopg2? (or psycopg )?module|No module named '?psycopg",
        "the PostgreSQL driver is not installed: pip install 'oservices[postgres]'",
    ),
    (
        r"Error loading MySQLdb module|No module named '?MySQLdb",
        "the MySQL driver is not installed: pip install mysqlclient",
    ),
    (
        r"Address already in use",
        "another program listens on the component's port: stop it, or give the component "
        "another port ('oservices config explain NAME.port' says where it is set)",
    ),
)


def hints(*texts: str) -> list[str]:
    """The hints whose pattern is found in any of ``texts``, each once, in table order."""
    found = []
    for pattern, hint in _KNOWN:
        if any(re.search(pattern, text) for text in texts):
            found.append(hint)
    return found
