"""``kefu loaddemo``: load the demo help desk (teams, agents, customers, conversations) once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from kefu.conversations.models import Conversation
from kefu.customers.models import Customer
from kefu.demo import DEMO_USERNAME, PASSWORD, load_demo
from kefu.staff.models import AgentProfile, Team


class Command(BaseCommand):
    help = "Load the demo data (idempotent: does nothing if the user 'demo' exists)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not load_demo():
            self.stdout.write(
                f"The demo data is already loaded (user {DEMO_USERNAME!r} exists); nothing changed."
            )
            return
        demo_user = get_user_model()._default_manager.get(username=DEMO_USERNAME)
        agents = AgentProfile.objects.exclude(user=demo_user).select_related("user")
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded the demo: {Team.objects.count()} teams, {agents.count() + 1} agents, "
                f"{Customer.objects.count()} customers, "
                f"{Conversation.objects.count()} conversations."
            )
        )
        self.stdout.write(
            f"Sign in as {DEMO_USERNAME} / {PASSWORD} (supervisor); agents "
            f"{', '.join(sorted(a.user.get_username() for a in agents))} use the same password."
        )
