"""``kefu token create USERNAME [--name N]``: print a new API token (and only the token)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kefu.api.models import ApiToken
from kefu.api.tokens import create_token, revoke_token
from kefu.staff.access import agent_profile


class Command(BaseCommand):
    help = "Create, list or revoke API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="print a new token for USERNAME")
        create.add_argument("username")
        create.add_argument("--name", default="", help="what the token is for")
        listing = actions.add_parser("list", help="list tokens (of USERNAME, or everyone's)")
        listing.add_argument("username", nargs="?")
        revoke = actions.add_parser("revoke", help="delete the token with this id (see list)")
        revoke.add_argument("id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            self.create(options["username"], options["name"])
        elif action == "list":
            self.list(options["username"])
        else:
            self.revoke(options["id"])

    def create(self, username: str, name: str) -> None:
        user = _user(username)
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive; a token would not work")
        if agent_profile(user) is None:
            self.stderr.write(
                f"warning: {username!r} is not an agent; the API will answer 403 to this token"
            )
        # stdout carries the token alone, so `TOKEN=$(kefu token create alice)` works.
        self.stdout.write(create_token(user, name=name))

    def list(self, username: str | None) -> None:
        tokens = ApiToken.objects.select_related("user").order_by("user__username", "created_at")
        if username:
            tokens = tokens.filter(user=_user(username))
        for token in tokens:
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            self.stdout.write(
                f"{token.pk}\t{token.key_prefix}…\t{token.user.get_username()}\t{token.name}\t"
                f"created {token.created_at:%Y-%m-%d}\tlast used {used}"
            )

    def revoke(self, token_id: int) -> None:
        if not revoke_token(token_id):
            raise CommandError(f"no token with id {token_id}")
        self.stderr.write(f"revoked token {token_id}")


def _user(username: str) -> Any:
    user_model = get_user_model()
    try:
        return user_model._default_manager.get_by_natural_key(username)
    except user_model.DoesNotExist as exc:
        raise CommandError(f"no user named {username!r}") from exc
