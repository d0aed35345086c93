"""Every figure against a hand-computed fixture, in business time.

Calendar: Monday to Friday, 09:00–12:00 and 13:00–18:00 (Asia/Shanghai), no holidays.

A  email, team X, Mon 2 Mar 10:00; reply 10:10 (FRT 10); customer 11:00, reply 11:30 (NRT 30);
   solved 12:00 (resolution 120); rated 5; first-response due 10:15 (met); resolution due
   Mon 17:00 (met).
B  chat, team X, Fri 6 Mar 17:30; reply Mon 9 Mar 09:20 (FRT 30 + 20 = 50 business minutes,
   not 3,830 wall-clock minutes); solved 09:30 (resolution 60); rated 2; first-response due
   Fri 17:45 (missed); one reply: one-touch.
C  web, team X, complaint, Tue 3 Mar 11:40; reply 13:20 (FRT 20 + 20 = 40: lunch does not
   count); still open; reopened once before (timeline).

FRT [10, 50, 40]: median 40, P90 50, mean 33.3. NRT [30]. Resolution [120, 60]: median 60,
P90 120 (within the 10 % bucket). One-touch 1 of 2 resolved; CSAT 1 of 2 ratings ≥ 4; SLA
first response 1 of 2 with a due time; resolution SLA 1 of 1; reopened 1 of 3 created.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta

import pytest
from django.http import QueryDict

from kefu.analytics.filters import Filters
from kefu.analytics.metrics import pieces, report
from kefu.analytics.models import ConversationFact
from kefu.analytics.rollups import rebuild, recompute, refresh, stored
from kefu.conversations import actions
from kefu.conversations.models import Conversation, Message
from kefu.customers.models import TimelineEntry
from kefu.service.calendars import BusinessCalendar, WorkingHours
from tests.analytics.test_rollups_property import assert_levels_add_up

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SH)


def make_calendar() -> None:
    calendar = BusinessCalendar.objects.create(name="Office", time_zone="Asia/Shanghai")
    for weekday in range(5):
        WorkingHours.objects.create(calendar=calendar, weekday=weekday, start=time(9), end=time(12))
        WorkingHours.objects.create(
            calendar=calendar, weekday=weekday, start=time(13), end=time(18)
        )


def play(customer, team, agent, channel, opened, steps, *, status=None, solved=None, **fields):
    """A conversation through the actions, then moved to the fixture's moments."""
    conversation = actions.open_conversation(
        customer=customer, channel=channel, subject="s", body_text="q", team=team
    )
    stamps = [opened]
    for direction, when in steps:
        if direction == "in":
            actions.receive_message(conversation, body_text="again", channel=channel)
        else:
            actions.send_reply(conversation, agent=agent, body_text="a")
        stamps.append(when)
    if status:
        actions.set_status(conversation, actor=agent, status=status)
    ids = list(conversation.messages.order_by("id").values_list("id", flat=True))
    for pk, when in zip(ids, stamps, strict=True):
        Message.objects.filter(pk=pk).update(created_at=when)
    first_out = next((w for d, w in steps if d == "out"), None)
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=opened, first_responded_at=first_out, solved_at=solved, **fields
    )
    refresh(conversation.pk)
    return conversation


@pytest.fixture
def fixture(team_x, agent_x, customer, commit):
    make_calendar()
    with commit():
        a = play(
            customer, team_x, agent_x, "email", at(2, 10),
            [("out", at(2, 10, 10)), ("in", at(2, 11)), ("out", at(2, 11, 30))],
            status="solved", solved=at(2, 12), satisfaction=5,
            first_response_due=at(2, 10, 15), resolution_due=at(2, 17),
        )  # fmt: skip
        b = play(
            customer, team_x, agent_x, "chat", at(6, 17, 30), [("out", at(9, 9, 20))],
            status="solved", solved=at(9, 9, 30), satisfaction=2,
            first_response_due=at(6, 17, 45),
        )  # fmt: skip
        c = play(customer, team_x, agent_x, "web", at(3, 11, 40), [("out", at(3, 13, 20))])
        entry = TimelineEntry.objects.create(
            customer=customer, conversation=c, kind="status_changed",
            data={"old": "solved", "new": "open"},
        )  # fmt: skip
        actions.set_kind(c, actor=agent_x, kind="complaint")
        assert entry.pk
    return a, b, c


def month(user) -> Filters:
    return Filters.from_params(QueryDict("period=custom&from=2026-03-01&to=2026-03-31"), user)


def test_facts_in_business_minutes(fixture):
    a, b, c = fixture
    fa, fb, fc = (ConversationFact.objects.get(pk=x.pk) for x in (a, b, c))
    assert (fa.first_response_minutes, fb.first_response_minutes, fc.first_response_minutes) == (
        10,
        50,
        40,
    )
    assert fa.next_response_minutes == [30]
    assert (fa.resolution_minutes, fb.resolution_minutes) == (120, 60)
    assert fb.resolved_day == date(2026, 3, 9)
    assert (fa.sla_first_met, fb.sla_first_met, fa.sla_resolution_met) == (True, False, True)
    assert fc.reopens == 1 and fc.kind == "complaint"


def test_figures(fixture, admin_user):
    fig = report(month(admin_user)).figures
    assert fig["created"] == 3
    assert fig["resolved"] == 2
    assert fig["backlog"] == 1
    assert (fig["frt_median"], fig["frt_p90"], fig["frt_mean"]) == (40, 50, 33.3)
    assert (fig["nrt_median"], fig["nrt_p90"]) == (30, 30)
    assert (fig["resolution_median"], fig["resolution_mean"]) == (60, 90)
    # Above an hour the histogram's buckets are 10 % wide: P90 is 120's bucket.
    assert fig["resolution_p90"] == pytest.approx(120, rel=0.1)
    assert fig["one_touch"] == 50.0
    assert fig["csat"] == 50.0 and fig["rated"] == 2 and fig["rating_mean"] == 3.5
    assert fig["sla_first"] == 50.0
    assert fig["sla_resolution"] == 100.0
    assert fig["reopen_rate"] == 33.3


def test_breakdowns_and_series(fixture, admin_user, team_x):
    rep = report(month(admin_user))
    channels = {b["value"]: b for b in rep.breakdowns["channel"]}
    assert channels["chat"]["frt_median"] == 50
    assert channels["chat"]["resolution_median"] == 60
    assert channels["email"]["nrt_median"] == 30
    kinds = {b["value"]: b["created"] for b in rep.breakdowns["kind"]}
    assert kinds == {"question": 2, "complaint": 1}
    by_day = dict(zip(rep.series["labels"], rep.series["created"], strict=True))
    assert by_day["2026-03-02"] == 1 and by_day["2026-03-06"] == 1
    backlog = dict(zip(rep.series["labels"], rep.series["backlog"], strict=True))
    assert backlog["2026-03-02"] == 0  # A opened and solved the same day
    assert backlog["2026-03-06"] == 2  # C and B open
    assert backlog["2026-03-09"] == 1  # B solved


def test_filters(fixture, admin_user, team_x):
    chat = Filters.from_params(
        QueryDict("period=custom&from=2026-03-01&to=2026-03-31&channel=chat"), admin_user
    )
    assert report(chat).figures["created"] == 1
    week = Filters.from_params(QueryDict("period=custom&from=2026-03-02&to=2026-03-04"), admin_user)
    fig = report(week).figures
    assert (fig["created"], fig["resolved"]) == (2, 1)


def test_wall_clock_without_a_calendar(team_x, agent_x, customer, commit):
    with commit():
        b = play(customer, team_x, agent_x, "chat", at(6, 17, 30), [("out", at(9, 9, 20))])
    assert ConversationFact.objects.get(pk=b.pk).first_response_minutes == 3830


def test_rollups_equal_recomputation(fixture):
    assert stored() == recompute()
    assert_levels_add_up()  # two weeks (2–8 and 9–15 March) and a month
    weeks = {k[2] for k in stored() if k[0] == "main" and k[1] == "week"}
    assert weeks == {date(2026, 3, 2), date(2026, 3, 9)}
    rebuild()
    assert stored() == recompute()


def test_pieces_cover_a_period_once_with_the_fewest_rows():
    # 20 Jan – 10 Apr 2026: January's days (no whole week left in it),
    # February and March whole, then April's days (the week of the 6th is cut by the end).
    parts = pieces(date(2026, 1, 20), date(2026, 4, 10), "month")
    assert parts == [
        ("day", date(2026, 1, 20), date(2026, 1, 25)),
        ("day", date(2026, 1, 26), date(2026, 1, 31)),  # a week cut by the month's end
        ("month", date(2026, 2, 1), date(2026, 2, 28)),
        ("month", date(2026, 3, 1), date(2026, 3, 31)),
        ("day", date(2026, 4, 1), date(2026, 4, 5)),
        ("day", date(2026, 4, 6), date(2026, 4, 10)),
    ]
    days = set()
    for _grain, first, last in parts:
        d = first
        while d <= last:
            assert d not in days
            days.add(d)
            d += timedelta(days=1)
    assert min(days) == date(2026, 1, 20) and max(days) == date(2026, 4, 10)


def test_closed_months_come_from_the_cache_until_they_change(fixture, admin_user, commit):
    from kefu.analytics.models import DailyRollup

    _a, b, _c = fixture
    assert report(month(admin_user)).figures["resolved"] == 2  # March 2026 is closed: cached
    DailyRollup.objects.filter(grain="month", tag_id=0).update(resolved=99)  # behind its back
    assert report(month(admin_user)).figures["resolved"] == 2  # from the cache
    with commit():
        actions.set_status(b, actor=None, status="open")  # a late event on a March case
    assert report(month(admin_user)).figures["resolved"] == 98  # read again: 99 less B
    with commit():
        rebuild()
    assert report(month(admin_user)).figures["resolved"] == 1  # a rebuild renews them all


def test_the_agents_table_honours_channel_kind_tier_and_tag(fixture, admin_user, agent_x, commit):
    """Hand-computed from the fixture (all three are agent X's): chat is B alone (FRT 50,
    resolution 60, first-response SLA missed, rated 2); complaints are C alone (FRT 40, open);
    the tag is on A alone."""
    _a, _b, c = fixture

    def agents(extra: str) -> dict:
        qs = QueryDict(f"period=custom&from=2026-03-01&to=2026-03-31&{extra}")
        rows = report(Filters.from_params(qs, admin_user)).breakdowns["agent"]
        return {r["value"]: r for r in rows}

    chat = agents("channel=chat")[agent_x.pk]
    assert (chat["created"], chat["resolved"]) == (1, 1)
    assert (chat["frt_median"], chat["resolution_median"]) == (50, 60)
    assert (chat["sla_first"], chat["csat"]) == (0.0, 0.0)
    complaint = agents("kind=complaint")[agent_x.pk]
    assert (complaint["created"], complaint["resolved"], complaint["frt_median"]) == (1, 0, 40)
    assert complaint["csat"] is None
    assert agents("channel=phone") == {}
    everyone = agents("")[agent_x.pk]
    assert agents(f"tier={c.customer.tier}")[agent_x.pk] == everyone
    with commit():
        actions.tag(_a, actor=agent_x, add=["返修"])
    from kefu.core.models import Tag

    tagged = agents(f"tag={Tag.objects.get(name='返修').pk}")[agent_x.pk]
    assert (tagged["created"], tagged["resolved"], tagged["frt_median"]) == (1, 1, 10)
    assert tagged["csat"] == 100.0


def test_a_late_event_reads_again_only_its_month(fixture, admin_user, team_x, agent_x, commit):
    from kefu.analytics.models import DailyRollup

    _a, b, _c = fixture
    feb = datetime(2026, 2, 10, 10, tzinfo=SH)
    with commit():
        play(
            b.customer, team_x, agent_x, "email", feb, [("out", feb + timedelta(hours=1))],
            status="solved", solved=feb + timedelta(hours=2),
        )  # fmt: skip
    two = Filters.from_params(QueryDict("period=custom&from=2026-02-01&to=2026-03-31"), admin_user)
    assert report(two).figures["resolved"] == 3  # February's one and March's two: cached
    DailyRollup.objects.filter(grain="month", tag_id=0).update(resolved=99)  # behind its back
    with commit():
        actions.set_status(b, actor=None, status="open")  # a late event in March
    # February still from the cache (1); March read again (99 less B)
    assert report(two).figures["resolved"] == 1 + 98
