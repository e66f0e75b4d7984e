from django.db import migrations


def set_fillfactor(apps, schema_editor):
    # Room on each page for the new version of a row: a heartbeat ping updates
    # last_ping_at in place (a HOT update) instead of touching every index.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE monitors_monitor SET (fillfactor = 80)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE monitors_monitor RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("monitors", "0003_rollup_blocks")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
