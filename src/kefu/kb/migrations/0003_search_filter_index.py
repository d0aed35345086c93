"""SQLite: a narrow covering index over the search entries' filter columns, so ranking a match
reads (public, language, article) from a few megabytes instead of the wide entry rows.
PostgreSQL reads the same columns from the heap rows it already visits, so it gets none."""

from django.db import migrations

SQLITE_FORWARD = [
    "CREATE INDEX kb_searchentry_filter ON kb_searchentry(id, public, language, article_id)",
]
SQLITE_BACKWARD = ["DROP INDEX IF EXISTS kb_searchentry_filter"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("kb", "0002_search_index")]

    operations = [
        migrations.RunPython(_run({"sqlite": SQLITE_FORWARD}), _run({"sqlite": SQLITE_BACKWARD})),
    ]
