"""SQLite only: write-ahead logging, so readers never wait for the writer.

The API's gunicorn workers, the worker and the scheduler are separate
processes on one SQLite file. The journal mode is a property of the file and
stays set; it cannot change inside a transaction, hence ``atomic = False``.
Other databases are left alone.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import migrations


def _wal(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"] != ":memory:":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")


class Migration(migrations.Migration):  # type: ignore[misc]  # Django ships no type information
    atomic = False

    dependencies: ClassVar[list[tuple[str, str]]] = [("shop_orders", "0001_initial")]

    operations: ClassVar[list[object]] = [
        migrations.RunPython(_wal, migrations.RunPython.noop, elidable=True),
    ]
