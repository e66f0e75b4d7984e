"""PostgreSQL: events' data compressed with lz4 rather than pglz, and received bodies never compressed again.

Every stored event's ``data`` (about 4.6 KB of JSON for a typical SDK error) is over the TOAST threshold,
so PostgreSQL compresses each one as digestion writes it. pglz took about 110 µs of the server's CPU per
event against about 50 µs for lz4 (5,000 bench events: 530-580 ms against 250-260 ms), for rows a tenth
bigger. A received body is nearly always the SDK's gzip or brotli (sentry-sdk compresses by default), which a
second compression only costs CPU for; one sent uncompressed is kept as it came for the seconds until
digestion reads and deletes it.

Only on PostgreSQL 14 and later (column compression came in 14) built with lz4, as the project's images
and Debian's packages are; elsewhere nothing changes. Rows already stored keep their compression until
rewritten."""

from django.db import migrations

LZ4 = "ALTER TABLE events_event ALTER COLUMN data SET COMPRESSION lz4"
DEFAULT = "ALTER TABLE events_event ALTER COLUMN data SET COMPRESSION default"
EXTERNAL = "ALTER TABLE events_receivedevent ALTER COLUMN body SET STORAGE EXTERNAL"
EXTENDED = "ALTER TABLE events_receivedevent ALTER COLUMN body SET STORAGE EXTENDED"


def _run(schema_editor, *statements: str) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    for sql in statements:
        if "COMPRESSION" in sql and (connection.pg_version < 140000 or not _has_lz4(connection)):
            continue
        schema_editor.execute(sql)


def _has_lz4(connection) -> bool:
    """Whether this server was built with lz4 (the setting's accepted values say so)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cursor.fetchone()
    return bool(row) and "lz4" in (row[0] or [])


def forwards(apps, schema_editor):
    _run(schema_editor, LZ4, EXTERNAL)


def backwards(apps, schema_editor):
    _run(schema_editor, DEFAULT, EXTENDED)


class Migration(migrations.Migration):
    dependencies = [("events", "0011_received_events")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
