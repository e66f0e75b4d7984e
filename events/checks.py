"""System checks: what the events app needs from the database it runs on."""

from __future__ import annotations

import sqlite3

from django.core.checks import Error, register
from django.db import connections

# RETURNING (3.35) and UPDATE … FROM (3.33) are used by ingest and digestion.
MIN_SQLITE = (3, 35, 0)


@register("database")
def sqlite_is_recent_enough(app_configs=None, databases=None, **kwargs) -> list[Error]:
    errors = []
    for alias in databases or []:
        if connections[alias].vendor == "sqlite" and sqlite3.sqlite_version_info < MIN_SQLITE:
            errors.append(
                Error(
                    f"SQLite {sqlite3.sqlite_version} is too old: Tracepoint needs {'.'.join(map(str, MIN_SQLITE))} "
                    "or newer (RETURNING, UPDATE … FROM), or PostgreSQL.",
                    id="events.E001",
                )
            )
    return errors
