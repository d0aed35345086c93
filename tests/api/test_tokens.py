from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from kefu.api.models import ApiToken
from kefu.api.tokens import authenticate_token, create_token, hash_key
from tests.factories import UserFactory


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_token_is_stored_hashed_and_authenticates(agent_x):
    key = create_token(agent_x, name="CRM sync")
    assert key.startswith("kefu_") and len(key) > 40
    token = ApiToken.objects.get()
    assert token.key_hash == hash_key(key) != key
    assert token.key_prefix == key[:8]
    assert token.name == "CRM sync"
    assert key not in {token.key_hash, token.key_prefix, token.name}
    assert authenticate_token(key) == agent_x


@pytest.mark.parametrize("key", ["", "kefu_nope", "x" * 10_000])
def test_unknown_keys_do_not_authenticate(agent_x, key):
    create_token(agent_x)
    assert authenticate_token(key) is None


def test_inactive_users_do_not_authenticate(agent_x):
    key = create_token(agent_x)
    agent_x.is_active = False
    agent_x.save(update_fields=["is_active"])
    assert authenticate_token(key) is None


def test_last_used_is_written_at_most_once_a_minute(agent_x, django_assert_num_queries):
    key = create_token(agent_x)
    with django_assert_num_queries(2):  # look-up + stamp
        authenticate_token(key)
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # look-up only
        authenticate_token(key)
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=first - timedelta(minutes=2))
    authenticate_token(key)
    assert ApiToken.objects.get().last_used_at > first - timedelta(seconds=1)
    assert ApiToken.objects.get().last_used_at <= timezone.now()


def test_command_prints_only_the_token(agent_x):
    out, _ = run("create", "agent.x", "--name", "zapier")
    key = out.strip()
    assert out == key + "\n" and key.startswith("kefu_")
    assert authenticate_token(key) == agent_x
    assert ApiToken.objects.get().name == "zapier"


def test_command_refuses_unknown_users(db):
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        run("create", "ghost")
    assert not ApiToken.objects.exists()


def test_command_warns_when_the_user_is_not_an_agent(db):
    UserFactory(username="visitor")
    out, err = run("create", "visitor")
    assert out.strip().startswith("kefu_")
    assert "not an agent" in err


def test_command_lists_and_revokes(agent_x):
    key = create_token(agent_x, name="old")
    token = ApiToken.objects.get()
    out, _ = run("list", "agent.x")
    assert token.key_prefix in out and "old" in out and key not in out
    run("revoke", str(token.pk))
    assert authenticate_token(key) is None
    with pytest.raises(CommandError, match="no token"):
        run("revoke", str(token.pk))
