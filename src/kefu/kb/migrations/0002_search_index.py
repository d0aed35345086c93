"""The search index: an FTS5 table over kb_searchentry on SQLite (kept in step by triggers), a
weighted tsvector column with a GIN index on PostgreSQL. Other databases get neither."""

from django.db import migrations

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE kb_search_fts USING fts5("
    "title_tokens, body_tokens, content='kb_searchentry', content_rowid='id')",
    "CREATE TRIGGER kb_search_fts_ai AFTER INSERT ON kb_searchentry BEGIN"
    " INSERT INTO kb_search_fts(rowid, title_tokens, body_tokens)"
    " VALUES (new.id, new.title_tokens, new.body_tokens); END",
    "CREATE TRIGGER kb_search_fts_ad AFTER DELETE ON kb_searchentry BEGIN"
    " INSERT INTO kb_search_fts(kb_search_fts, rowid, title_tokens, body_tokens)"
    " VALUES ('delete', old.id, old.title_tokens, old.body_tokens); END",
    "CREATE TRIGGER kb_search_fts_au AFTER UPDATE ON kb_searchentry BEGIN"
    " INSERT INTO kb_search_fts(kb_search_fts, rowid, title_tokens, body_tokens)"
    " VALUES ('delete', old.id, old.title_tokens, old.body_tokens);"
    " INSERT INTO kb_search_fts(rowid, title_tokens, body_tokens)"
    " VALUES (new.id, new.title_tokens, new.body_tokens); END",
    "INSERT INTO kb_search_fts(kb_search_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS kb_search_fts_ai",
    "DROP TRIGGER IF EXISTS kb_search_fts_ad",
    "DROP TRIGGER IF EXISTS kb_search_fts_au",
    "DROP TABLE IF EXISTS kb_search_fts",
]
# Tokens are already normalized and segmented by kefu.kb.text, so the 'simple' configuration
# (split on spaces, lower-case, no stemming, no stop words) is the right one.
POSTGRES_FORWARD = [
    "ALTER TABLE kb_searchentry ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple', coalesce(title_tokens, '')), 'A') || "
    "setweight(to_tsvector('simple', coalesce(body_tokens, '')), 'B')) STORED",
    "CREATE INDEX kb_searchentry_vector ON kb_searchentry USING gin (search_vector)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS kb_searchentry_vector",
    "ALTER TABLE kb_searchentry DROP COLUMN IF EXISTS search_vector",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("kb", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        ),
    ]
