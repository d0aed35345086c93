"""PostgreSQL: the search column's GIN index without a pending list (``fastupdate = off``).

With the default ``fastupdate = on``, every entry written since the last VACUUM waits in the
index's pending list (up to ``gin_pending_list_limit``, 4 MB), and every search reads that whole
list before the index proper: after 500 articles re-indexed one by one at 100,000 articles,
439 pending pages took a search's ranked read from 7 to 16 ms on average, and a term count from
under a millisecond to 3 ms (bench/search_speed.py). Knowledge-base writes are few and
interactive, so each goes into the index at once instead; the list left behind is merged now.
"""

from django.db import migrations


def _fastupdate(on: bool):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(
            f"ALTER INDEX kb_searchentry_vector SET (fastupdate = {'on' if on else 'off'})"
        )
        if not on:
            schema_editor.execute("SELECT gin_clean_pending_list('kb_searchentry_vector')")

    return run


class Migration(migrations.Migration):
    dependencies = [("kb", "0005_search_vector_statistics")]

    operations = [migrations.RunPython(_fastupdate(False), _fastupdate(True))]
