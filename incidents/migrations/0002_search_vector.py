from django.db import migrations

FORWARD = [
    """
    ALTER TABLE incidents_incident ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(summary, '')), 'B')
    ) STORED
    """,
    "CREATE INDEX incident_search_gin ON incidents_incident USING gin (search_vector) WHERE deleted_at IS NULL",
]
BACKWARD = [
    "DROP INDEX IF EXISTS incident_search_gin",
    "ALTER TABLE incidents_incident DROP COLUMN IF EXISTS search_vector",
]


def _run(statements):
    def run(apps, schema_editor):
        # Full-text search is a PostgreSQL feature; SQLite uses a plain LIKE fallback.
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    """A generated, weighted tsvector (title A, summary B) with a GIN index.

    Not a model field: the database keeps it current, and IncidentQuerySet.search
    queries it with websearch_to_tsquery and ranks with ts_rank.
    """

    dependencies = [("incidents", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
