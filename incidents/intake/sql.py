"""Hand-written statements for the alert intake's hot path, on PostgreSQL and SQLite alike.

An alert storm is a hundred notifications a second, each a dozen statements; building each statement
through the ORM's query compiler cost more CPU than running it. These helpers send fixed SQL instead,
with every value prepared by its model field (``get_db_prep_save``: time zones, JSON), and read rows
back through ``Model.objects.raw`` so each backend's converters still apply. Everything else in intake
uses the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models


def for_update() -> str:
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def prep(model: type[models.Model], name: str, value: Any) -> Any:
    return model._meta.get_field(name).get_db_prep_save(value, connection)


def insert(model: type[models.Model], rows: Sequence[models.Model], names: Sequence[str]) -> None:
    """INSERT ``rows`` in one statement and set their primary keys (RETURNING, both backends)."""
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in names]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    values = ", ".join(f"({placeholders(len(fields))})" for _ in rows)
    params = [field.get_db_prep_save(getattr(row, field.attname), connection) for row in rows for field in fields]
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        # Table, columns and placeholders come from the model; every value is a parameter.
        cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {values} RETURNING id", params)  # noqa: S608
        ids = [row[0] for row in cursor.fetchall()]
    # In the order of the VALUES list, as Django's bulk_create relies on too.
    for row, pk in zip(rows, ids, strict=True):
        row.pk = pk
        row._state.adding, row._state.db = False, connection.alias


def update(model: type[models.Model], pks: Iterable[int], values: dict[str, Any]) -> None:
    """UPDATE the rows ``pks`` to the same ``values``."""
    pks = list(pks)
    if not pks:
        return
    fields = [model._meta.get_field(name) for name in values]
    assignments = ", ".join(f"{connection.ops.quote_name(field.column)} = %s" for field in fields)
    params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        query = f"UPDATE {table} SET {assignments} WHERE id IN ({placeholders(len(pks))})"  # noqa: S608 (as above)
        cursor.execute(query, [*params, *pks])
