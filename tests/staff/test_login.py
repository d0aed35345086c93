"""Sign-in, throttling, password reset, sign-out and the agent's own preferences."""

from __future__ import annotations

import re
import zoneinfo
from types import SimpleNamespace

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from kefu.core import ratelimit
from kefu.staff.models import AgentProfile
from tests.factories import PASSWORD, make_conversation

TOKENS = re.compile(r'(?:name="csrfmiddlewaretoken" value="|"X-CSRFToken": ")([^"]+)"')


def normalized(response, username: str) -> str:
    """The page without its per-response CSRF token values and the echoed username."""
    body = response.content.decode()
    tokens = TOKENS.findall(body)
    assert tokens, "expected a CSRF token in the page"
    for token in tokens:
        body = body.replace(token, "CSRF")
    return body.replace(f'value="{username}"', 'value="USERNAME"')


@pytest.fixture(autouse=True)
def _frozen_rate_window(monkeypatch):
    """Keep every attempt of a test in one rate-limit window."""
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: 1_000_000.0))


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_login_works(client, agent_x):
    response = client.get("/login/")
    assert response.status_code == 200
    response = client.post("/login/", {"username": "agent.x", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(agent_x.pk)
    assert client.get("/inbox/").status_code == 200


def test_login_follows_safe_next_only(client, agent_x):
    response = client.post(
        "/login/?next=/customers/",
        {"username": "agent.x", "password": PASSWORD, "next": "/customers/"},
    )
    assert response["Location"] == "/customers/"
    client.post("/logout/")
    response = client.post(
        "/login/", {"username": "agent.x", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_wrong_password_and_unknown_user_look_the_same(agent_x):
    wrong = Client().post("/login/", {"username": "agent.x", "password": "nope"})
    unknown = Client().post("/login/", {"username": "ghost.user", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 200
    assert normalized(wrong, "agent.x") == normalized(unknown, "ghost.user")
    assert 'role="alert"' in wrong.content.decode()


def test_login_rate_limit(settings, agent_x):
    settings.KEFU_LOGIN_RATE = (3, 60)
    client = Client()
    for _ in range(3):
        response = client.post("/login/", {"username": "agent.x", "password": "nope"})
        assert response.status_code == 200
    # the right password no longer helps, whatever the case of the username
    response = client.post("/login/", {"username": "AGENT.X", "password": PASSWORD})
    assert response.status_code == 429
    assert not logged_in(client)
    assert 'role="alert"' in response.content.decode()
    # another user from the same address is not locked out by agent.x's attempts
    response = client.post("/login/", {"username": "someone.else", "password": "nope"})
    assert response.status_code == 200


def test_login_rate_limit_per_address(settings, agent_x):
    settings.KEFU_LOGIN_RATE = (2, 60)  # per address: 2 × 5 = 10 attempts
    client = Client()
    statuses = [
        client.post("/login/", {"username": f"guess{i}", "password": "x"}).status_code
        for i in range(11)
    ]
    assert statuses == [200] * 10 + [429]
    other_address = Client(REMOTE_ADDR="10.0.0.9")
    response = other_address.post("/login/", {"username": "agent.x", "password": PASSWORD})
    assert response.status_code == 302


def test_login_rate_limit_resets_in_the_next_window(settings, monkeypatch, agent_x):
    settings.KEFU_LOGIN_RATE = (1, 60)
    client = Client()
    client.post("/login/", {"username": "agent.x", "password": "nope"})
    assert client.post("/login/", {"username": "agent.x", "password": PASSWORD}).status_code == 429
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: 1_000_000.0 + 61))
    assert client.post("/login/", {"username": "agent.x", "password": PASSWORD}).status_code == 302


def test_password_reset_does_not_reveal_accounts(client, agent_x):
    known = client.post("/password-reset/", {"email": "AGENT.X@example.com"})
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["agent.x@example.com"]
    assert "/reset/" in mail.outbox[0].body
    unknown = client.post("/password-reset/", {"email": "nobody@example.com"})
    assert len(mail.outbox) == 1
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/password-reset/done/"


def test_logout_requires_post(client_x_logged):
    client = client_x_logged
    assert client.get("/logout/").status_code == 405
    assert logged_in(client)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert not logged_in(client)
    assert client.get("/inbox/").status_code == 302


@pytest.fixture
def client_x_logged(agent_x):
    client = Client()
    client.force_login(agent_x)
    return client


def html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]+)">', response.content.decode())
    assert match, "no <html lang=…>"
    return match.group(1)


def test_language_switch(client_x_logged, agent_x):
    client = client_x_logged
    assert html_lang(client.get("/inbox/")) == "zh-hans"
    response = client.post("/me/language/", {"language": "en", "next": "/inbox/"})
    assert response.status_code == 302
    assert response["Location"] == "/inbox/"
    assert AgentProfile.objects.get(user=agent_x).language == "en"
    page = client.get("/inbox/")
    assert html_lang(page) == "en"
    assert "Inbox" in page.content.decode()
    # a fresh session of the same agent keeps the choice (it is stored on the profile)
    other = Client()
    other.force_login(agent_x)
    assert html_lang(other.get("/customers/")) == "en"
    client.post("/me/language/", {"language": "zh-hant", "next": "/inbox/"})
    assert html_lang(client.get("/inbox/")) == "zh-hant"


def test_language_switch_ignores_unknown_language_and_foreign_next(client_x_logged, agent_x):
    client = client_x_logged
    response = client.post("/me/language/", {"language": "klingon", "next": "//evil.example/"})
    assert response["Location"] == "/"
    assert AgentProfile.objects.get(user=agent_x).language == ""
    assert client.get("/me/language/").status_code == 405


@pytest.mark.parametrize("next_url", ["/\\evil.example/", "/\t/evil.example/"])
def test_language_switch_is_no_open_redirect(client_x_logged, next_url):
    """Browsers read "/\\host" and "/<tab>/host" as "//host"; the Location must stay on-site."""
    response = client_x_logged.post("/me/language/", {"language": "en", "next": next_url})
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/")
    assert not location.startswith("//")
    assert "\\" not in location
    assert "\t" not in location


def test_profile_saves_time_zone(client_x_logged, agent_x, team_x):
    client = client_x_logged
    conversation = make_conversation(team=team_x, subject="Time check")
    message = conversation.messages.get()
    response = client.post(
        "/me/",
        {
            "display_name": "Agent Xie",
            "language": "",
            "timezone": "America/New_York",
            "signature": "Best, X",
            "presence": "online",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/me/"
    profile = AgentProfile.objects.get(user=agent_x)
    assert (profile.timezone, profile.display_name, profile.presence) == (
        "America/New_York",
        "Agent Xie",
        "online",
    )
    assert '<option value="America/New_York" selected>' in client.get("/me/").content.decode()
    # pages now show times in that zone
    local = timezone.localtime(message.created_at, zoneinfo.ZoneInfo("America/New_York"))
    html = client.get(f"/c/{conversation.pk}/").content.decode()
    assert local.strftime("%m-%d %H:%M") in html


def test_profile_refuses_unknown_time_zone(client_x_logged, agent_x):
    response = client_x_logged.post("/me/", {"timezone": "Mars/Olympus", "presence": "online"})
    assert response.status_code == 200
    assert AgentProfile.objects.get(user=agent_x).timezone == ""
