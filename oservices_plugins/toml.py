"""Built-in ``toml`` plugin: the build writes one TOML file per configuration.

Layout of the configuration directory (the founding notes' "admin package")::

    CONFIG_DIR/
        NAME.toml           one per configuration: a component's, a service's or a package's
        NAME.schema.json    its JSON Schema, named by the file's ``#:schema`` line

A file holds the values decided for this installation (set in the file itself,
or assigned by a plugin during configure) as keys; every other value appears as
a comment naming where it comes from (default, settings, the system file, the
environment), so it keeps following its source. A file holding a secret is 0600.
"""

from __future__ import annotations

import json
import weakref

from oservices_core import Configuration, Context, hookimpl

__all__ = ["oservices_build"]

# A class's JSON Schema never changes, and pydantic takes milliseconds to make one
# (most of a build that writes nothing): made once per class and process.
_SCHEMAS: weakref.WeakKeyDictionary[type[Configuration], str] = weakref.WeakKeyDictionary()


def _schema_text(cls: type[Configuration]) -> str:
    text = _SCHEMAS.get(cls)
    if text is None:
        text = json.dumps(cls.model_json_schema(), indent=2, sort_keys=True) + "\n"
        _SCHEMAS[cls] = text
    return text


@hookimpl(trylast=True)
def oservices_build(context: Context) -> None:
    """Write ``NAME.toml`` and ``NAME.schema.json`` for every configuration of the system."""
    for name, resolved in context.resolved.items():
        text, secret = resolved.to_toml()
        context.write_file(f"{name}.toml", text, mode=0o600 if secret else 0o644)
        context.write_file(f"{name}.schema.json", _schema_text(resolved.cls))
