"""``kefu analytics rebuild``: recompute facts, rollups, customer value and terms from source."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Analytics: rebuild (recompute every rollup from source), values, terms, summary."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("what", choices=["rebuild", "values", "terms", "summary"])
        parser.add_argument("--weeks", type=int, default=26, help="weeks of trending terms")

    def handle(self, *args: Any, what: str, weeks: int, **options: Any) -> None:
        from kefu.analytics import rollups, terms, value

        started = time.perf_counter()
        if what == "rebuild":
            counts = rollups.rebuild()
            self.stdout.write(f"facts {counts['facts']}, rollup rows {counts['rollups']}")
            self.stdout.write(f"customer values {value.refresh_values()}")
            self.stdout.write(f"term rows {terms.rebuild(weeks)}")
        elif what == "values":
            self.stdout.write(f"customer values {value.refresh_values()}")
        elif what == "terms":
            self.stdout.write(f"term rows {terms.rebuild(weeks)}")
        else:
            from kefu.analytics.summary import send_weekly_summary

            self.stdout.write(f"sent to {send_weekly_summary()} people")
        self.stdout.write(f"done in {time.perf_counter() - started:.1f} s")
