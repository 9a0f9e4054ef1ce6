"""MkDocs hook: write the hooks reference from ``oservices_core.hookspecs``."""

from __future__ import annotations

import inspect
import re
from typing import Any

MARKER = "<!-- hookspecs -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the marker with one section per hook, in the module's order."""
    if MARKER not in markdown:
        return markdown
    from oservices_core import hookspecs

    specs = [(name, f) for name, f in vars(hookspecs).items() if name.startswith("oservices_")]
    sections = [_section(name, function) for name, function in specs]  # definition order
    return markdown.replace(MARKER, "\n".join(sections))


def _section(name: str, function: Any) -> str:
    signature = str(inspect.signature(function)).replace("'", "")
    doc = inspect.cleandoc(function.__doc__ or "")
    doc = re.sub(r"^:param (\w+):", r"- `\1`:", doc, flags=re.M)
    doc = re.sub(r"^:return:", "- returns:", doc, flags=re.M)
    return f"## `{name}`\n\n```python\n{name}{signature}\n```\n\n{doc}\n"
