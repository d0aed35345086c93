"""SLA sweep benchmark: one periodic sweep over a million open conversations in PostgreSQL.

    .venv/bin/python bench/sla_sweep.py [--open 1000000] [--due 3000] [--runs 3]

It makes a throwaway PostgreSQL database (``kefu_sla_<random>``, dropped at the end), migrates
it and writes ``--open`` open conversations with their SLA clocks straight in SQL
(``INSERT … SELECT generate_series``: the actions would take hours and are not what is
measured). Clocks' next checks are spread over the next 30 days, a tenth are paused (pending),
and ``--due`` of them have come due: half past their near-breach point, half past their due
time. Then it runs :func:`kefu.service.sweep.sweep` as the scheduler would and prints, per
sweep, the wall time, the SQL statements and the events fired; then an idle sweep (nothing
due); then the plan of the sweep's read (``EXPLAIN ANALYZE``) to show that it is the partial
index on ``next_check_at`` and not a scan of the open conversations. It never asserts anything
about time. Results: docs/benchmarks.md, "SLA sweep".
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def make_database(pg_server: str) -> tuple[str, object]:
    import psycopg

    name = f"kefu_sla_{secrets.token_hex(4)}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django never got set up
            pass
        with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{pg_server}/{name}", drop


def seed(total: int, due: int, customers: int) -> float:
    """Customers by the ORM; conversations and clocks by INSERT … SELECT. Returns seconds."""
    from django.db import connection
    from django.utils import timezone

    from kefu.customers.models import Customer, Tier
    from kefu.service.models import SlaPolicy

    started = time.perf_counter()
    Customer.objects.bulk_create(
        [
            Customer(name=f"客户 {i}", tier=Tier.VIP if i % 20 == 0 else Tier.NORMAL)
            for i in range(customers)
        ],
        batch_size=5000,
    )
    policy = SlaPolicy.objects.create(
        name="Bench", first_response_minutes=240, next_response_minutes=120, resolution_minutes=2880
    )
    first_customer = Customer.objects.order_by("pk").values_list("pk", flat=True).first()
    now = timezone.now()
    with connection.cursor() as cursor:
        # Conversations 1..due have come due (odd: past the warning, even: past the due time);
        # the rest are checked later, over the next 30 days; every tenth is pending (paused).
        cursor.execute(
            """
            INSERT INTO conversations_conversation
                (id, customer_id, channel, subject, status, priority, kind, language,
                 created_at, updated_at, last_message_at, last_inbound_at,
                 first_response_due, resolution_due, resolution_note)
            SELECT g, %(first)s + (g %% %(customers)s), 'email', '订单 ' || g,
                   CASE WHEN g > %(due)s AND g %% 10 = 0 THEN 'pending'
                        WHEN g %% 3 = 0 THEN 'new' ELSE 'open' END,
                   'normal', 'question', '',
                   %(now)s - interval '1 day', %(now)s, %(now)s, %(now)s,
                   CASE WHEN g <= %(due)s AND g %% 2 = 0 THEN %(now)s - interval '1 minute'
                        WHEN g <= %(due)s THEN %(now)s + interval '30 minutes'
                        ELSE %(now)s + (g %% 43200) * interval '1 minute' + interval '1 hour'
                   END,
                   %(now)s + interval '30 days', ''
            FROM generate_series(1, %(total)s) AS g
            """,
            {
                "first": first_customer,
                "customers": customers,
                "due": due,
                "total": total,
                "now": now,
            },
        )
        cursor.execute(
            """
            INSERT INTO service_slaclock
                (conversation_id, policy_id, started_at, paused_minutes, next_paused_minutes,
                 warned, breached, paused_at, first_response_warn_at, resolution_warn_at,
                 next_check_at)
            SELECT c.id, %(policy)s, c.created_at, 0, 0, 0, 0,
                   CASE WHEN c.status = 'pending' THEN %(now)s END,
                   CASE WHEN c.id <= %(due)s THEN %(now)s - interval '2 minutes'
                        ELSE c.first_response_due - interval '48 minutes' END,
                   %(now)s + interval '24 days',
                   CASE WHEN c.status = 'pending' THEN NULL
                        WHEN c.id <= %(due)s THEN %(now)s - interval '2 minutes'
                        ELSE c.first_response_due - interval '48 minutes' END
            FROM conversations_conversation c
            """,
            {"policy": policy.pk, "now": now, "due": due},
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('conversations_conversation', 'id'), %s)",
            [total],
        )
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def explain(now: object) -> str:
    from django.db import connection, transaction

    from kefu.service.models import SlaClock

    query = (
        SlaClock.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("conversation")
        .filter(next_check_at__lte=now)
        .order_by("next_check_at")[:2000]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = query.query.sql_with_params()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=1_000_000, help="open conversations")
    parser.add_argument("--due", type=int, default=3000, help="clocks come due before the sweep")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=2, help="idle sweeps")
    parser.add_argument("--pg-server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--profile", action="store_true", help="cProfile the busy sweep")
    parser.add_argument("--sql", action="store_true", help="print the statements")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()

    url, drop = make_database(args.pg_server)
    data_dir = Path(tempfile.mkdtemp(prefix="kefu-sla-"))
    os.environ.update(
        KEFU_DATABASE_URL=url,
        KEFU_DATA_DIR=str(data_dir),
        KEFU_DEBUG="0",
        KEFU_SECRET_KEY=secrets.token_urlsafe(40),
        KEFU_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="kefu.settings",
    )
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone

        from kefu.core.events import SlaBreached, SlaWarning, listen
        from kefu.service.models import SlaClock
        from kefu.service.sweep import sweep

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            version = cursor.fetchone()[0].split(" on ")[0]
        print(
            f"kefu sla_sweep: {version}, Python {platform.python_version()}, "
            f"Django {django.get_version()}, {os.cpu_count()} CPUs, "
            f"load {os.getloadavg()[0]:.1f}"
        )
        seconds = seed(args.open, args.due, args.customers)
        clocks = SlaClock.objects.count()
        waiting = SlaClock.objects.filter(next_check_at__isnull=True).count()
        print(
            f"seeded {args.open:,} open conversations and {clocks:,} clocks "
            f"({waiting:,} paused) in {seconds:.0f} s"
        )
        fired: dict[str, int] = {"warning": 0, "breach": 0}

        @listen(SlaWarning, SlaBreached)
        def count(event: object) -> None:
            fired["breach" if isinstance(event, SlaBreached) else "warning"] += 1

        busy_plan = explain(timezone.now())
        print("\n| sweep | due clocks | events fired | SQL statements | wall time |")
        print("| --- | ---: | ---: | ---: | ---: |")
        from kefu.core import events as bus

        def rearm() -> None:
            """Put the due clocks back as they were before the busy sweep."""
            now = timezone.now()
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE service_slaclock SET warned = 0, breached = 0, next_check_at = %s,"
                    " first_response_warn_at = %s WHERE conversation_id <= %s",
                    [now - timedelta(minutes=2), now - timedelta(minutes=2), args.due],
                )
                cursor.execute(
                    "UPDATE conversations_conversation SET first_response_due = CASE"
                    " WHEN id %% 2 = 0 THEN %s ELSE %s END WHERE id <= %s",
                    [now - timedelta(minutes=1), now + timedelta(minutes=30), args.due],
                )

        def others() -> list[tuple[type, object]]:
            """Listeners of the SLA events that are neither the SLA's nor the workspace push
            (today: analytics' per-event refresh task)."""
            ours = {"kefu.service.escalation", "kefu.conversations.push", "__main__"}
            return [
                (klass, fn)
                for klass in SlaWarning.__mro__
                for fn in bus._listeners.get(klass, ())
                if getattr(fn, "__module__", "") not in ours
            ]

        runs = [("busy, SLA + push listeners", True), ("idle", False)]
        runs += [("busy, every listener", True)] if others() else []
        runs += [("idle", False)] * (args.runs - 1)
        for label, busy in runs:
            removed = others() if label.startswith("busy, SLA") else []
            for klass, fn in removed:
                bus._listeners[klass].remove(fn)
            if busy and label.startswith("busy, every"):
                rearm()
            now = timezone.now()
            due_now = SlaClock.objects.filter(next_check_at__lte=now).count()
            before = dict(fired)
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                if args.profile and busy:
                    import cProfile
                    import pstats

                    profiler = cProfile.Profile()
                    events = profiler.runcall(sweep, now)
                    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
                else:
                    events = sweep(now)
                elapsed = time.perf_counter() - started
            for klass, fn in removed:
                bus._listeners[klass].append(fn)
            for q in queries.captured_queries if args.sql else ():
                print(q["sql"][:200], q["time"])
            warnings = fired["warning"] - before["warning"]
            breaches = fired["breach"] - before["breach"]
            assert events == warnings + breaches
            print(
                f"| {label} | {due_now:,} | {events:,} ({warnings:,} warnings, "
                f"{breaches:,} breaches) | {len(queries)} | {elapsed * 1000:.0f} ms |"
            )
        if others():
            names = ", ".join(f"{fn.__module__}.{fn.__name__}" for _, fn in others())
            print(f"\n(other listeners of the SLA events: {names})")
        print("\nThe sweep's read before the busy sweep (EXPLAIN ANALYZE):\n")
        print(busy_plan)
        print("\nThe same read on an idle minute:\n")
        print(explain(timezone.now()))
    finally:
        if args.keep:
            print(f"kept {url}")
        else:
            drop()  # type: ignore[operator]


if __name__ == "__main__":
    main()
