"""`kefu kb …`: the knowledge base on the command line.

kefu kb reindex                              (rebuild the search index of every published article)
kefu kb search QUERY [--lang L] [--internal] [--limit N] [--json]

Each subcommand is one ``add_parser`` in ``add_arguments`` and one ``_<name>`` method here.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Knowledge base: rebuild the search index, search from the shell."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        sub.add_parser("reindex", help="rebuild the search index of every published article")
        search = sub.add_parser("search", help="search published articles")
        search.add_argument("query")
        search.add_argument("--lang", default=None, help="the reader's language (zh-hans, en…)")
        search.add_argument("--internal", action="store_true", help="include internal articles")
        search.add_argument("--limit", type=int, default=10)
        search.add_argument("--json", action="store_true", help="print JSON")

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
