from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kefu.core.errors import ActionError
from kefu.staff.offboarding import deactivate_agent


class Command(BaseCommand):
    help = (
        "Deactivate an agent and hand their open conversations and customers to a colleague "
        "(--to) or back to their teams. History keeps their name."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--to", dest="successor", default="", help="colleague's username")

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        try:
            agent = User.objects.get(username=options["username"])
            successor = (
                User.objects.get(username=options["successor"]) if options["successor"] else None
            )
        except User.DoesNotExist as exc:
            raise CommandError(f"no such user: {exc}") from exc
        try:
            moved = deactivate_agent(agent, actor=None, successor=successor)
        except ActionError as exc:
            raise CommandError(str(exc)) from exc
        target = successor.get_username() if successor else "their teams"
        self.stdout.write(
            f"{agent} deactivated; {len(moved)} open conversations handed to {target}"
        )
