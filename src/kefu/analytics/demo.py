"""Demo history for the dashboards: sixteen weeks of conversations, orders, ratings and a
defect that rises this week, written as an import (bulk rows, no events), then rebuilt.

Called by ``kefu.demo`` after the demo help desk is loaded; idempotent (the orders mark it).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from kefu.analytics.models import Order
from kefu.conversations.models import Channel, Conversation, Kind, Message, Status
from kefu.customers.models import Customer, Tier, TimelineEntry
from kefu.staff.models import AgentProfile, Team

WEEKS = 16
PRODUCTS = ("扫地机器人 X1", "空气净化器 P3", "智能门锁 L2", "净水器 W5")
TOPICS = (
    ("{p} 不充电", "你好，{p} 回到充电座后不充电，指示灯一直闪。"),
    ("{p} 发货进度", "请问我的订单什么时候发货？物流单号是多少？"),
    ("{p} 安装预约", "想预约上门安装 {p}，周末可以吗？"),
    ("{p} 发票", "麻烦开一张增值税发票，抬头是公司名称。"),
    ("{p} 滤网更换", "{p} 提示更换滤网，原装滤网在哪里买？"),
    ("{p} 退货", "收到的 {p} 外包装破损，想申请退货。"),
    ("{p} 噪音很大", "{p} 运行时噪音很大，是不是坏了？"),
    ("{p} 保修", "{p} 还在保修期内吗？需要提供什么凭证？"),
)
# This week's defect: a firmware update breaks the app connection.
RISING = (
    ("{p} 固件升级后 App 连接失败", "昨天固件升级以后，App 一直连接失败，显示设备离线。"),
    ("{p} 升级后离线", "固件升级后设备离线，App 连接失败，重启也没用。"),
)
NAMES = (
    "王芳 李强 刘洋 陈静 杨磊 赵敏 黄勇 周婷 吴杰 徐丽 "
    "孙涛 马超 朱琳 胡斌 郭敏 何伟 高峰 林娜 罗刚 郑洁"
)


def ensure_analytics_demo(seed: int = 7) -> None:
    if not Order.objects.exists():
        with transaction.atomic():
            _history(random.Random(seed))
    rebuild_all()


def rebuild_all() -> None:
    from kefu.analytics import rollups, terms, value

    rollups.rebuild()
    value.refresh_values()
    terms.rebuild(WEEKS)


def _customers(rng: random.Random) -> list[Customer]:
    existing = list(Customer.objects.filter(merged_into__isnull=True))
    made = []
    for i, name in enumerate(NAMES.split()):
        made.append(
            Customer(
                name=name,
                primary_contact=f"demo{i}@example.cn",
                tier=rng.choice([Tier.NORMAL] * 6 + [Tier.VIP, Tier.KEY_ACCOUNT]),
            )
        )
    Customer.objects.bulk_create(made)
    return existing + list(Customer.objects.filter(primary_contact__startswith="demo"))


def _orders(rng: random.Random, customers: list[Customer], now: datetime) -> None:
    orders = []
    for c in customers:
        # Value follows a Pareto law: a few customers buy most.
        n = min(12, int(rng.paretovariate(1.3)))
        for k in range(n):
            amount = Decimal(int(rng.paretovariate(1.1) * 300)).quantize(Decimal("1"))
            orders.append(
                Order(
                    customer=c,
                    reference=f"HX{c.pk:04d}{k:02d}",
                    product=rng.choice(PRODUCTS),
                    amount=min(amount, Decimal(60000)),
                    ordered_at=now - timedelta(days=rng.randint(1, 700)),
                )
            )
    Order.objects.bulk_create(orders)


def _business_time(rng: random.Random, day: datetime) -> datetime:
    return day.replace(hour=rng.randint(9, 19), minute=rng.randint(0, 59), second=0)


def _history(rng: random.Random) -> None:
    now = timezone.localtime()
    customers = _customers(rng)
    _orders(rng, customers, now)
    teams = list(Team.objects.all())
    members: dict[int, list[int]] = {
        t.pk: list(
            AgentProfile.objects.filter(teams=t, role=AgentProfile.Role.AGENT).values_list(
                "user_id", flat=True
            )
        )
        for t in teams
    }
    risky = sorted(customers, key=lambda c: -c.pk)[:3]  # unhappy, valuable customers
    this_monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0)
    plans: list[dict[str, Any]] = []
    for day_back in range(WEEKS * 7, -1, -1):
        day = now - timedelta(days=day_back)
        if day.date() > now.date():
            continue
        per_day = rng.randint(3, 7) if day.weekday() < 5 else rng.randint(1, 3)
        for _ in range(per_day):
            created = _business_time(rng, day)
            if created >= now - timedelta(minutes=30):
                created = now - timedelta(hours=rng.randint(1, 5))
            product = rng.choice(PRODUCTS)
            rising = created >= this_monday and product == PRODUCTS[0] and rng.random() < 0.9
            subject, body = rng.choice(RISING if rising else TOPICS)
            plans.append(
                {
                    "created": created,
                    "subject": subject.format(p=product),
                    "body": body.format(p=product),
                    "customer": rng.choice(customers),
                    "kind": rng.choice(
                        [Kind.QUESTION] * 5 + [Kind.REQUEST] * 2 + [Kind.COMPLAINT, Kind.INCIDENT]
                    ),
                }
            )
        if day >= this_monday:  # the defect wave: extra conversations this week
            for _ in range(rng.randint(2, 4)):
                created = min(_business_time(rng, day), now - timedelta(hours=1))
                subject, body = rng.choice(RISING)
                plans.append(
                    {
                        "created": created,
                        "subject": subject.format(p=PRODUCTS[0]),
                        "body": body.format(p=PRODUCTS[0]),
                        "customer": rng.choice(customers),
                        "kind": Kind.INCIDENT,
                    }
                )
    for c in risky:
        plans.append(
            {
                "created": now - timedelta(days=rng.randint(3, 10)),
                "subject": f"投诉：{PRODUCTS[1]} 第三次维修仍未解决",
                "body": "已经修了三次还是有问题，要求退货并赔偿，否则投诉到消协。",
                "customer": c,
                "kind": Kind.COMPLAINT,
                "open": True,
                "rating": 1,
            }
        )
    for plan in plans:
        _conversation(rng, plan, teams, members, now)
    # A customer is a customer since their first conversation at the latest.
    first = (
        Conversation.objects.filter(customer=OuterRef("pk"))
        .order_by("created_at")
        .values("created_at")[:1]
    )
    for customer in Customer.objects.annotate(first=Subquery(first)).filter(
        first__lt=F("created_at")
    ):
        Customer.objects.filter(pk=customer.pk).update(created_at=customer.first)


def _conversation(
    rng: random.Random,
    plan: dict[str, Any],
    teams: list[Team],
    members: dict[int, list[int]],
    now: datetime,
) -> None:
    created: datetime = plan["created"]
    team = rng.choice(teams) if teams else None
    agents = members.get(team.pk, []) if team else []
    agent = rng.choice(agents) if agents else None
    first = created + timedelta(minutes=max(1, int(rng.lognormvariate(3.2, 1.0))))
    follow_up = rng.random() < 0.4
    steps = [("in", created, plan["body"])]
    if first < now:
        steps.append(("out", first, "您好，已收到，正在为您处理。"))
    if follow_up and first < now:
        again = first + timedelta(hours=rng.randint(1, 30))
        if again < now:
            steps.append(("in", again, "请问处理得怎么样了？"))
            answer = again + timedelta(minutes=max(1, int(rng.lognormvariate(3.5, 1.0))))
            if answer < now:
                steps.append(("out", answer, "已经安排好了，请留意短信通知。"))
    last = steps[-1][1]
    age = now - created
    solved = not plan.get("open") and steps[-1][0] == "out" and age > timedelta(hours=6)
    if solved and rng.random() < 0.12 and age < timedelta(days=3):
        solved = False
    solved_at = last + timedelta(hours=rng.randint(0, 20)) if solved else None
    if solved_at and solved_at >= now:
        solved_at = now - timedelta(minutes=5)
    rating = plan.get("rating")
    if solved and rating is None and rng.random() < 0.55:
        unhappy = plan["kind"] == Kind.COMPLAINT
        rating = rng.choice([4, 3, 2, 1] if unhappy else [5, 5, 5, 4, 4, 4, 3, 2, 1])
    channel = rng.choice([Channel.EMAIL, Channel.CHAT, Channel.CHAT, Channel.PHONE, Channel.WEB])
    conversation = Conversation.objects.create(
        customer=plan["customer"],
        channel=channel,
        subject=plan["subject"],
        status=Status.SOLVED if solved else (Status.OPEN if len(steps) > 1 else Status.NEW),
        kind=plan["kind"],
        team=team,
        assignee_id=agent if len(steps) > 1 else None,
        first_response_due=created + timedelta(hours=2),
        resolution_due=created + timedelta(hours=48),
        satisfaction=rating,
        language="zh-hans",
    )
    out = [s[1] for s in steps if s[0] == "out"]
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=created,
        updated_at=solved_at or last,
        last_message_at=last,
        last_inbound_at=max(s[1] for s in steps if s[0] == "in"),
        first_responded_at=out[0] if out else None,
        solved_at=solved_at,
    )
    rows = [
        Message(
            conversation=conversation,
            direction=direction,
            channel=channel,
            author_customer=plan["customer"] if direction == "in" else None,
            author_agent_id=agent if direction == "out" else None,
            body_text=text,
        )
        for direction, _at, text in steps
    ]
    Message.objects.bulk_create(rows)
    for message, (_d, at, _t) in zip(rows, steps, strict=True):
        Message.objects.filter(pk=message.pk).update(created_at=at)
    if solved and rng.random() < 0.08:  # came back after being solved once
        entry = TimelineEntry.objects.create(
            customer=plan["customer"],
            conversation=conversation,
            kind="status_changed",
            data={"old": Status.SOLVED, "new": Status.OPEN},
        )
        TimelineEntry.objects.filter(pk=entry.pk).update(created_at=solved_at or last)
