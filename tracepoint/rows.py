"""Writing a few columns of many rows at once: a batch of check results, buffered pings, cached uptime, the
impact of the issues a digest batch touched; and finding many rows by a composite key at once."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection, models


@contextmanager
def server_cursor() -> Iterator[psycopg.Cursor]:
    """A psycopg cursor on Django's PostgreSQL connection (its transaction) that binds on the server: values
    travel apart from the SQL, arrays and bytes in binary. Django's cursors bind on the client, which
    quotes every value into the SQL text in Python (a list of 500 ids, 500 literals). Errors come out as
    Django's."""
    connection.ensure_connection()
    cursor_class = _LoggedCursor if connection.queries_logged else psycopg.Cursor
    with connection.wrap_database_errors, cursor_class(connection.connection) as cursor:
        yield cursor


class _LoggedCursor(psycopg.Cursor):
    """Where Django logs queries (DEBUG, tests counting queries), these are logged as its own cursors'."""

    def execute(self, query, params=None, **kwargs):
        started = time.monotonic()
        try:
            return super().execute(query, params, **kwargs)
        finally:
            connection.queries_log.append({"sql": str(query), "time": f"{time.monotonic() - started:.3f}"})


def update_columns(model: type[models.Model], rows: list[models.Model], fields: list[str]) -> None:
    """Write ``fields`` of these (in-memory) rows of ``model`` in one statement.

    On PostgreSQL, one UPDATE over arrays: bulk_update's CASE per row costs about a millisecond a row there,
    which the per-tick and per-batch writes of monitors and digestion cannot afford. On SQLite, one UPDATE
    over a VALUES list per chunk (building bulk_update's CASEs was half of a digest batch's write lock).
    Elsewhere, bulk_update."""
    if not rows:
        return
    if connection.vendor == "sqlite":
        _update_sqlite(model, rows, fields)
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(rows, fields, batch_size=500)
        return
    columns, sets, params = [], [], [[row.pk for row in rows]]
    for index, name in enumerate(fields):
        field = model._meta.get_field(name)
        db_type = field.db_type(connection)
        if db_type == "jsonb":  # sent as text (psycopg has no jsonb[] adapter here), cast back per row
            columns.append("%s::text[]")
            sets.append(f"{field.column} = v.c{index}::jsonb")
            params.append([json.dumps(getattr(row, field.attname), cls=field.encoder) for row in rows])
        else:
            columns.append(f"%s::{db_type}[]")
            sets.append(f"{field.column} = v.c{index}")
            params.append([field.get_db_prep_save(getattr(row, field.attname), connection) for row in rows])
    names = ", ".join(f"c{index}" for index in range(len(fields)))
    # Built from the model's own table, column names and types only; every value is a parameter.
    sql = (
        f"UPDATE {model._meta.db_table} AS m SET {', '.join(sets)}"  # noqa: S608
        f" FROM unnest(%s::bigint[], {', '.join(columns)}) AS v(id, {names}) WHERE m.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _update_sqlite(model: type[models.Model], rows: list[models.Model], fields: list[str]) -> None:
    model_fields = [model._meta.get_field(name) for name in fields]
    sets = ", ".join(f"{field.column} = v.column{index + 2}" for index, field in enumerate(model_fields))
    per_row = len(fields) + 1
    chunk = max(1, connection.features.max_query_params // per_row)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            values = ", ".join(["(" + ", ".join(["%s"] * per_row) + ")"] * len(part))
            params = []
            for row in part:
                params.append(row.pk)
                params += [field.get_db_prep_save(getattr(row, field.attname), connection) for field in model_fields]
            # Built from the model's own table and column names only; every value is a parameter.
            cursor.execute(
                f"UPDATE {model._meta.db_table} AS m SET {sets} FROM (VALUES {values}) AS v "  # noqa: S608
                "WHERE m.id = v.column1",
                params,
            )


def rows_with_keys(
    model: type[models.Model], keys: list[str], wanted: list[tuple], *, columns: list[str]
) -> list[tuple]:
    """``columns`` (plain ones: no ``from_db_value`` conversion) of the rows of ``model`` whose ``keys``
    fields equal one of the ``wanted`` tuples, in one query; each row once.

    On PostgreSQL, a join on arrays: each tuple is one probe of the unique index on ``keys``, whatever the
    statistics say. ``a IN (…) AND b IN (…)`` lets the planner probe ``a`` alone when its statistics are
    stale (a project that grew since the last ANALYZE), then filter every row of that project: 104 ms
    against 3 ms for 500 event ids among 140,000 events. Elsewhere, one ``IN`` per field, pairs checked here."""
    wanted = list(dict.fromkeys(wanted))  # a repeated tuple would find its row twice in the join
    if not wanted:
        return []
    key_fields = [model._meta.get_field(name) for name in keys]
    out_fields = [model._meta.get_field(name) for name in columns]
    if connection.vendor != "postgresql":
        found = model.objects.filter(
            **{f"{field.attname}__in": {row[index] for row in wanted} for index, field in enumerate(key_fields)}
        ).values_list(*(field.attname for field in key_fields), *(field.attname for field in out_fields))
        wanted_set = set(wanted)
        return [row[len(keys) :] for row in found if tuple(row[: len(keys)]) in wanted_set]
    quote = connection.ops.quote_name
    # The column types without their length: a cast to varchar(32) would cut a longer value to one that matches.
    arrays = ", ".join(f"%s::{_LENGTH.sub('', field.db_type(connection))}[]" for field in key_fields)
    names = ", ".join(f"k{index}" for index in range(len(keys)))
    join = " AND ".join(f"m.{quote(field.column)} = v.k{index}" for index, field in enumerate(key_fields))
    params = [
        [field.get_db_prep_value(row[index], connection) for row in wanted] for index, field in enumerate(key_fields)
    ]
    # Built from the model's own table, column names and types only; every value is a parameter.
    sql = (
        f"SELECT {', '.join(f'm.{quote(field.column)}' for field in out_fields)} "  # noqa: S608
        f"FROM {quote(model._meta.db_table)} AS m JOIN unnest({arrays}) AS v({names}) ON {join}"
    )
    with server_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


_LENGTH = re.compile(r"\(\d+\)")
