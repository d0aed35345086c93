"""PostgreSQL: ANALYZE keeps the 10,000 most common lexemes of the search column (the default
keeps 1,000), so the search planner estimates every frequent word from the statistics and only
counts words rare enough to count cheaply (kb/search.py, ``_common_estimate``)."""

from django.db import migrations


def _statistics(target: int):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"ALTER TABLE kb_searchentry ALTER COLUMN search_vector SET STATISTICS {target}"
            )

    return run


class Migration(migrations.Migration):
    dependencies = [("kb", "0004_search_entry_per_phrasing")]

    operations = [migrations.RunPython(_statistics(1000), _statistics(-1))]
