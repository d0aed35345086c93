"""SQLite: words' first characters indexed, and the index's vocabulary as a table.

As-you-type suggestions search the last word as a prefix. FTS5 matched a one-character prefix
("贷"*, "为"*) by merging the posting lists of every word it begins, in each query that held
it; with ``prefix='1'`` those prefixes have posting lists of their own (the FTS table is made
again and rebuilt, a few seconds at 100,000 articles). Two characters too (``'1 2'``) saved a
little more at twice the write cost (index build 3.9x, ``index_article`` 4.4x slower, against
2.2x and 2.4x), so they are not indexed. ``kb_search_vocab`` (fts5vocab, stores nothing)
says how many entries hold each word: the planner sums it over a prefix's words to estimate
its count (kefu.kb.search._Sqlite.count). Other databases get nothing."""

from django.db import migrations

FTS = (
    "CREATE VIRTUAL TABLE kb_search_fts USING fts5("
    "title_tokens, body_tokens, content='kb_searchentry', content_rowid='id'{options})"
)
REBUILD = [
    "INSERT INTO kb_search_fts(kb_search_fts) VALUES ('rebuild')",
    "INSERT INTO kb_search_fts(kb_search_fts) VALUES ('optimize')",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    # The triggers of kb/0002 name the table, so they keep feeding the new one.
    schema_editor.execute("DROP TABLE IF EXISTS kb_search_fts")
    schema_editor.execute(FTS.format(options=", prefix='1'"))
    for sql in REBUILD:
        schema_editor.execute(sql)
    schema_editor.execute(
        "CREATE VIRTUAL TABLE kb_search_vocab USING fts5vocab(kb_search_fts, 'row')"
    )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    schema_editor.execute("DROP TABLE IF EXISTS kb_search_vocab")
    schema_editor.execute("DROP TABLE IF EXISTS kb_search_fts")
    schema_editor.execute(FTS.format(options=""))
    for sql in REBUILD:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("kb", "0006_search_index_no_pending_list")]

    operations = [migrations.RunPython(forward, backward)]
