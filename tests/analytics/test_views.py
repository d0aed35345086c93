"""Dashboards, drill-down and exports: who sees what, and the files they get."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from openpyxl import load_workbook

from kefu.analytics.models import CustomerValue, Order
from kefu.analytics.rollups import rebuild
from kefu.analytics.value import refresh_values
from kefu.conversations import actions
from kefu.staff.models import AgentProfile
from tests.factories import CustomerFactory, make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(team_x, team_y, agent_x, agent_y, customer):
    for team, subject, n in ((team_x, "X 的问题", 2), (team_y, "Y 的问题", 3)):
        for i in range(n):
            actions.open_conversation(
                customer=customer,
                channel="email",
                subject=f"{subject} {i}",
                body_text="q",
                team=team,
            )
    rebuild()
    return {"x": team_x, "y": team_y}


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_manager_sees_every_team(world, admin_user):
    r = client_for(admin_user).get("/analytics/?period=7d")
    assert r.status_code == 200
    assert r.context["fig"]["created"] == 5
    assert r.context["audience"] == "manager"


def test_agent_sees_their_teams_figures_only(world, agent_x):
    c = client_for(agent_x)
    for audience in ("manager", "agent", "supervisor"):
        r = c.get(f"/analytics/?period=7d&audience={audience}")
        assert r.status_code == 200
    r = c.get("/analytics/?period=7d&audience=manager")
    assert r.context["fig"]["created"] == 2
    # Asking for the other team falls back to their own.
    r = c.get(f"/analytics/?period=7d&audience=manager&team={world['y'].pk}")
    assert r.context["fig"]["created"] == 2
    assert "Team Y" not in [name for _pk, name in r.context["teams"]]
    drill = c.get(f"/analytics/conversations/?period=7d&metric=created&team={world['y'].pk}")
    subjects = [conv.subject for conv in drill.context["page"]]
    assert subjects and all(s.startswith("X") for s in subjects)
    rows = list(csv.reader(io.StringIO(c.get("/analytics/export?report=team").content.decode())))
    assert [r[0] for r in rows[1:]] == ["Team X"]


def test_drill_down_lists_the_conversations_behind_a_figure(world, admin_user):
    r = client_for(admin_user).get(f"/analytics/conversations/?period=7d&team={world['y'].pk}")
    assert r.context["page"].paginator.count == 3
    r = client_for(admin_user).get("/analytics/conversations/?period=7d&metric=resolved")
    assert r.context["page"].paginator.count == 0


def test_exports(world, admin_user):
    c = client_for(admin_user)
    r = c.get("/analytics/export?period=7d&report=summary&format=csv")
    assert r["Content-Type"].startswith("text/csv")
    rows = dict(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows["created"] == "5"
    r = c.get("/analytics/export?period=7d&report=channel&format=xlsx")
    sheet = load_workbook(io.BytesIO(r.content)).active
    label, created = [cell.value for cell in sheet[2]][:2]
    assert label in ("Email", "电子邮件") and created == 5


def test_churn_risk_with_reasons(world, admin_user, customer, agent_x):
    from django.utils import timezone

    Order.objects.create(customer=customer, amount=5000, ordered_at=timezone.now())
    complaint = actions.open_conversation(
        customer=customer, channel="web", subject="投诉", body_text="坏了", team=world["x"]
    )
    actions.set_kind(complaint, actor=agent_x, kind="complaint")
    other = CustomerFactory(name="李四")
    Order.objects.create(customer=other, amount=100, ordered_at=timezone.now())
    rebuild()
    refresh_values()
    value = CustomerValue.objects.get(pk=customer.pk)
    # Six conversations this month and none before: contacting us more often, too.
    assert value.reasons == ["open_complaint", "rising_contacts"]
    assert CustomerValue.objects.get(pk=other.pk).churn_score == 0
    r = client_for(admin_user).get("/analytics/")
    assert r.context["churn"][0]["customer"] == customer
    assert r.context["pareto"]["customers"] == 2
    assert "未解决的投诉" in r.content.decode() or "Unresolved complaint" in r.content.decode()


def test_pages_work_without_the_chart_library(world, admin_user, monkeypatch):
    monkeypatch.setattr("kefu.analytics.views.charts_available", lambda: False)
    r = client_for(admin_user).get("/analytics/")
    assert b"echarts.min.js" not in r.content
    assert b"<table" in r.content


def test_supervisor_live_tiles(world, team_x):
    boss = make_agent("sup", role=AgentProfile.Role.SUPERVISOR)
    r = client_for(boss).get("/analytics/?audience=supervisor")
    assert r.context["tiles"]["queue"] == 5
    r = client_for(boss).get("/analytics/tiles")
    assert b'data-tile="queue">5<' in r.content


def test_missed_chats_tile_without_any_chat_wait_says_so(world, admin_user):
    """The world has email conversations only: no chat waited, so no median to show."""
    from django.utils import translation

    r = client_for(admin_user).get("/analytics/?period=7d")
    assert r.context["fig"]["chat_wait_median"] is None
    page = r.content.decode()  # the default language: simplified Chinese
    assert "暂无等待时间" in page
    assert "等待中位数 — 秒" not in page  # was "wait median — s"
    with translation.override("en"):
        assert translation.gettext("no wait times yet") == "no wait times yet"
    with translation.override("zh-hant"):
        assert translation.gettext("no wait times yet") == "暫無等待時間"
