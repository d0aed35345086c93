"""The demo's routing and automation: VIP and key-account complaints go to the key-account
team and their account manager, refunds and repairs to after-sales by skills, English mail to
pre-sales in turn; a VIP complaint gets a note telling the team how to handle it, and a
conversation waiting on the customer for two days gets a reminder note. Idempotent.

Created after the demo's history is written, so the stories keep the teams they were told with.
"""

from __future__ import annotations

from kefu.service.models import (
    Assign,
    AssignmentPolicy,
    AutomationRule,
    RoutingRule,
    Strategy,
    Trigger,
)
from kefu.staff.models import Team

VIP_COMPLAINTS = "VIP 投诉 → 大客户组 VIP complaints → key accounts"


def ensure_routing_demo() -> None:
    teams = {team.slug: team for team in Team.objects.all()}
    for slug, strategy in (
        ("key-accounts", Strategy.LEAST_LOADED),
        ("aftersales", Strategy.SKILLS),
        ("presales", Strategy.ROUND_ROBIN),
    ):
        if slug in teams:
            AssignmentPolicy.objects.get_or_create(
                team=teams[slug], defaults={"strategy": strategy, "max_open": 25}
            )
    if "key-accounts" in teams:
        RoutingRule.objects.get_or_create(
            name=VIP_COMPLAINTS,
            defaults={
                "position": 10,
                "tiers": "vip,key_account",
                "kinds": "complaint",
                "set_team": teams["key-accounts"],
                "set_priority": "high",
                "add_tags": "vip-投诉",
                "assign": Assign.ACCOUNT_MANAGER,
                "stop": True,
            },
        )
    if "aftersales" in teams:
        RoutingRule.objects.get_or_create(
            name="退换货与维修 → 售后 Returns and repairs → after-sales",
            defaults={
                "position": 20,
                "keywords": "退货, 退款, 换货, 维修, 保修, 漏水, refund, return, repair, warranty",
                "set_team": teams["aftersales"],
                "add_tags": "售后",
                "assign": Assign.STRATEGY,
                "stop": True,
                "occasion": RoutingRule.Occasion.NEW,
            },
        )
    if "presales" in teams:
        RoutingRule.objects.get_or_create(
            name="英文邮件 → 售前 English email → pre-sales",
            defaults={
                "position": 30,
                "channels": "email",
                "languages": "en",
                "set_team": teams["presales"],
                "assign": Assign.STRATEGY,
                "occasion": RoutingRule.Occasion.NEW,
            },
        )
    AutomationRule.objects.get_or_create(
        name="VIP 投诉处理提示 VIP complaint playbook",
        defaults={
            "position": 10,
            "trigger": Trigger.CREATED,
            "tiers": "vip,key_account",
            "kinds": "complaint",
            "stop": False,
            "note": (
                "VIP 投诉：30 分钟内先电话安抚，再书面跟进；解决前每天同步一次进展。\n"
                "VIP complaint: call within 30 minutes, then follow up in writing."
            ),
        },
    )
    AutomationRule.objects.get_or_create(
        name="等待客户 48 小时 → 提醒 Waiting on the customer for 48 h → reminder",
        defaults={
            "position": 20,
            "trigger": Trigger.IDLE,
            "idle_hours": 48,
            "statuses": "pending",
            "stop": False,
            "add_tags": "待跟进",
            "note": "客户 48 小时未回复：请电话或换渠道跟进。No reply for 48 hours: follow up.",
        },
    )
