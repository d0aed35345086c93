"""Live tiles are pushed through the workspace websocket; the weekly summary goes by email."""

from __future__ import annotations

import pytest
from django.core import mail

from kefu.analytics.summary import send_weekly_summary
from kefu.conversations import actions
from kefu.core.realtime import ADMIN_GROUP, team_group
from kefu.staff.models import AgentProfile
from tests.factories import make_agent

pytestmark = pytest.mark.django_db


def test_a_new_conversation_tells_dashboards_to_refresh_tiles(
    monkeypatch, customer, team_x, commit
):
    sent = []
    monkeypatch.setattr(
        "kefu.core.realtime.publish", lambda groups, msg: sent.append((groups, msg))
    )
    with commit():
        actions.open_conversation(
            customer=customer, channel="web", subject="s", body_text="q", team=team_x
        )
    frames = [(g, m) for g, m in sent if m.get("frame", {}).get("op") == "tiles"]
    assert frames == [
        (
            [ADMIN_GROUP, team_group(team_x.pk)],
            {"type": "workspace.frame", "frame": {"op": "tiles"}},
        )
    ]


def test_weekly_summary_reaches_supervisors(customer, team_x):
    boss = make_agent("boss2", role=AgentProfile.Role.SUPERVISOR)
    boss.email = "boss@example.cn"
    boss.save()
    plain = make_agent("plain", team_x)  # agents get no summary
    plain.email = "plain@example.cn"
    plain.save()
    actions.open_conversation(customer=customer, channel="web", subject="s", body_text="q")
    assert send_weekly_summary() == 1
    assert mail.outbox[0].to == ["boss@example.cn"]
    assert "kefu" in mail.outbox[0].subject
