"""Analytics benchmark: rollup rebuild, the manager's dashboard, the trending-terms job.

    .venv/bin/python bench/analytics.py [--db sqlite|postgres] [--sizes 20000,200000]

It makes its own throwaway database (a temporary SQLite file, or a fresh PostgreSQL database
``kefu_bench_<random>`` dropped at the end), migrates it and grows it to each size in turn:
N conversations with five messages each (customer, agent, customer, agent, customer) spread over
two years, 5 teams, 30 agents, N / 5 customers, Chinese subjects and bodies, each conversation
tagged with its product (products are tags: the dashboard's product filter). At each size it
prints the time of ``kefu analytics rebuild``'s rollup part (facts + rollups from source), of
the customer-value job and of the trending-terms job (one week), and the manager dashboard's
server time (median of runs, test client) and query count for each period the dashboard offers,
with and without filters. It prints the load average before and after each size, since the
machine may be shared; it asserts nothing.

Seeding bypasses the actions on purpose (COPY on PostgreSQL, executemany on SQLite): the rows
have the shape the actions give them; timeline entries are left out (no reopens).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_workspace import Database, make_database  # noqa: E402

CHANNELS = ("email", "chat", "web", "phone", "email", "chat")
KINDS = ("question", "question", "question", "request", "incident", "complaint")
PRODUCTS = ("扫地机器人 X1", "空气净化器 P3", "智能门锁 L2", "净水器 W5")
TEXTS = (
    ("{p} 不充电", "你好，{p} 回到充电座后不充电，指示灯一直闪。"),
    ("{p} 发货进度", "请问我的订单什么时候发货？物流单号是多少？"),
    ("{p} 安装预约", "想预约上门安装 {p}，周末可以吗？"),
    ("{p} 发票", "麻烦开一张增值税发票，抬头是公司名称。"),
    ("{p} 滤网更换", "{p} 提示更换滤网，原装滤网在哪里买？"),
    ("{p} 退货", "收到的 {p} 外包装破损，想申请退货。"),
    ("{p} 噪音很大", "{p} 运行时噪音很大，是不是坏了？"),
    ("{p} 固件升级后 App 连接失败", "固件升级以后 App 一直连接失败，显示设备离线。"),
)
DAYS = 730


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def setup_world(max_size: int) -> dict[str, Any]:
    from django.contrib.auth.models import User

    from kefu.core.models import Tag
    from kefu.customers.models import Customer
    from kefu.staff.models import AgentProfile, Team

    tags = {p: Tag.objects.create(name=p.lower()).pk for p in PRODUCTS}
    teams = [Team.objects.create(name=f"团队 {i}", slug=f"t{i}") for i in range(5)]
    agents: dict[int, list[int]] = {t.pk: [] for t in teams}
    for i in range(30):
        user = User.objects.create(username=f"agent{i}")
        profile = AgentProfile.objects.create(user=user, display_name=f"客服 {i}")
        team = teams[i % 5]
        profile.teams.add(team)
        agents[team.pk].append(user.pk)
    manager = User.objects.create(username="manager")
    AgentProfile.objects.create(user=manager, role=AgentProfile.Role.ADMIN, display_name="经理")
    n = max(1, max_size // 5)
    tiers = ["normal"] * 8 + ["vip", "key_account"]
    batch = []
    for i in range(n):
        batch.append(Customer(name=f"客户{i}", tier=tiers[i % 10], primary_contact=f"c{i}@x.cn"))
        if len(batch) == 5000:
            Customer.objects.bulk_create(batch)
            batch = []
    Customer.objects.bulk_create(batch)
    ids = list(Customer.objects.values_list("pk", flat=True))
    return {
        "teams": [t.pk for t in teams],
        "agents": agents,
        "customers": ids,
        "manager": manager,
        "tags": tags,
    }


def existing_world() -> dict[str, Any] | None:
    """The world of a reused database (None when it has not been seeded yet)."""
    from django.contrib.auth.models import User

    from kefu.core.models import Tag
    from kefu.customers.models import Customer
    from kefu.staff.models import AgentProfile, Team

    manager = User.objects.filter(username="manager").first()
    if manager is None:
        return None
    teams = list(Team.objects.order_by("pk").values_list("pk", flat=True))
    agents: dict[int, list[int]] = {t: [] for t in teams}
    for team, user in AgentProfile.teams.through.objects.order_by("agentprofile_id").values_list(
        "team_id", "agentprofile__user_id"
    ):
        agents[team].append(user)
    tags = dict(Tag.objects.values_list("name", "pk"))
    return {
        "teams": teams,
        "agents": agents,
        "customers": list(Customer.objects.order_by("pk").values_list("pk", flat=True)),
        "manager": manager,
        "tags": {p: tags[p.lower()] for p in PRODUCTS},
    }


def rows(world: dict[str, Any], start: int, end: int, now: Any) -> tuple[list, list, list]:
    from kefu.conversations.models import Conversation, Message

    rng = random.Random(start)
    conv_fields = [f for f in Conversation._meta.concrete_fields]
    msg_fields = [f for f in Message._meta.concrete_fields if f.column != "id"]
    convs, msgs, tags = [], [], []
    for cid in range(start + 1, end + 1):
        created = now - timedelta(days=rng.random() * DAYS)
        team = rng.choice(world["teams"])
        agent = rng.choice(world["agents"][team])
        p = rng.choice(PRODUCTS)
        subject, body = rng.choice(TEXTS)
        first = created + timedelta(minutes=rng.lognormvariate(3.2, 1.0))
        times = [created, first]
        times.append(first + timedelta(hours=rng.random() * 20))
        times.append(times[-1] + timedelta(minutes=rng.lognormvariate(3.5, 1.0)))
        times.append(times[-1] + timedelta(minutes=rng.random() * 60))
        old = created < now - timedelta(days=3)
        solved = times[-1] + timedelta(hours=1) if old else None
        values = {
            "id": cid,
            "customer_id": rng.choice(world["customers"]),
            "channel": rng.choice(CHANNELS),
            "subject": subject.format(p=p),
            "status": "solved" if old else "open",
            "priority": "normal",
            "kind": rng.choice(KINDS),
            "team_id": team,
            "assignee_id": agent,
            "language": "zh-hans",
            "first_response_due": created + timedelta(hours=2),
            "resolution_due": created + timedelta(days=2),
            "satisfaction": rng.choice([None, None, 5, 5, 4, 3, 1]) if old else None,
            "created_at": created,
            "updated_at": solved or times[-1],
            "last_message_at": times[-1],
            "last_inbound_at": times[-1],
            "first_responded_at": first,
            "solved_at": solved,
        }
        convs.append(tuple(values.get(f.attname, _default(f)) for f in conv_fields))
        tags.append((cid, world["tags"][p]))
        for k, at in enumerate(times):
            direction = "in" if k % 2 == 0 else "out"
            m = {
                "conversation_id": cid,
                "direction": direction,
                "channel": values["channel"],
                "author_customer_id": values["customer_id"] if direction == "in" else None,
                "author_agent_id": agent if direction == "out" else None,
                "body_text": body.format(p=p) if k == 0 else "好的，谢谢。",
                "body_html": "",
                "metadata": "{}",
                "created_at": at,
            }
            msgs.append(tuple(m.get(f.attname, _default(f)) for f in msg_fields))
    return convs, msgs, tags


def _default(field: Any) -> Any:
    value = field.get_default()
    if isinstance(value, dict | list):
        import json

        return json.dumps(value)
    return value


def insert(table: str, fields: list[Any], data: list[tuple]) -> None:
    from django.db import connection

    columns = [str(f.column) for f in fields]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", data)


def grow(world: dict[str, Any], start: int, end: int, now: Any) -> float:
    from django.db import connection, transaction

    from kefu.conversations.models import Conversation, Message

    t = time.perf_counter()
    conv_fields = list(Conversation._meta.concrete_fields)
    msg_fields = [f for f in Message._meta.concrete_fields if f.column != "id"]
    through = Conversation.tags.through
    tag_fields = [through._meta.get_field("conversation"), through._meta.get_field("tag")]
    step = 50_000
    for lo in range(start, end, step):
        hi = min(end, lo + step)
        convs, msgs, tags = rows(world, lo, hi, now)
        with transaction.atomic():
            insert(Conversation._meta.db_table, conv_fields, convs)
            insert(Message._meta.db_table, msg_fields, msgs)
            insert(through._meta.db_table, tag_fields, tags)
    with connection.cursor() as cursor:
        # PostgreSQL: vacuumed as its autovacuum would, so the visibility map lets the
        # covering indexes' scans skip the table (index-only scans)
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return time.perf_counter() - t


def reused_database(kind: str, name: str, pg_server: str) -> Database:
    """A database kept between runs: created if absent, never dropped."""
    if kind == "sqlite":
        path = Path(name).resolve()
        return Database(kind, f"sqlite:///{path}", str(path), lambda: None)
    import psycopg

    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return Database(kind, f"{pg_server}/{name}", name, lambda: None)


def timed(fn: Any) -> tuple[float, float]:
    """Wall and CPU seconds of ``fn`` (this process's CPU: on a shared machine the wall time
    mostly measures the other processes)."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def dashboard(
    world: dict[str, Any], query: str, runs: int
) -> tuple[float, float, int, float, float, float]:
    """Median wall time, median CPU time of this process (on SQLite that includes the
    queries; on PostgreSQL the server's work is not in it) and the query count; then the
    wall and CPU time of the first request, with an empty cache (the closed months' sums
    are computed and cached by it); and the median of the queries' summed wall time."""
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(world["manager"])
    cache.clear()
    t, c = time.perf_counter(), time.process_time()
    client.get("/analytics/?" + query)  # warm-up
    cold, cold_cpu = time.perf_counter() - t, time.process_time() - c
    times, cpu, db = [], [], []
    queries = 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            t, c = time.perf_counter(), time.process_time()
            response = client.get("/analytics/?" + query)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        assert response.status_code == 200, response.status_code
        queries = len(captured.captured_queries)
        db.append(sum(float(q["time"]) for q in captured.captured_queries))
    median = statistics.median
    return median(times), median(cpu), queries, cold, cold_cpu, median(db)


def after_warm(world: dict[str, Any], queries: dict[str, str]) -> None:
    """The first request of each view after ``warm_closed`` ran on an empty cache (what a
    manager meets after a start, a rebuild or an expiry once the task has run): the task's
    time once, then each view's first request from the warmed cache (restored before each
    view with the per-process cache, so no view finds what the one before it cached)."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache
    from django.test import Client

    from kefu.analytics import closed

    cache = caches["default"]
    client = Client()
    client.force_login(world["manager"])
    cache.clear()
    n = len(closed.standard_filters())
    warm_s, warm_cpu = timed(closed.warm)
    print(
        f"\nwarm_closed ({n} standard reports, empty cache): {warm_s:.1f} s wall, "
        f"{warm_cpu:.1f} s CPU; load average {load()}"
    )
    snapshot = None
    if isinstance(cache, LocMemCache):
        snapshot = (dict(cache._cache), dict(cache._expire_info))
    print("\n| manager dashboard | first request after warm_closed: wall ms (CPU ms) | load |")
    print("|---|---|---|")
    for label, query in queries.items():
        if snapshot is not None:
            cache._cache.clear()
            cache._cache.update(snapshot[0])
            cache._expire_info.clear()
            cache._expire_info.update(snapshot[1])
        t, c = time.perf_counter(), time.process_time()
        response = client.get("/analytics/?" + query)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        assert response.status_code == 200, response.status_code
        print(f"| {label} | {wall * 1000:.0f} ({cpu * 1000:.0f}) | {load()} |", flush=True)


def events_bench(n: int) -> None:
    """CPU per event of the analytics listener alone (every other listener unplugged): a mail
    batch (one transaction: n new conversations, each opened + its message) and live chat
    (a transaction per line, on 20 conversations in turn). The queue is the database one
    (deferred tasks), the cache the configured one; the cost is the time with the listener
    less the time without it."""
    from django.core.cache import cache
    from django.db import connection, transaction

    from kefu.core import events
    from kefu.core.events import ConversationOpened, MessageAdded, emit

    def mine(table: dict[Any, list[Any]]) -> dict[Any, list[Any]]:
        return {
            k: [
                f
                for f in fns
                if f.__module__ == "kefu.analytics.listeners"
                and f.__name__ == "conversation_changed"
            ]
            for k, fns in table.items()
        }

    collectors = getattr(events, "_collectors", {})
    plugged = (mine(events._listeners), mine(collectors))
    unplugged: tuple[dict[Any, list[Any]], dict[Any, list[Any]]] = ({}, {})
    base = random.randrange(10**9, 2 * 10**9)  # conversation ids no other run's marks name

    def mail(start: int) -> None:
        with transaction.atomic():
            for pk in range(start, start + n):
                emit(ConversationOpened(None, pk, 1, None, customer_id=1, channel="email"))
                emit(MessageAdded(None, pk, 1, None, message_id=pk, direction="in"))

    def chat(start: int) -> None:
        for i in range(n):
            with transaction.atomic():
                emit(MessageAdded(None, start + i % 20, 1, None, message_id=i, direction="in"))

    def run(fn: Any, tables: Any, start: int) -> float:
        events._listeners.clear()
        events._listeners.update(tables[0])
        if hasattr(events, "_collectors"):
            events._collectors.clear()
            events._collectors.update(tables[1])
        c = time.process_time()
        fn(start)
        return time.process_time() - c

    print(f"analytics listener, {connection.vendor}, cache {type(cache).__name__}, load {load()}")
    for label, fn, per in (("mail batch", mail, 2 * n), ("live chat", chat, n)):
        with_l, without = [], []
        for r in range(5):
            start = base + r * 4 * n
            without.append(run(fn, unplugged, start))
            with_l.append(run(fn, plugged, start + 2 * n))
            base += 10 * n
        w, wo = statistics.median(with_l) / per, statistics.median(without) / per
        print(
            f"| {label} | {per:,} events | CPU µs/event with {w * 1e6:.0f} without "
            f"{wo * 1e6:.0f} | listener {(w - wo) * 1e6:.0f} µs |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--pg-server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--reuse",
        default="",
        help="keep the data in this PostgreSQL database (or SQLite file) and reuse it: "
        "seeded only up to the sizes it lacks, never dropped",
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated steps to leave out: rebuild, values, terms, dashboard",
    )
    parser.add_argument(
        "--events", type=int, default=0, help="only the analytics listener's cost, N events"
    )
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    data_dir = Path(tempfile.mkdtemp(prefix="kefu-bench-analytics-"))
    if args.reuse:
        db = reused_database(args.db, args.reuse, args.pg_server)
    else:
        db = make_database(args.db, args.pg_server, data_dir)
    os.environ.update(
        KEFU_DATABASE_URL=db.url,
        KEFU_DATA_DIR=str(data_dir),
        KEFU_DEBUG="1",
        KEFU_SECRET_KEY=secrets.token_urlsafe(40),
        KEFU_ALLOWED_HOSTS="testserver,localhost",
        KEFU_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="kefu.settings",
    )
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.db.models import Count
        from django.utils import timezone

        from kefu.analytics import rollups, terms, value
        from kefu.analytics.models import AgentDailyRollup, DailyRollup

        call_command("migrate", verbosity=0)
        if args.events:
            events_bench(args.events)
            return
        print(
            f"kefu bench analytics: {connection.vendor}, Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, load average {load()}"
        )
        skip = {x.strip() for x in args.skip.split(",") if x.strip()}
        from kefu.conversations.models import Conversation

        world = existing_world()
        done = Conversation.objects.count() if world else 0
        if world is None:
            world = setup_world(max(sizes))
        elif len(world["customers"]) < max(sizes) // 5:
            raise SystemExit(f"{args.reuse} was seeded for fewer conversations; use another")
        last = Conversation.objects.order_by("-created_at").values_list("created_at").first()
        # a reused database keeps the "now" it was seeded at, so its periods stay the same
        now = last[0] if last and args.reuse else timezone.now()
        team = world["teams"][0]
        product = world["tags"][PRODUCTS[0]]
        queries = {
            "7 days, no filter": "period=7d",
            "30 days, no filter": "period=30d",
            "30 days, team + channel": f"period=30d&team={team}&channel=email",
            "30 days, product": f"period=30d&tag={product}",
            "90 days (by week), no filter": "period=90d",
            "90 days, team + tier + kind": f"period=90d&team={team}&tier=vip&kind=question",
            "90 days by day, channel + product": f"period=90d&grain=day&channel=chat&tag={product}",
            "12 months by week, no filter": "period=365d&grain=week",
            "12 months by week, team + channel": f"period=365d&grain=week&team={team}&channel=chat",
            "12 months by month, tier": "period=365d&grain=month&tier=vip",
            "12 months by day, no filter": "period=365d&grain=day",
            "12 months by week, product + kind": f"period=365d&tag={product}&kind=complaint",
        }
        for size in sizes:
            seed = grow(world, done, size, now) if size > done else 0.0
            done = max(done, size)
            print(f"\n{size:,} conversations, {size * 5:,} messages; load average {load()}")
            nothing = (0.0, 0.0)
            rebuild_s, rebuild_cpu = timed(rollups.rebuild) if "rebuild" not in skip else nothing
            values_s, values_cpu = timed(value.refresh_values) if "values" not in skip else nothing
            terms_s, terms_cpu = (
                timed(lambda: terms.refresh_week(terms.monday(timezone.localdate())))
                if "terms" not in skip
                else nothing
            )
            by_grain = dict(
                DailyRollup.objects.values_list("grain").annotate(n=Count("pk")).order_by()
            )
            print(
                "| seed s | rebuild s (CPU s) | main rollup rows (day / week / month) | "
                "agent rows | values s (CPU s) | terms (1 week) s (CPU s) |"
            )
            print("|---|---|---|---|---|---|")
            print(
                f"| {seed:.0f} | {rebuild_s:.1f} ({rebuild_cpu:.1f}) | "
                + " / ".join(f"{by_grain.get(g, 0):,}" for g in ("day", "week", "month"))
                + f" | {AgentDailyRollup.objects.count():,} | {values_s:.1f} ({values_cpu:.1f})"
                f" | {terms_s:.1f} ({terms_cpu:.1f}) |",
                flush=True,
            )
            if "dashboard" in skip:
                continue
            print(
                "\n| manager dashboard | wall ms, median | CPU ms (this process) | queries "
                "| queries' wall ms | first request, cold (empty cache): wall ms (CPU ms) "
                "| load average |"
            )
            print("|---|---|---|---|---|---|---|")
            for label, query in queries.items():
                wall, cpu, n, cold, cold_cpu, db_s = dashboard(world, query, args.runs)
                print(
                    f"| {label} | {wall * 1000:.0f} | {cpu * 1000:.0f} | {n} | {db_s * 1000:.0f} "
                    f"| {cold * 1000:.0f} ({cold_cpu * 1000:.0f}) | {load()} |",
                    flush=True,
                )
            after_warm(world, queries)
        print(f"load average after: {load()}")
    finally:
        db.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
