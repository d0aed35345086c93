"""`kefu kb …`: the knowledge base on the command line.

kefu kb reindex                              (rebuild the search index of every published article)
kefu kb search QUERY [--lang L] [--internal] [--limit N] [--json]
kefu kb import FILE [--draft] [--lang L]     (FAQ spreadsheet, CSV or XLSX: all rows or none)
kefu kb export [FILE]                        (every article as CSV; stdout without FILE)

Each subcommand is one ``add_parser`` in ``add_arguments`` and one ``_<name>`` method here.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Knowledge base: rebuild the search index, search, import and export FAQ files."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        sub.add_parser("reindex", help="rebuild the search index of every published article")
        search = sub.add_parser("search", help="search published articles")
        search.add_argument("query")
        search.add_argument("--lang", default=None, help="the reader's language (zh-hans, en…)")
        search.add_argument("--internal", action="store_true", help="include internal articles")
        search.add_argument("--limit", type=int, default=10)
        search.add_argument("--json", action="store_true", help="print JSON")
        load = sub.add_parser("import", help="import an FAQ spreadsheet (CSV or XLSX)")
        load.add_argument("file")
        load.add_argument("--draft", action="store_true", help="import as drafts")
        load.add_argument("--lang", default="zh-hans", help="language of rows without one")
        export = sub.add_parser("export", help="export every article as CSV")
        export.add_argument("file", nargs="?", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['what']}")(options)

    def _reindex(self, options: dict[str, Any]) -> None:
        from kefu.kb.search import reindex

        self.stdout.write(f"indexed {reindex()} published articles")

    def _search(self, options: dict[str, Any]) -> None:
        from kefu.kb.search import search

        hits = search(
            options["query"],
            language=options["lang"],
            public_only=not options["internal"],
            limit=options["limit"],
        )
        if options["json"]:
            rows = [
                {"id": h.article_id, "score": h.score, "title": h.title, "snippet": h.snippet}
                for h in hits
            ]
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        if not hits:
            self.stdout.write("no results")
        for h in hits:
            self.stdout.write(f"{h.article_id:>8}  {h.score:8.3f}  {h.title}")

    def _import(self, options: dict[str, Any]) -> None:
        from pathlib import Path

        from django.core.management.base import CommandError

        from kefu.kb.importer import ImportRefused, import_faq

        path = Path(options["file"])
        try:
            result = import_faq(
                path.name,
                path.read_bytes(),
                actor=None,
                publish=not options["draft"],
                default_language=options["lang"],
            )
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        except ImportRefused as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(f"nothing imported: {len(exc.errors)} error(s)") from exc
        self.stdout.write(
            f"imported {result.created} new, {result.updated} updated, "
            f"{result.unchanged} unchanged; new categories: {', '.join(result.categories) or '-'}"
        )

    def _export(self, options: dict[str, Any]) -> None:
        from pathlib import Path

        from kefu.kb.importer import export_csv

        text = export_csv()
        if options["file"]:
            Path(options["file"]).write_text(text, encoding="utf-8-sig")
        else:
            self.stdout.write(text, ending="")
