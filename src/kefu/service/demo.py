"""The demo's service levels: a China calendar, SLA policies (complaints and VIPs first), an
escalation to the supervisor, and one VIP complaint whose countdown runs live.

Default policies come from here, the demo, not from a migration: an installation decides its
own service levels, and a policy created behind its back would start clocks and escalations on
every conversation.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any

from django.contrib.auth import get_user_model

from kefu.conversations.models import Channel, Conversation, Kind
from kefu.customers.models import Customer, Tier
from kefu.service.models import (
    BusinessCalendar,
    CalendarDay,
    EscalationRule,
    SlaPolicy,
    WorkingHours,
)
from kefu.service.routing_demo import ensure_routing_demo
from kefu.staff.models import Team

CALENDAR = "中国大陆工作日 China office"
COMPLAINT_SUBJECT = "投诉：扫地机器人漏水，节前必须解决"

# (position, name, tiers, kinds, priorities, first response, next response, resolution)
POLICIES = (
    (10, "VIP 投诉 VIP complaints", "vip,key_account", "complaint", "", 30, 60, 480),
    (20, "投诉 Complaints", "", "complaint", "", 120, 240, 1440),
    (30, "VIP 客户 VIP customers", "vip,key_account", "", "", 60, 120, 960),
    (40, "紧急 Urgent", "", "", "urgent", 60, 120, 960),
    (100, "标准 Standard", "", "", "", 480, 480, 2880),
)

# Days chinese-calendar does not know yet (it ends with 2026): New Year's Day 2027 is fixed by
# law; the rest of 2027 is added here once the State Council publishes it.
EXTRA_DAYS = ((date(2027, 1, 1), CalendarDay.Kind.HOLIDAY, "元旦 New Year's Day"),)


def ensure_calendar() -> BusinessCalendar:
    calendar, created = BusinessCalendar.objects.get_or_create(
        name=CALENDAR, defaults={"time_zone": "Asia/Shanghai", "china_holidays": True}
    )
    if created:
        WorkingHours.objects.bulk_create(
            WorkingHours(calendar=calendar, weekday=weekday, start=start, end=end)
            for weekday in range(5)
            for start, end in ((time(9), time(12)), (time(13, 30), time(18)))
        )
        CalendarDay.objects.bulk_create(
            CalendarDay(calendar=calendar, date=day, kind=kind, name=name)
            for day, kind, name in EXTRA_DAYS
        )
    return calendar


def ensure_policies(calendar: BusinessCalendar) -> dict[str, SlaPolicy]:
    policies = {}
    for position, name, tiers, kinds, priorities, first, following, resolution in POLICIES:
        policies[name], _ = SlaPolicy.objects.get_or_create(
            name=name,
            defaults={
                "position": position,
                "tiers": tiers,
                "kinds": kinds,
                "priorities": priorities,
                "calendar": calendar,
                "first_response_minutes": first,
                "next_response_minutes": following,
                "resolution_minutes": resolution,
                "warn_percent": 80,
            },
        )
    return policies


def ensure_rules(policies: dict[str, SlaPolicy], supervisor: Any) -> None:
    key_accounts = Team.objects.filter(slug="key-accounts").first()
    EscalationRule.objects.get_or_create(
        name="VIP 投诉临近超时 → 主管 VIP complaint near breach → supervisor",
        defaults={
            "position": 10,
            "on": EscalationRule.On.WARNING,
            "policy": policies[POLICIES[0][1]],
            "notify_assignee": True,
            "notify_user": supervisor,
            "email": True,
            "raise_priority": "urgent",
            "reassign_team": key_accounts,
            "reassign_agent": supervisor,
        },
    )
    EscalationRule.objects.get_or_create(
        name="超时 → 组长 Breach → team lead",
        defaults={
            "position": 20,
            "on": EscalationRule.On.BREACHED,
            "notify_assignee": True,
            "notify_team_lead": True,
            "raise_priority": "high",
        },
    )


def open_vip_complaint(customer: Customer) -> Conversation:
    """A VIP's complaint through the web form; routing gives it to the key-account team."""
    from kefu.conversations import actions

    return actions.open_conversation(
        customer=customer,
        channel=Channel.WEB,
        subject=COMPLAINT_SUBJECT,
        body_text=(
            "上周买的扫地机器人 X1 水箱漏水，地板都泡了。明天就放假了，"
            "请今天给我一个处理方案，否则我要去 12315 投诉。"
        ),
        kind=Kind.COMPLAINT,
        language="zh-hans",  # no team: the routing rules send it to the key-account team
    )


def ensure_service_demo(supervisor_username: str = "demo") -> Conversation | None:
    """Calendar, policies, rules and the live VIP complaint; idempotent."""
    calendar = ensure_calendar()
    policies = ensure_policies(calendar)
    supervisor = get_user_model()._default_manager.filter(username=supervisor_username).first()
    ensure_rules(policies, supervisor)
    ensure_routing_demo()
    existing = Conversation.objects.filter(subject=COMPLAINT_SUBJECT).first()
    if existing is not None:
        return existing
    customer = (
        Customer.objects.filter(tier=Tier.VIP, team__slug="key-accounts", merged_into=None)
        .order_by("pk")
        .first()
    )
    if customer is None:
        return None
    conversation = open_vip_complaint(customer)
    # Seed data reads like the rest of the demo: the last message is the customer's, not the
    # instant the action took just before creating the row.
    first = conversation.messages.order_by("created_at").values_list("created_at", flat=True)[0]
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=first)
    return conversation
