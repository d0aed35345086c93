"""``kefu rules #123``: the rules' test mode on the command line (nothing is changed)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kefu.conversations.models import Conversation
from kefu.service.automation import explain


class Command(BaseCommand):
    help = "Show which routing and automation rules would act on a conversation, and why."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("conversation", help="its number, e.g. 123 or #123")

    def handle(self, *args: Any, **options: Any) -> None:
        raw = str(options["conversation"]).strip().lstrip("#")
        if not raw.isdigit():
            raise CommandError(f"not a conversation number: {raw[:20]!r}")
        conversation = (
            Conversation.objects.select_related("customer", "team").filter(pk=int(raw)).first()
        )
        if conversation is None:
            raise CommandError(f"no conversation #{raw}")
        self.stdout.write(f"{conversation.reference} {conversation.subject}")
        for group, reports in explain(conversation).items():
            self.stdout.write(f"\n[{group}]" + ("" if reports else " no active rules"))
            for report in reports:
                verdict = (
                    "FIRES" if report.fires else ("matched, stopped" if report.matched else "no")
                )
                self.stdout.write(f"  {report.rule.position}. {report.rule.name}: {verdict}")
                for check in report.checks:
                    mark = "ok " if check.ok else "NOT"
                    self.stdout.write(f"      {mark} {check.condition}: {check.detail}")
                if report.actions:
                    self.stdout.write(f"      then: {'; '.join(report.actions)}")
