"""Writing a few columns of many monitors at once (a batch of check results, buffered pings, cached uptime)."""

from __future__ import annotations

import json

from django.db import connection

from monitors.models import Monitor


def update_columns(monitors: list[Monitor], fields: list[str]) -> None:
    """Write ``fields`` of these (in-memory) monitors in one statement.

    On PostgreSQL, one UPDATE over arrays: bulk_update's CASE per row costs about a millisecond a row there,
    which the per-tick and per-batch writes of monitors cannot afford. Elsewhere, bulk_update."""
    if not monitors:
        return
    if connection.vendor != "postgresql":
        Monitor.objects.bulk_update(monitors, fields, batch_size=500)
        return
    columns, sets, params = [], [], [[monitor.pk for monitor in monitors]]
    for index, name in enumerate(fields):
        field = Monitor._meta.get_field(name)
        db_type = field.db_type(connection)
        if db_type == "jsonb":  # sent as text (psycopg has no jsonb[] adapter here), cast back per row
            columns.append("%s::text[]")
            sets.append(f"{field.column} = v.c{index}::jsonb")
            params.append([json.dumps(getattr(monitor, field.attname), cls=field.encoder) for monitor in monitors])
        else:
            columns.append(f"%s::{db_type}[]")
            sets.append(f"{field.column} = v.c{index}")
            params.append([field.get_db_prep_save(getattr(monitor, field.attname), connection) for monitor in monitors])
    names = ", ".join(f"c{index}" for index in range(len(fields)))
    # Built from the model's own table, column names and types only; every value is a parameter.
    sql = (
        f"UPDATE {Monitor._meta.db_table} AS m SET {', '.join(sets)}"  # noqa: S608
        f" FROM unnest(%s::bigint[], {', '.join(columns)}) AS v(id, {names}) WHERE m.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
