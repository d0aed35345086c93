"""Agent workspace benchmark: inbox, conversation page, API list and the write path.

    .venv/bin/python bench/bench_workspace.py [--sizes 100,1000,10000] [--db sqlite|postgres]

It makes its own throwaway database (a temporary SQLite file, or a fresh PostgreSQL database
``kefu_bench_<random>`` that is dropped at the end), migrates it and grows it to each size in
turn. At every size it times, with Django's test client, the agent workspace pages and the API
list as a team agent and as a supervisor (median, p95 and min wall time after warm-up, SQL
queries per request, time spent in SQL), then times the real write path (``open_conversation``
+ ``send_reply`` through the actions) and deletes what that wrote, so each size holds exactly N
conversations. It prints Markdown tables; it never asserts anything about time.

Other options: ``--runs`` / ``--warmup`` / ``--writes`` (repetitions), ``--explain`` (plans of
the slowest queries at the largest size), ``--extra-index SQL`` and ``--analyze`` (what-ifs:
an index that is not in the migrations; ANALYZE on SQLite), ``--keep`` (keep the database),
``--no-debug`` (KEFU_DEBUG=0). Results and findings: docs/benchmarks.md.

Seeding uses ``bulk_create`` and bypasses the actions on purpose: going through the actions
would take minutes for 10k conversations and is not what is being measured. The rows it writes
(customers, contact points, conversations, messages, tags, timeline entries) have the shape the
actions would give them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

SEARCH_TERM = "退款"  # "refund": in about 1 subject in 16
DETAIL_MESSAGES = 50
BATCH = 500

TEAMS = (
    ("presales", "售前咨询"),
    ("aftersales", "售后服务"),
    ("key-accounts", "大客户"),
    ("billing", "账务"),
)
TEAM_WEIGHTS = (30, 30, 15, 15)  # and 10 % in the general queue (no team)
HISTORY_DAYS = 60  # conversations are spread over the last 60 days
# The status depends on the age: recent conversations are mostly being worked on, older ones
# solved or closed, with a thin tail left pending / on hold. About 10 % end up open.
STATUSES_BY_AGE = (
    (3, (("new", 25), ("open", 35), ("pending", 15), ("on_hold", 5), ("solved", 20))),
    (
        14,
        (
            ("new", 2),
            ("open", 10),
            ("pending", 10),
            ("on_hold", 5),
            ("solved", 50),
            ("closed", 23),
        ),
    ),
    (HISTORY_DAYS, (("pending", 1), ("on_hold", 1), ("solved", 8), ("closed", 90))),
)
PRIORITIES = (("low", 15), ("normal", 60), ("high", 20), ("urgent", 5))
KINDS = (
    ("question", 45),
    ("request", 20),
    ("incident", 10),
    ("complaint", 10),
    ("after_sales", 15),
)
CHANNELS = (("email", 40), ("chat", 25), ("phone", 15), ("web", 15), ("api", 5))
TIERS = (("normal", 85), ("key_account", 10), ("vip", 5))
TAGS = (
    "发票",
    "物流",
    "换货",
    "退款",
    "固件",
    "安装",
    "shipping",
    "warranty",
    "invoice",
    "firmware",
    "replacement",
    "vip-followup",
)
SUBJECTS = (
    "扫地机器人 X1 无法回充，订单 {n}",
    "净化器滤网多久换一次？",
    "申请退款：订单 {n} 重复扣款",
    "发票抬头开错了，能重开吗？",
    "P3 空气清新机 App 显示离线",
    "快递三天没有更新物流",
    "想预约上门安装 {n}",
    "X1 和 X1 Pro 有什么区别？",
    "Where is my order {n}?",
    "Kettle K2 does not heat any more",
    "Invoice for order {n}",
    "Replacement filters arrived damaged",
    "Firmware update failed on P3",
    "Question about the warranty period",
    "Can I change my delivery address?",
    "收到的配件少了一个 {n}",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "婷", "强", "军", "杰", "秀英", "建华", "淑芬")
LATIN = ("Oliver", "Sarah", "Amy", "Tom", "Emma", "Lucas", "Mia", "Noah", "Grace", "Leo")
BODY_IN = (
    "你好，我上周买的机器今天突然不工作了，指示灯一直闪红色，请问怎么处理？"
    "我已经按照说明书重启过两次，还是一样。麻烦尽快回复，谢谢。"
)
BODY_OUT = (
    "您好，感谢您的耐心。请先长按电源键 10 秒复位，然后在 App 里重新配网。"
    "如果仍然无法恢复，我们可以安排上门检测或寄回维修，运费由我们承担。"
)
BODY_NOTE = "内部备注：已核对订单和保修期，客户是老客户，优先处理。"


def weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


# ---------------------------------------------------------------------------------------------
# The throwaway database
# ---------------------------------------------------------------------------------------------


@dataclass
class Database:
    kind: str
    url: str
    label: str
    cleanup: Callable[[], None]


def make_database(kind: str, pg_server: str, data_dir: Path) -> Database:
    if kind == "sqlite":
        path = data_dir / "bench.sqlite3"
        return Database(kind, f"sqlite:///{path}", str(path), lambda: None)
    import psycopg

    name = f"kefu_bench_{secrets.token_hex(4)}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django never got set up; nothing is connected
            pass
        with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return Database(kind, f"{pg_server}/{name}", name, drop)


def database_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("select sqlite_version()")
            return f"SQLite {cursor.fetchone()[0]}"
        cursor.execute("show server_version")
        return f"PostgreSQL {cursor.fetchone()[0]}"


# ---------------------------------------------------------------------------------------------
# Seeding (bulk_create on purpose: see the module docstring)
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def given_timestamps(*models: Any) -> Iterator[None]:
    """Let bulk_create keep the dates we set instead of auto_now / auto_now_add."""
    saved = []
    for model in models:
        for f in model._meta.concrete_fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                saved.append((f, f.auto_now, f.auto_now_add))
                f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


@dataclass
class World:
    teams: dict[str, Any]
    team_agents: dict[str, list[Any]]
    agent: Any  # the bench agent: one team (aftersales)
    supervisor: Any
    tags: list[Any]
    token_agent: str
    token_supervisor: str
    detail_id: int = 0
    customer_ids: list[int] = field(default_factory=list)
    conversations: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(2046))


def make_staff() -> World:
    from django.contrib.auth import get_user_model

    from kefu.api.tokens import create_token
    from kefu.core.models import Tag
    from kefu.staff.models import AgentProfile, Team

    user_model = get_user_model()
    teams = {slug: Team.objects.create(slug=slug, name=name) for slug, name in TEAMS}
    team_agents: dict[str, list[Any]] = {}
    for slug, team in teams.items():
        team_agents[slug] = []
        for i in range(3):
            username = "bench.agent" if (slug, i) == ("aftersales", 0) else f"{slug}.{i}"
            user = user_model.objects.create_user(username=username, password=None)
            profile = AgentProfile.objects.create(user=user, display_name=username)
            profile.teams.set([team])
            team_agents[slug].append(user)
    supervisor = user_model.objects.create_user(username="bench.supervisor", password=None)
    AgentProfile.objects.create(
        user=supervisor, display_name="Supervisor", role=AgentProfile.Role.SUPERVISOR
    )
    tags = [Tag.objects.create(name=name) for name in TAGS]
    agent = user_model.objects.select_related("agent_profile").get(username="bench.agent")
    supervisor = user_model.objects.select_related("agent_profile").get(pk=supervisor.pk)
    return World(
        teams=teams,
        team_agents=team_agents,
        agent=agent,
        supervisor=supervisor,
        tags=tags,
        token_agent=create_token(agent, "bench"),
        token_supervisor=create_token(supervisor, "bench"),
    )


def seed_customers(world: World, count: int, now: Any) -> None:
    from kefu.customers.models import ContactPoint, Customer, TimelineEntry

    rng = world.rng
    start = len(world.customer_ids)
    customers = []
    for i in range(start, start + count):
        latin = rng.random() < 0.25
        name = (
            f"{rng.choice(LATIN)} {rng.choice(SURNAMES)}"
            if latin
            else rng.choice(SURNAMES) + rng.choice(GIVEN)
        )
        since = now - timedelta(days=rng.randint(30, 900))
        customers.append(
            Customer(
                name=name,
                tier=weighted(rng, TIERS),
                primary_contact=f"customer{i}@example.com",
                language="en" if latin else "zh-hans",
                created_at=since,
                updated_at=since,
            )
        )
    with given_timestamps(Customer, ContactPoint, TimelineEntry):
        created = Customer.objects.bulk_create(customers, batch_size=BATCH)
        points, entries = [], []
        for i, customer in enumerate(created, start=start):
            points.append(
                ContactPoint(
                    customer=customer,
                    kind="email",
                    value=f"customer{i}@example.com",
                    created_at=customer.created_at,
                )
            )
            if rng.random() < 0.5:
                points.append(
                    ContactPoint(
                        customer=customer,
                        kind="phone",
                        value=f"+86138{i:08d}",
                        created_at=customer.created_at,
                    )
                )
            entries.append(
                TimelineEntry(
                    customer=customer,
                    kind="customer_created",
                    data={"source": "email"},
                    created_at=customer.created_at,
                )
            )
        ContactPoint.objects.bulk_create(points, batch_size=BATCH)
        TimelineEntry.objects.bulk_create(entries, batch_size=BATCH)
    world.customer_ids.extend(c.pk for c in created)


def seed_conversations(world: World, count: int, now: Any) -> None:
    """``count`` more conversations, 1 to 6 messages each, with tags and timeline entries."""
    from kefu.conversations.models import Conversation, Message
    from kefu.customers.models import TimelineEntry

    rng = world.rng
    team_slugs = [slug for slug, _ in TEAMS]
    # About 0.6 customers per conversation; a fifth of the traffic from a few frequent ones.
    wanted = math.ceil((world.conversations + count) * 0.6)
    if wanted > len(world.customer_ids):
        seed_customers(world, wanted - len(world.customer_ids), now)
    frequent = world.customer_ids[: max(5, len(world.customer_ids) // 50)]

    for offset in range(0, count, BATCH):
        plans = []
        conversations = []
        for _ in range(min(BATCH, count - offset)):
            n = world.conversations + offset + len(conversations)
            pool = frequent if rng.random() < 0.2 else world.customer_ids
            slug = rng.choices([*team_slugs, None], weights=[*TEAM_WEIGHTS, 10])[0]
            created = now - timedelta(minutes=rng.randint(10, HISTORY_DAYS * 24 * 60))
            age_days = (now - created).days
            status = weighted(rng, next(t for days, t in STATUSES_BY_AGE if age_days < days))
            assignee = None
            if status != "new" and rng.random() < 0.7:
                assignee = rng.choice(world.team_agents[slug or rng.choice(team_slugs)])
                if rng.random() < 0.03:
                    assignee = world.supervisor  # supervisors take a few themselves
            messages = 1 if status == "new" else rng.randint(2, 6)
            span = 0 if status == "new" else rng.randint(5, 3 * 24 * 60)
            last = min(now, created + timedelta(minutes=span))
            channel = weighted(rng, CHANNELS)
            conversations.append(
                Conversation(
                    customer_id=rng.choice(pool),
                    channel=channel,
                    subject=rng.choice(SUBJECTS).format(n=f"KF-{100000 + n}"),
                    status=status,
                    priority=weighted(rng, PRIORITIES),
                    kind=weighted(rng, KINDS),
                    team=world.teams[slug] if slug else None,
                    assignee=assignee,
                    language="zh-hans",
                    created_at=created,
                    updated_at=last,
                    last_message_at=last,
                    last_inbound_at=created,
                    first_responded_at=None if status == "new" else created + timedelta(minutes=5),
                    solved_at=last if status in ("solved", "closed") else None,
                )
            )
            plans.append((messages, assignee or world.team_agents["presales"][0]))
        with given_timestamps(Conversation, Message, TimelineEntry):
            created_rows = Conversation.objects.bulk_create(conversations, batch_size=BATCH)
            messages_rows, entries, tag_links = [], [], []
            for conversation, (message_count, author) in zip(created_rows, plans, strict=True):
                rows, events = thread(conversation, message_count, author)
                messages_rows += rows
                entries += events
                for tag in rng.sample(world.tags, k=rng.choice((0, 0, 0, 1, 1, 2))):
                    tag_links.append(
                        Conversation.tags.through(conversation_id=conversation.pk, tag_id=tag.pk)
                    )
            Message.objects.bulk_create(messages_rows, batch_size=BATCH)
            TimelineEntry.objects.bulk_create(entries, batch_size=BATCH)
            Conversation.tags.through.objects.bulk_create(tag_links, batch_size=BATCH)
    world.conversations += count


def thread(conversation: Any, count: int, author: Any) -> tuple[list[Any], list[Any]]:
    """Messages (in, then out / note / in …) between created_at and last_message_at, and the
    timeline entries the actions would have recorded for them."""
    from kefu.conversations.models import Message
    from kefu.customers.models import TimelineEntry

    start, end = conversation.created_at, conversation.last_message_at
    step = (end - start) / max(1, count - 1)
    messages: list[Any] = []
    entries = [
        TimelineEntry(
            customer_id=conversation.customer_id,
            conversation=conversation,
            kind="conversation_opened",
            data={"channel": conversation.channel, "subject": conversation.subject},
            created_at=start,
        )
    ]
    for i in range(count):
        at = start + step * i
        direction = "in" if i % 2 == 0 else ("note" if i % 7 == 5 else "out")
        body = {"in": BODY_IN, "out": BODY_OUT, "note": BODY_NOTE}[direction]
        messages.append(
            Message(
                conversation=conversation,
                direction=direction,
                channel=conversation.channel,
                author_customer_id=conversation.customer_id if direction == "in" else None,
                author_agent=author if direction != "in" else None,
                body_text=body,
                body_html=f"<p>{body}</p>",
                created_at=at,
            )
        )
        if i:
            kind = {"in": "message_received", "out": "reply_sent", "note": "note_added"}
            entries.append(
                TimelineEntry(
                    customer_id=conversation.customer_id,
                    conversation=conversation,
                    kind=kind[direction],
                    actor=None if direction == "in" else author,
                    data={"excerpt": body[:120]},
                    created_at=at,
                )
            )
    if conversation.status in ("solved", "closed"):
        entries.append(
            TimelineEntry(
                customer_id=conversation.customer_id,
                conversation=conversation,
                kind="status_changed",
                actor=author,
                data={"old": "open", "new": conversation.status},
                created_at=end,
            )
        )
    return messages, entries


def seed_detail_conversation(world: World, now: Any) -> None:
    """The conversation GET /c/<id>/ shows: 50 messages, the bench agent's team, a VIP
    customer with memory, notes and a few other conversations."""
    from kefu.conversations.models import Conversation, Message
    from kefu.customers.models import (
        ContactPoint,
        Customer,
        CustomerNote,
        Preference,
        TimelineEntry,
    )

    with given_timestamps(Conversation, Message, TimelineEntry):
        customer = Customer.objects.create(
            name="张伟", tier="vip", primary_contact="zhang.wei@example.com"
        )
        ContactPoint.objects.create(customer=customer, kind="email", value="zhang.wei@example.com")
        ContactPoint.objects.create(customer=customer, kind="phone", value="+8613900000000")
        for kind, value in (("personal", "喜欢喝茶"), ("contact", "18:00 以后打电话")):
            Preference.objects.create(customer=customer, kind=kind, value=value)
        CustomerNote.objects.create(customer=customer, body="老客户，家里有三台设备。")
        team = world.teams["aftersales"]
        for i in range(7):
            created = now - timedelta(days=40 - i * 5)
            last = now - timedelta(minutes=30) if i == 6 else created + timedelta(days=1)
            conversation = Conversation.objects.create(
                customer=customer,
                channel="email",
                subject=f"X1 Pro 问题跟进 {i}",
                status="open" if i == 6 else "solved",
                team=team,
                assignee=world.agent,
                created_at=created,
                updated_at=last,
                last_message_at=last,
            )
            count = DETAIL_MESSAGES if i == 6 else 3
            messages, entries = thread(conversation, count, world.agent)
            Message.objects.bulk_create(messages)
            TimelineEntry.objects.bulk_create(entries)
    world.detail_id = conversation.pk
    world.conversations += 7


def grow_to(world: World, size: int, analyze: bool) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    started = time.perf_counter()
    now = timezone.now()
    with transaction.atomic():
        if not world.detail_id:
            seed_detail_conversation(world, now)
        if size > world.conversations:
            seed_conversations(world, size - world.conversations, now)
    if connection.vendor == "postgresql" or analyze:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # PostgreSQL: what autovacuum would have done by now
    return time.perf_counter() - started


def row_counts() -> dict[str, int]:
    from kefu.conversations.models import Conversation, Message
    from kefu.customers.models import ContactPoint, Customer, TimelineEntry

    models = {
        "conversations": Conversation,
        "messages": Message,
        "customers": Customer,
        "contact points": ContactPoint,
        "timeline entries": TimelineEntry,
    }
    counts = {name: model.objects.count() for name, model in models.items()}
    from kefu.conversations.models import OPEN_STATUSES

    counts["open conversations"] = Conversation.objects.filter(status__in=OPEN_STATUSES).count()
    return counts


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


@dataclass
class Figure:
    median_ms: float
    p95_ms: float
    min_ms: float
    queries: int
    sql_ms: float  # median time spent in the database per request
    shown: str  # what the page showed: rows of total (inbox, API) or thread messages


class SqlTimer:
    """connection.execute_wrapper: time spent in the database during one request."""

    def __init__(self) -> None:
        self.total = 0.0
        self.log: list[tuple[float, str, Any]] = []
        self.keep = False

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - started
            self.total += spent
            if self.keep:
                self.log.append((spent, sql, params))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def measure(
    get: Callable[[], Any], runs: int, warmup: int, timer: SqlTimer
) -> tuple[Figure, list[str]]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        check(get())
    reset_queries()  # a request start empties the log; start the capture from zero too
    with CaptureQueriesContext(connection) as captured:
        response = get()
        check(response)
    walls, sqls = [], []
    for _ in range(runs):
        timer.total = 0.0
        started = time.perf_counter()
        check(get())
        walls.append(time.perf_counter() - started)
        sqls.append(timer.total)
    figure = Figure(
        median_ms=statistics.median(walls) * 1000,
        p95_ms=percentile(walls, 95) * 1000,
        min_ms=min(walls) * 1000,
        queries=len(captured.captured_queries),
        sql_ms=statistics.median(sqls) * 1000,
        shown=shown(response),
    )
    return figure, [q["sql"] for q in captured.captured_queries]


def shown(response: Any) -> str:
    """Rows on the page of how many matched; or the messages in a thread."""
    if response["Content-Type"].startswith("application/json"):
        data = json.loads(response.content)
        return f"{len(data['items'])}/{data['count']}"
    html = response.content.decode()
    if 'class="conv-row' in html or 'class="list-head"' in html:
        total = re.search(r'class="list-head"><span>\D*(\d+)', html)
        rows = html.count('class="conv-row')
        return f"{rows}/{total.group(1) if total else '?'}"
    messages = html.count('<article id="msg-')
    return f"{messages} msgs"


def check(response: Any) -> None:
    if response.status_code != 200:
        raise SystemExit(f"bench: {response.status_code} from {response.request['PATH_INFO']}")


def requests(world: World) -> list[tuple[str, str]]:
    return [
        ("GET /inbox/", "/inbox/"),
        (f"GET /inbox/?q={SEARCH_TERM}", f"/inbox/?q={SEARCH_TERM}"),
        ("GET /inbox/?view=mine", "/inbox/?view=mine"),
        (f"GET /c/<id>/ ({DETAIL_MESSAGES} messages)", f"/c/{world.detail_id}/"),
        ("GET /api/conversations?limit=50", "/api/conversations?limit=50"),
    ]


def measure_reads(
    world: World, runs: int, warmup: int, explain: bool
) -> dict[tuple[str, str], Figure]:
    from django.db import connection
    from django.test import Client

    results: dict[tuple[str, str], Figure] = {}
    timer = SqlTimer()
    with connection.execute_wrapper(timer):
        for who, user, token in (
            ("agent", world.agent, world.token_agent),
            ("supervisor", world.supervisor, world.token_supervisor),
        ):
            client = Client()
            client.force_login(user)
            api_headers = {"Authorization": f"Bearer {token}"}
            for label, path in requests(world):
                headers = api_headers if path.startswith("/api/") else {}

                def get(
                    path: str = path, headers: dict[str, str] = headers, client: Any = client
                ) -> Any:
                    return client.get(path, headers=headers)

                results[label, who], _ = measure(get, runs, warmup, timer)
                if explain:
                    explain_request(label, who, get, timer)
    return results


COLUMN = r'"\w+"\."\w+"(?: AS "\w+")?'
COLUMNS = re.compile(rf"SELECT (DISTINCT )?(?:{COLUMN}, )+{COLUMN}")
PLACEHOLDERS = re.compile(r"\((?:%s, ){4,}%s\)")


def compact(sql: str) -> str:
    """The SQL with its column lists folded, so a plan fits on a screen."""
    sql = COLUMNS.sub(lambda m: f"SELECT {m.group(1) or ''}…", sql)
    return PLACEHOLDERS.sub(lambda m: f"({m.group(0).count('%s')} × %s)", sql)


def explain_request(label: str, who: str, get: Callable[[], Any], timer: SqlTimer) -> None:
    """The three slowest queries of one request, with their plans."""
    from django.db import connection

    timer.log, timer.keep = [], True
    try:
        check(get())
    finally:
        timer.keep = False
    print(f"\n#### EXPLAIN {label} as {who}\n")
    for spent, sql, params in sorted(timer.log, key=lambda item: -item[0])[:3]:
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        prefix = (
            "EXPLAIN QUERY PLAN "
            if connection.vendor == "sqlite"
            else "EXPLAIN (ANALYZE, BUFFERS) "
        )
        with connection.cursor() as cursor:
            cursor.execute(prefix + sql, params)
            plan = cursor.fetchall()
        print(f"{spent * 1000:.2f} ms: `{compact(sql)}`\n```")
        for row in plan:
            print(row[-1] if connection.vendor == "sqlite" else row[0])
        print("```\n")


@dataclass
class Writes:
    open_ms: float
    reply_ms: float
    pairs_per_s: float


def measure_writes(world: World, iterations: int) -> Writes:
    from kefu.conversations import actions
    from kefu.conversations.models import Conversation
    from kefu.customers.models import Customer

    rng = random.Random(7)
    customers = list(
        Customer.objects.filter(
            pk__in=rng.sample(world.customer_ids, min(50, len(world.customer_ids)))
        )
    )
    team = world.teams["aftersales"]
    mark = Conversation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    opens, replies = [], []
    warmup = 5
    try:
        for i in range(warmup + iterations):
            t0 = time.perf_counter()
            conversation = actions.open_conversation(
                customer=rng.choice(customers),
                channel="web",
                subject=f"基准测试 {i}：订单没有收到",
                body_text=BODY_IN,
                team=team,
            )
            t1 = time.perf_counter()
            actions.send_reply(conversation, agent=world.agent, body_text=BODY_OUT)
            t2 = time.perf_counter()
            if i >= warmup:
                opens.append(t1 - t0)
                replies.append(t2 - t1)
    finally:
        # Back to exactly N conversations (messages and timeline entries cascade).
        Conversation.objects.filter(pk__gt=mark).delete()
    total = sum(opens) + sum(replies)
    return Writes(
        open_ms=statistics.median(opens) * 1000,
        reply_ms=statistics.median(replies) * 1000,
        pairs_per_s=iterations / total,
    )


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    version: str,
    sizes: list[int],
    reads: dict[int, dict[tuple[str, str], Figure]],
    writes: dict[int, Writes],
    seeding: dict[int, tuple[float, dict[str, int]]],
    world: World,
) -> None:
    base = sizes[0]
    start = " / ".join(f"{x:.2f}" for x in args.load_start)
    end = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    debug = 0 if args.no_debug else 1
    print(f"\n### {version}: {', '.join(map(str, sizes))} conversations, KEFU_DEBUG={debug}\n")
    print(
        f"Load average (1 / 5 / 15 min) at the start {start}, at the end {end}, "
        f"on {os.cpu_count()} CPUs.\n"
    )
    if args.analyze and version.startswith("SQLite"):
        print("What-if: `ANALYZE` run after seeding (kefu does not run it on SQLite).\n")
    for statement in args.extra_index:
        print(f"What-if index (not in kefu's migrations): `{statement}`\n")
    print(
        f"{args.runs} timed runs per request after {args.warmup} warm-up runs; wall time of "
        "Django's test client (no network), median / p95 / min in ms; `sql` is the median time "
        "spent in the database; `q` is the number of SQL queries per request; `shown` is "
        "rows on the page / rows matched (or messages in the thread).\n"
    )
    head = ["request", "as"]
    head += [f"N={n}: median / p95 / min (sql)" for n in sizes]
    head += ["q " + " / ".join(str(n) for n in sizes)]
    head += ["shown " + " / ".join(str(n) for n in sizes)]
    head += [f"×{n}/{base}" for n in sizes[1:]]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, _ in requests(world):
        for who in ("agent", "supervisor"):
            row = [label, who]
            figures = [reads[n][label, who] for n in sizes]
            row += [
                f"{f.median_ms:.1f} / {f.p95_ms:.1f} / {f.min_ms:.1f} ({f.sql_ms:.1f})"
                for f in figures
            ]
            row.append(" / ".join(str(f.queries) for f in figures))
            row.append(" · ".join(f.shown for f in figures))
            row += [f"{f.median_ms / figures[0].median_ms:.2f}" for f in figures[1:]]
            print("| " + " | ".join(row) + " |")
    print(
        f"\nWrite path through the actions ({args.writes} iterations after 5 warm-up, "
        "median ms per call; ops/s = open + reply pairs per second):\n"
    )
    print("| N | open_conversation | send_reply | pairs/s |")
    print("|---|---|---|---|")
    for n in sizes:
        w = writes[n]
        print(f"| {n} | {w.open_ms:.2f} | {w.reply_ms:.2f} | {w.pairs_per_s:.0f} |")
    print("\nSeeded data (bulk_create, not the actions) and the time it took:\n")
    names = list(next(iter(seeding.values()))[1])
    print("| N | " + " | ".join(names) + " | seed s |")
    print("|---|" + "---|" * (len(names) + 1))
    for n in sizes:
        spent, counts = seeding[n]
        print(f"| {n} | " + " | ".join(str(counts[k]) for k in names) + f" | {spent:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="conversation counts")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per request")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per request")
    parser.add_argument("--writes", type=int, default=200, help="open + reply iterations")
    parser.add_argument(
        "--no-debug",
        action="store_true",
        help="KEFU_DEBUG=0 (production-like templates; with a throwaway secret key)",
    )
    parser.add_argument(
        "--extra-index",
        action="append",
        default=[],
        metavar="SQL",
        help="what-if: CREATE INDEX statement run after migrate (repeatable); src/ is untouched",
    )
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="SQLite: run ANALYZE after seeding (PostgreSQL is always analysed)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the database for inspection (prints its URL)"
    )
    parser.add_argument(
        "--explain", action="store_true", help="print plans of the slowest queries at the last size"
    )
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    args.load_start = os.getloadavg()

    data_dir = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
    db = make_database(args.db, args.pg_server, data_dir)
    os.environ.update(
        KEFU_DATABASE_URL=db.url,
        KEFU_DATA_DIR=str(data_dir),
        KEFU_DEBUG="0" if args.no_debug else "1",
        KEFU_SECRET_KEY=secrets.token_urlsafe(40),
        KEFU_SECURE_COOKIES="0",
        KEFU_ALLOWED_HOSTS="testserver,localhost",
        KEFU_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="kefu.settings",
    )
    try:
        import django

        django.setup()
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        version = database_version()
        print(
            f"kefu bench_workspace: {version}, Python {platform.python_version()}, "
            f"Django {django.get_version()}, {os.cpu_count()} CPUs; database {db.label}; "
            f"migrated in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        if args.extra_index:
            from django.db import connection

            with connection.cursor() as cursor:
                for statement in args.extra_index:
                    cursor.execute(statement)
            print(f"extra indexes: {args.extra_index}", file=sys.stderr)
        world = make_staff()
        reads: dict[int, dict[tuple[str, str], Figure]] = {}
        writes: dict[int, Writes] = {}
        seeding: dict[int, tuple[float, dict[str, int]]] = {}
        for n in sizes:
            spent = grow_to(world, n, args.analyze)
            seeding[n] = (spent, row_counts())
            print(f"N={n}: seeded in {spent:.1f} s; measuring reads", file=sys.stderr)
            started = time.perf_counter()
            reads[n] = measure_reads(world, args.runs, args.warmup, args.explain and n == sizes[-1])
            print(
                f"N={n}: reads in {time.perf_counter() - started:.1f} s; measuring writes",
                file=sys.stderr,
            )
            started = time.perf_counter()
            writes[n] = measure_writes(world, args.writes)
            print(f"N={n}: writes in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        report(args, version, sizes, reads, writes, seeding, world)
    finally:
        if args.keep:
            print(f"kept: KEFU_DATABASE_URL={db.url}", file=sys.stderr)
        else:
            db.cleanup()
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
