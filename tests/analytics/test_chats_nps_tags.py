"""Live chat figures (wait, missed, chats at once per agent), NPS and the product/tag filter,
each against a hand-computed fixture (Asia/Shanghai days, wall-clock minutes: no calendar).

Chats of agent X on Monday 2 March 2026:
  c1 queued 09:59:40, accepted 10:00 (wait 20 s), ended 10:30
  c2 queued 10:09:20, accepted 10:10 (wait 40 s), ended 10:20
  c3 queued 10:24:10, accepted 10:25 (wait 50 s), ended 11:00
  c4 queued 23:29:00, accepted 23:30 (wait 60 s), ended Tue 00:30
  c5 queued 12:00, never accepted, ended 12:05 (missed)
Monday: 4 chats accepted; chat time 30 + 10 + 35 + 30 = 105 min; busy 10:00–11:00 and
23:30–24:00 = 90 min; at once on average 105 / 90 = 1.17; peak 2 (10:10–10:20, 10:25–10:30).
Tuesday: none accepted; 30 min chatting, 30 busy; average 1; peak 1.
Waits [20, 40, 50, 60]: median 40 (nearest rank), P90 60; missed 1 of 5 chats.

NPS answers in March: 10, 9, 7, 3 → 2 promoters, 1 detractor of 4: NPS 25.
"""

from __future__ import annotations

import csv
import io
import zoneinfo
from datetime import date, datetime

import pytest
from django.http import QueryDict
from django.test import Client

from kefu.analytics import chatload
from kefu.analytics.filters import Filters
from kefu.analytics.metrics import report
from kefu.analytics.models import AgentChatLoad
from kefu.analytics.rollups import rebuild, recompute, refresh, stored
from kefu.care.models import Survey
from kefu.conversations import actions
from kefu.conversations.models import Conversation
from kefu.livechat.models import ChatSession, Visitor, Widget
from tests.analytics.test_rollups_property import assert_levels_add_up

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=SH)


def march(user, extra: str = "") -> Filters:
    return Filters.from_params(
        QueryDict("period=custom&from=2026-03-01&to=2026-03-31" + extra), user
    )


@pytest.fixture
def chats(customer, team_x, agent_x):
    widget = Widget.objects.create(name="Shop", team=team_x)
    visitor = Visitor.objects.create(widget=widget, customer=customer)
    made = []
    for queued, accepted, ended in (
        (at(2, 9, 59, 40), at(2, 10), at(2, 10, 30)),
        (at(2, 10, 9, 20), at(2, 10, 10), at(2, 10, 20)),
        (at(2, 10, 24, 10), at(2, 10, 25), at(2, 11)),
        (at(2, 23, 29), at(2, 23, 30), at(3, 0, 30)),
        (at(2, 12), None, at(2, 12, 5)),
    ):
        conversation = actions.open_conversation(
            customer=customer, channel="chat", subject="chat", body_text="在吗", team=team_x
        )
        Conversation.objects.filter(pk=conversation.pk).update(created_at=queued)
        ChatSession.objects.create(
            conversation=conversation,
            widget=widget,
            visitor=visitor,
            state=ChatSession.State.ENDED,
            agent=agent_x if accepted else None,
            queued_at=queued,
            accepted_at=accepted,
            ended_at=ended,
        )
        refresh(conversation.pk)
        made.append(conversation)
    return made


def test_chat_wait_missed_and_chats_at_once(chats, admin_user, agent_x):
    rep = report(march(admin_user))
    fig = rep.figures
    assert (fig["chats"], fig["chats_missed"], fig["missed_rate"]) == (5, 1, 20.0)
    assert (fig["chat_wait_median"], fig["chat_wait_p90"]) == (40, 60)
    monday = AgentChatLoad.objects.get(agent_id=agent_x.pk, day=date(2026, 3, 2))
    assert (monday.chats, monday.chat_seconds, monday.busy_seconds, monday.peak) == (
        4,
        105 * 60,
        90 * 60,
        2,
    )
    tuesday = AgentChatLoad.objects.get(agent_id=agent_x.pk, day=date(2026, 3, 3))
    assert (tuesday.chats, tuesday.chat_seconds, tuesday.busy_seconds, tuesday.peak) == (
        0,
        1800,
        1800,
        1,
    )
    load = rep.chat_load
    assert (load["mean"], load["peak"]) == (round(135 / 120, 2), 2)  # the month: 135 / 120 min
    by_day = dict(zip(rep.series["labels"], load["series_mean"], strict=True))
    assert by_day["2026-03-02"] == 1.17 and by_day["2026-03-03"] == 1.0
    assert by_day["2026-03-04"] is None
    assert [(a["agent_id"], a["chats"], a["peak"]) for a in load["agents"]] == [(agent_x.pk, 4, 2)]
    # By week: both days in the week of 2 March.
    weekly = report(march(admin_user, "&grain=week")).chat_load
    assert weekly["series_peak"][:2] == [None, 2]  # the week of 23 Feb (1 March) had none
    assert chatload.stored() == chatload.recompute()


def test_a_chat_that_ends_later_moves_the_load(chats, agent_x):
    c2 = chats[1]
    ChatSession.objects.filter(conversation=c2).update(ended_at=at(2, 10, 40))
    actions.set_status(Conversation.objects.get(pk=c2.pk), actor=agent_x, status="solved")
    refresh(c2.pk)
    monday = AgentChatLoad.objects.get(agent_id=agent_x.pk, day=date(2026, 3, 2))
    # c1 10:00–10:30, c2 10:10–10:40, c3 10:25–11:00: three at once from 10:25 to 10:30.
    assert (monday.peak, monday.chat_seconds) == (3, (30 + 30 + 35 + 30) * 60)
    assert chatload.stored() == chatload.recompute()
    rebuild()
    assert chatload.stored() == chatload.recompute()
    assert stored() == recompute()


def test_nps_from_care_surveys(customer, admin_user, team_x, team_y):
    customer.team = team_x
    customer.save()
    for score, day in ((10, 3), (9, 4), (7, 5), (3, 6), (0, None)):
        Survey.objects.create(
            kind=Survey.Kind.NPS,
            customer=customer,
            score=score,
            answered_at=at(day, 12) if day else at(6, 12).replace(month=4),  # April: outside
        )
    Survey.objects.create(kind=Survey.Kind.CSAT, customer=customer, score=1, answered_at=at(3, 9))
    fig = report(march(admin_user)).figures
    assert (fig["nps"], fig["nps_answers"], fig["nps_promoters"], fig["nps_detractors"]) == (
        25,
        4,
        2,
        1,
    )
    assert report(march(admin_user, f"&team={team_y.pk}")).figures["nps_answers"] == 0
    assert report(march(admin_user, "&tier=vip")).figures["nps_answers"] == 0
    # The NPS figure drills down to the detractors' conversations.
    complaint = actions.open_conversation(
        customer=customer, channel="web", subject="差评", body_text="不满意"
    )
    refresh(complaint.pk)
    c = Client()
    c.force_login(admin_user)
    page = c.get("/analytics/conversations/?period=custom&from=2026-03-01&to=2026-03-31&metric=nps")
    assert [conv.subject for conv in page.context["page"]] == ["差评"]


def test_product_tag_filter_and_breakdown(customer, team_x, agent_x, admin_user):
    robot = actions.open_conversation(
        customer=customer, channel="email", subject="扫地机器人", body_text="不充电", team=team_x
    )
    lock = actions.open_conversation(
        customer=customer, channel="chat", subject="门锁", body_text="打不开", team=team_x
    )
    both = actions.open_conversation(
        customer=customer, channel="chat", subject="都坏了", body_text="都坏了", team=team_x
    )
    actions.tag(robot, actor=agent_x, add=["扫地机器人"])
    actions.tag(lock, actor=agent_x, add=["智能门锁"])
    actions.tag(both, actor=agent_x, add=["扫地机器人", "智能门锁"])
    actions.send_reply(robot, agent=agent_x, body_text="好的", status="solved")
    for c in (robot, lock, both):
        refresh(c.pk)
    robot_tag = robot.tags.get().pk
    f = Filters.from_params(QueryDict(f"period=7d&tag={robot_tag}"), admin_user)
    rep = report(f)
    assert (rep.figures["created"], rep.figures["resolved"]) == (2, 1)
    assert {b["value"]: b["created"] for b in rep.breakdowns["channel"]} == {"email": 1, "chat": 1}
    # Tag and channel together read the full rows of that tag.
    both_filters = Filters.from_params(
        QueryDict(f"period=7d&tag={robot_tag}&channel=chat"), admin_user
    )
    assert report(both_filters).figures["created"] == 1
    everything = report(Filters.from_params(QueryDict("period=7d"), admin_user))
    assert everything.figures["created"] == 3  # a conversation with two tags counts once
    by_tag = {b["value"]: b["created"] for b in everything.breakdowns["tag"]}
    assert by_tag == {robot_tag: 2, lock.tags.get().pk: 2}
    assert_levels_add_up()
    # The filter is in the URL and the drill-down lists the tagged conversations only.
    c = Client()
    c.force_login(admin_user)
    page = c.get(f"/analytics/?period=7d&tag={robot_tag}")
    assert f"tag={robot_tag}" in page.context["qs"]
    drill = c.get(f"/analytics/conversations/?period=7d&tag={robot_tag}&metric=created")
    assert {conv.subject for conv in drill.context["page"]} == {"扫地机器人", "都坏了"}
    export = c.get("/analytics/export?period=7d&report=tag&format=csv").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(export)))
    assert sorted((r[0], r[1]) for r in rows[1:]) == [("扫地机器人", "2"), ("智能门锁", "2")]
