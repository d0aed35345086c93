"""Campaign delivery benchmark: a personalised campaign to N customers, end to end.

    .venv/bin/python bench/campaign.py [--sizes 10000,100000] [--db sqlite|postgres]
        [--senders 8] [--processes 1]

For each size, in a fresh process with its own throwaway database (a temporary SQLite file,
or a fresh PostgreSQL database ``kefu_campaign_<random>`` dropped at the end), it seeds N
customers (bulk_create: names, languages, consent, a preference for half of them), a template
with three language versions that uses the name and a preference, a segment of everyone and a
campaign; then it runs the campaign the way a worker does (``campaigns.run``: write one
delivery row per reachable customer, then claim, render, mark sending, hand to SMTP, mark
sent), delivering to a local SMTP sink (aiosmtpd, in a process of its own) on loopback over
the connection of Django's SMTP backend (``--senders`` connections; ``--processes`` sending
processes, as ``KEFU_CARE_PROCESSES`` does). It prints messages per second end to end (from
the start of the run to the last row marked sent, the writing of the recipient rows
included), the CPU time per message of the sending processes and of the sink (independent of
how busy the machine is), the load average at the start and end of the run, and the peak
memory of the main sending process during the run above its size before the run (VmHWM reset
through /proc/self/clear_refs). It never asserts anything.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))


def _sink(port: int, counter: object, ready: object) -> None:
    """The SMTP sink process: accept and count every message, keep nothing."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            with counter.get_lock():  # type: ignore[attr-defined]
                counter.value += 1  # type: ignore[attr-defined]
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()  # type: ignore[attr-defined]
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])  # kB
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_database(kind: str, pg_server: str) -> tuple[str, object]:
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="kefu-campaign-")) / "bench.sqlite3"
        return f"sqlite:///{path}", lambda: None
    import psycopg

    name = f"kefu_campaign_{secrets.token_hex(4)}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{pg_server}/{name}", drop


def seed(size: int) -> int:
    from kefu.care.models import Campaign, Segment, Template, TemplateVersion
    from kefu.customers.models import Customer, Preference

    languages = ("zh-hans", "zh-hant", "en")
    batch = 5000
    for start in range(0, size, batch):
        Customer.objects.bulk_create(
            [
                Customer(
                    name=f"客户{i}",
                    primary_contact=f"c{i}@example.com",
                    language=languages[i % 3],
                    consent_marketing=i % 20 != 0,  # 5 % without consent
                )
                for i in range(start, min(size, start + batch))
            ]
        )
    ids = list(Customer.objects.order_by("id").values_list("id", flat=True)[::2])
    for start in range(0, len(ids), batch):
        Preference.objects.bulk_create(
            [
                Preference(customer_id=pk, kind="personal", value="龙井茶")
                for pk in ids[start : start + batch]
            ]
        )
    template = Template.objects.create(name="spring")
    for language, subject, body in (
        (
            "zh-hans",
            "{{ name }}，春季新品",
            "{{ name }}您好，{{ preference|default:'新品' }}已上架。",
        ),
        (
            "zh-hant",
            "{{ name }}，春季新品",
            "{{ name }}您好，{{ preference|default:'新品' }}已上架。",
        ),
        (
            "en",
            "{{ name }}, new for spring",
            "Dear {{ name }}, {{ preference|default:'it' }} is in.",
        ),
    ):
        TemplateVersion.objects.create(
            template=template,
            language=language,
            subject=subject,
            body_text=body + "\n{% for p in preferences %}- {{ p }}\n{% endfor %}",
            body_html=f"<p>{body}</p>",
        )
    segment = Segment.objects.create(name="everyone", rules={})
    campaign = Campaign.objects.create(name="bench", template=template, segment=segment)
    return campaign.pk


def _helper(campaign_id: int, parallel: int, results: object) -> None:
    """A second worker process sending the same campaign (``campaigns.help_send``)."""
    from kefu.care import campaigns

    cpu = time.process_time()
    campaigns.help_send(campaign_id, batch=500, parallel=parallel)
    results.put(time.process_time() - cpu)  # type: ignore[attr-defined]


def child(size: int, db: str, pg_server: str, senders: int, processes: int = 1) -> None:
    url, drop = make_database(db, pg_server)
    port_sock = __import__("socket").socket()
    port_sock.bind(("127.0.0.1", 0))
    port = port_sock.getsockname()[1]
    port_sock.close()
    os.environ.update(
        KEFU_DATABASE_URL=url,
        KEFU_DATA_DIR=tempfile.mkdtemp(prefix="kefu-campaign-data-"),
        KEFU_DEBUG="0",
        KEFU_SECRET_KEY=secrets.token_urlsafe(40),
        KEFU_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="kefu.settings",
    )
    counter = multiprocessing.Value("l", 0)
    ready = multiprocessing.Event()
    sink = multiprocessing.Process(target=_sink, args=(port, counter, ready), daemon=True)
    sink.start()
    ready.wait(30)
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        settings.KEFU_CARE_SENDERS = senders
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        campaign_id = seed(size)
        seeded = time.perf_counter() - started

        from kefu.care import campaigns
        from kefu.care.models import Campaign, Delivery

        campaign = Campaign.objects.get(pk=campaign_id)
        campaigns.start(campaign)
        Campaign.objects.filter(pk=campaign_id).update(status="running")
        rss_before = _status("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        load_before = os.getloadavg()[0]
        sink_cpu = _cpu_seconds(sink.pid)  # type: ignore[arg-type]
        cpu = time.process_time()
        t0 = time.perf_counter()
        if os.environ.get("CAMPAIGN_PROFILE"):
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(campaigns.run, campaign_id, batch=500, parallel=1)
            pstats.Stats(profiler).sort_stats(
                os.environ.get("CAMPAIGN_PROFILE_SORT", "tottime")
            ).print_stats(os.environ.get("CAMPAIGN_PROFILE_FILTER", ""), 30)
        elif processes > 1:
            # As KEFU_CARE_PROCESSES does with a task worker of several processes: the rows
            # are written, then helpers send beside the process that runs the campaign.
            from django.db import connections

            campaigns.materialize(Campaign.objects.get(pk=campaign_id))
            connections.close_all()  # not shared across the fork
            per = max(1, senders // processes)
            results = multiprocessing.Queue()
            helpers = [
                multiprocessing.Process(target=_helper, args=(campaign_id, per, results))
                for _ in range(processes - 1)
            ]
            for helper in helpers:
                helper.start()
            campaigns.run(campaign_id, batch=500, parallel=per)
            helper_cpu = sum(results.get() for _ in helpers)
            for helper in helpers:
                helper.join()
        else:
            campaigns.run(campaign_id, batch=500)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu + (helper_cpu if processes > 1 else 0.0)
        sink_cpu = _cpu_seconds(sink.pid) - sink_cpu  # type: ignore[arg-type]
        load_after = os.getloadavg()[0]
        peak = _status("VmHWM")
        sent = Delivery.objects.filter(state="sent").count()
        time.sleep(0.5)
        per = 1000 / max(1, sent)
        print(
            f"| {size:,} | {db} | {sent:,} | {counter.value:,} | {elapsed:.1f} s "
            f"| **{sent / elapsed:,.0f}** | {cpu * per:.2f} ms | {sink_cpu * per:.2f} ms "
            f"| {load_before:.2f} → {load_after:.2f} | {rss_before / 1024:,.0f} MB "
            f"| +{(peak - rss_before) / 1024:,.1f} MB | {seeded:.0f} s |",
            flush=True,
        )
    finally:
        sink.terminate()
        drop()  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--senders", type=int, default=8, help="parallel SMTP connections")
    parser.add_argument(
        "--processes", type=int, default=1, help="sending processes (the connections are shared)"
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.db, args.pg_server, args.senders, args.processes)
        return
    load = os.getloadavg()
    print(
        f"kefu campaign bench: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{args.senders} SMTP connections, {args.processes} sending process(es), "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start"
    )
    print()
    print(
        "| customers | db | sent | sink received | run time | msg/s | sender CPU / msg "
        "| sink CPU / msg | load (1 min) | RSS before | peak during run | seeding |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for size in [int(s) for s in args.sizes.split(",")]:
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(size),
                "--db",
                args.db,
                "--pg-server",
                args.pg_server,
                "--senders",
                str(args.senders),
                "--processes",
                str(args.processes),
            ],
            check=True,
        )
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
