"""Mail ingestion benchmark: the pipe path (``kefu mail ingest``) on SQLite and PostgreSQL,
against django-helpdesk's own ingestion on the same messages.

    .venv/bin/python bench/mail_ingest.py [--messages 10000] [--skip-peer] [--db sqlite,postgres]

A full run (the defaults) takes about 9-10 minutes on the 2-CPU machine: SQLite about 3.5
min, PostgreSQL 2 min (see ``--pg-budget``), django-helpdesk about 3 min. Results and their
reading are in docs/benchmarks.md, "Mail ingestion". Other options:

``--pg-budget 120``  seconds of PostgreSQL ingestion; the run stops there and reports how many
                     messages it got through (the checks cover those). 0: all messages.
``--redeliver 500``  messages delivered a second time.
``--pipe-samples 20`` new messages each fed to a real ``kefu mail ingest`` process (SQLite),
                     to show what one process per message costs. 0: skip.
``--window 100``     messages traced by tracemalloc before each checkpoint (1k, 5k, 10k);
                     ``--tracemalloc-all`` traces every message (about 3x slower),
                     ``--no-tracemalloc`` none.
``--profile``        cProfile the SQLite run and print where the time goes (its rate is then
                     not a benchmark figure).
``--no-gc-freeze``   leave the garbage collector as Python starts it. By default kefu's and
                     the peer's processes both settle it once set up, as kefu's server process
                     does (``gc.collect(); gc.freeze()``, ``kefu.cli``): full collections then
                     walk what ingestion made, not Django and the apps (0.07 ms of kefu's CPU a
                     message over 2,000 messages).
``--peer-python PATH`` default ``/tmp/helpdesk-venv/bin/python``; when it does not exist the
                     benchmark makes that throwaway virtualenv (``python3.11 -m venv``,
                     ``pip install django-helpdesk``), never touching kefu's own virtualenv.
``--seed N``, ``--keep`` (keep the temporary folder), ``--pg-url`` (default
``postgres://postgres@127.0.0.1:5432``).

What it does:

1. Writes ``--messages`` messages to a temporary folder with ``bench/mail_corpus.py`` (seeded:
   the same bytes every run): plain, HTML + plain, HTML only, inline images, GB2312 / GBK /
   GB18030 / Big5 (mislabeled ones too) with encoded-word subjects and RFC 2231 file names,
   replies with In-Reply-To and quoted history, auto-replies, attachments of a few KB and a
   few of up to 1.2 MB, and the real messages of ``/work/shared/data/mail/`` spread through
   the stream (read from there, never copied into the repository).
2. For each database, a child process (a clean ``django.setup()``) with production settings
   (no ``KEFU_DEBUG``, so no query log; ``--debug`` turns it on), ``KEFU_DATABASE_URL`` (a
   fresh SQLite file, or a fresh PostgreSQL database ``kefu_bench_<random>`` that is dropped
   afterwards), ``KEFU_DATA_DIR`` and ``KEFU_MEDIA_ROOT`` in the temporary folder migrates,
   makes one mailbox (acknowledgments on, as in production) and, for each message in order,
   calls ``kefu.mail.batch.accept(raw, mailbox=..., source="pipe")``, what ``kefu mail ingest``
   does (store the raw bytes in their own transaction, queue the worker's task), and every
   ``--batch`` (100) messages ``kefu.mail.batch.process_batch``, what the worker's job does
   with the stored ones: end to end, stored and processed. It measures messages per second
   (wall time of the loop, file reads included, over the messages tracemalloc did not watch),
   CPU time per message, the resident
   size and ru_maxrss after 1k, 5k and 10k messages, and tracemalloc's peak over the 100
   messages before each of those, then checks:

   * lost: every distinct raw message has its InboundEmail row (and none is left unprocessed);
   * duplicated: 500 messages delivered again (half byte-identical, half relayed again with
     one more ``Received:`` header, so different bytes but the same Message-ID) add no
     conversation message, conversation or acknowledgment;
   * mojibake: no U+FFFD in the subject or body of what the shared corpus became (a U+FFFD
     that stands for bytes invalid in the source itself is reported as such);
   * decoding of the generated messages against what they were written with: the subject,
     a sentence of the new text, the attachment file names, replies threaded into the
     conversation of the message they answer, quoted history folded away.
3. Runs ``bench/helpdesk_peer.py`` with the peer's Python: django-helpdesk's
   ``helpdesk.email.extract_email_metadata`` on the same messages (as its IMAP poller calls
   it), its rate, exceptions, U+FFFD on the shared corpus and tickets created by re-delivering
   the same 500 messages. A failing peer is reported, never fatal.
4. Prints everything as Markdown, with the ratio kefu (SQLite) / peer and the targets.

It never asserts anything about time; the exit status is 1 only when kefu lost, duplicated
or garbled a message, or a kefu child failed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import resource
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEER_VENV = Path("/tmp/helpdesk-venv")
SHARED_CORPUS = ROOT.parent / "shared" / "data" / "mail"
PG_URL = "postgres://postgres@127.0.0.1:5432"
FFFD = "\ufffd"
CHECKPOINTS = (1000, 5000, 10_000)
TARGET_RATE = 200.0
TARGET_RATIO = 5.0


# ---------------------------------------------------------------------------------------------
# Parent
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--db", default="sqlite,postgres", help="sqlite, postgres, both, or none (the peer only)"
    )
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--redeliver", type=int, default=500)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--window",
        type=int,
        default=100,
        help="messages traced before each checkpoint (tracemalloc)",
    )
    parser.add_argument("--tracemalloc-all", action="store_true")
    parser.add_argument("--no-tracemalloc", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="leave the garbage collector as Python starts it (by default both kefu and the peer "
        "settle it after start-up, as kefu's server does: gc.collect(), gc.freeze())",
    )
    parser.add_argument(
        "--batch", type=int, default=100, help="stored messages the worker processes at once"
    )
    parser.add_argument(
        "--debug", action="store_true", help="run kefu with KEFU_DEBUG=1 (the query log)"
    )
    parser.add_argument("--peer-python", type=Path, default=PEER_VENV / "bin" / "python")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument(
        "--pg-budget",
        type=float,
        default=120.0,
        help="stop feeding PostgreSQL after this many seconds (0: all messages)",
    )
    parser.add_argument("--budget", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--pipe-samples",
        type=int,
        default=20,
        help="new messages fed to a real `kefu mail ingest` process each (SQLite run)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--pipe", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    sys.path.insert(0, str(BENCH))
    import mail_corpus

    databases = [d.strip() for d in args.db.split(",") if d.strip() and d.strip() != "none"]
    unknown = set(databases) - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"unknown database {', '.join(sorted(unknown))}")
    seed = args.seed if args.seed is not None else mail_corpus.SEED
    tmp = Path(tempfile.mkdtemp(prefix="kefu-mail-bench-"))
    started = time.perf_counter()
    failed = False
    facts: dict[str, str] = {}
    try:
        facts = machine_facts(args.pg_url if "postgres" in databases else "")
        print_facts(facts, args)
        corpus = tmp / "corpus"
        t0 = time.perf_counter()
        mail_corpus.write(corpus, args.messages, seed)
        rows = [json.loads(line) for line in (corpus / "manifest.jsonl").open(encoding="utf-8")]
        write_redeliveries(corpus, rows, args.redeliver)
        if args.pipe_samples:
            mail_corpus.write(tmp / "pipe", args.pipe_samples, seed + 1, corpus=None)
        kinds = Counter(r["kind"].split("/")[0] for r in rows)
        print(
            f"\ncorpus: {len(rows)} messages, {sum(r['size'] for r in rows) / 1e6:.1f} MB, "
            f"{sum(1 for r in rows if r['source'] != 'generated')} from the shared corpus, "
            f"{sum(1 for r in rows if r['parent'])} replies, "
            f"{sum(1 for r in rows if r['filenames'])} with attachments "
            f"(written in {time.perf_counter() - t0:.1f} s)"
        )
        print("kinds: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))

        results: dict[str, dict[str, Any]] = {}
        for database in databases:
            print(f"\n== kefu on {database} ==", flush=True)
            result = run_kefu(database, tmp, corpus, args)
            results[database] = result
            if "error" in result:
                failed = True
                print(f"kefu on {database} FAILED: {result['error']}")
            else:
                print_kefu(result)
                failed |= not result["checks_ok"]

        peer: dict[str, Any] | None = None
        if args.skip_peer:
            print("\n== django-helpdesk: skipped (--skip-peer) ==")
        else:
            print("\n== django-helpdesk (the peer) ==", flush=True)
            peer = run_peer(
                args.peer_python, corpus, tmp / "peer", args.redeliver, not args.no_gc_freeze
            )
            print_peer(peer)

        print_summary(results, peer, facts, args)
    finally:
        if args.keep:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\nwhole run: {time.perf_counter() - started:.0f} s; load average at the start "
        f"{facts.get('load', '?')}, at the end {load_average()} "
        f"(1, 5, 15 min; on {os.cpu_count()} CPUs other processes slow every figure down)"
    )
    return 1 if failed else 0


def machine_facts(pg_url: str) -> dict[str, str]:
    facts = {
        "cpus": str(os.cpu_count()),
        "cpu": "?",
        "memory": "?",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgres": "not used",
        "os": platform.platform(),
        "load": load_average(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                facts["memory"] = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    try:
        import django

        facts["django"] = django.get_version()
    except ImportError:
        facts["django"] = "?"
    if pg_url:
        try:
            import psycopg

            with psycopg.connect(f"{pg_url}/postgres", connect_timeout=5) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                facts["postgres"] = row[0] if row else "?"
        except Exception as exc:
            facts["postgres"] = f"unreachable ({exc})".splitlines()[0]
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        facts["kefu"] = commit + (" + uncommitted changes in src/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        facts["kefu"] = "?"
    return facts


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def print_facts(facts: dict[str, str], args: argparse.Namespace) -> None:
    print("# kefu mail ingestion benchmark\n")
    print(f"command: .venv/bin/python bench/mail_ingest.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"machine: {facts['cpus']} CPUs ({facts['cpu']}), {facts['memory']} RAM, {facts['os']}")
    print(
        f"Python {facts['python']}, Django {facts['django']}, SQLite {facts['sqlite']}, "
        f"PostgreSQL {facts['postgres']}, kefu {facts['kefu']}"
    )
    print(
        "tracemalloc: "
        + (
            "off"
            if args.no_tracemalloc
            else "on for every message (rates are slowed down about 3x)"
            if args.tracemalloc_all
            else f"on for the {args.window} messages before each checkpoint, which are left "
            "out of the rates"
        )
        + (", cProfile on (rates are NOT benchmark figures)" if args.profile else "")
    )
    print(
        "garbage collector: "
        + (
            "as Python starts it"
            if args.no_gc_freeze
            else "settled after start-up in kefu's and the peer's process alike (gc.collect(), "
            "gc.freeze(): what start-up loaded is out of the collector's sight, as in kefu's "
            "server process)"
        )
    )


def write_redeliveries(corpus: Path, rows: list[dict[str, Any]], count: int) -> None:
    """Which messages are delivered a second time: ``count`` spread evenly over the stream;
    every other generated one is "relayed" (one more Received: header, same Message-ID)."""
    count = min(count, len(rows))
    picks = sorted({round((i + 0.5) * len(rows) / count) for i in range(count)}) if count else []
    with (corpus / "redeliver.jsonl").open("w", encoding="utf-8") as handle:
        for n, index in enumerate(picks):
            row = rows[min(index, len(rows) - 1)]
            relayed = n % 2 == 1 and row["source"] == "generated"
            handle.write(json.dumps({"file": row["file"], "relayed": relayed}) + "\n")


def run_kefu(database: str, tmp: Path, corpus: Path, args: argparse.Namespace) -> dict[str, Any]:
    work = tmp / database
    work.mkdir()
    env = dict(os.environ)
    env.update(
        KEFU_DATA_DIR=str(work / "data"),
        KEFU_MEDIA_ROOT=str(work / "media"),
        KEFU_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="kefu.settings",
    )
    env.pop("KEFU_REDIS_URL", None)
    env.pop("KEFU_DEBUG", None)
    if args.debug:
        env["KEFU_DEBUG"] = "1"  # the query log and DEBUG's other costs, for comparison
    else:
        env["KEFU_SECRET_KEY"] = secrets.token_urlsafe(50)  # production settings need one
    db_name = ""
    if database == "sqlite":
        env["KEFU_DATABASE_URL"] = f"sqlite:///{work / 'kefu.sqlite3'}"
    else:
        db_name = f"kefu_bench_{secrets.token_hex(4)}"
        try:
            pg_admin(args.pg_url, f'CREATE DATABASE "{db_name}"')
        except Exception as exc:
            return {"error": f"cannot create a PostgreSQL database at {args.pg_url}: {exc}"}
        env["KEFU_DATABASE_URL"] = f"{args.pg_url}/{db_name}"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        database,
        "--corpus",
        str(corpus),
        "--work",
        str(work),
    ]
    if args.no_tracemalloc:
        command.append("--no-tracemalloc")
    elif args.tracemalloc_all:
        command.append("--tracemalloc-all")
    else:
        command += ["--window", str(args.window)]
    command += ["--batch", str(args.batch)]
    if args.no_gc_freeze:
        command.append("--no-gc-freeze")
    if args.profile and database == "sqlite":
        command.append("--profile")
    if database == "postgres" and args.pg_budget:
        command += ["--budget", str(args.pg_budget)]
    if args.pipe_samples and database == "sqlite":
        command += ["--pipe", str(tmp / "pipe")]
    log = work / "child.log"
    try:
        with log.open("w") as stderr:
            done = subprocess.run(
                command,
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                timeout=3600,
                check=False,
                cwd=str(ROOT),
            )
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        for line in lines[:-1]:  # anything the child printed before its result
            print(line)
        if done.returncode != 0 or not lines:
            return {"error": f"exit {done.returncode}; last lines of its log:\n{tail(log)}"}
        result = json.loads(lines[-1])
        result["log_tail"] = tail(log, 5) if log.stat().st_size else ""
        return result
    except subprocess.TimeoutExpired:
        return {"error": "timed out after an hour"}
    finally:
        if db_name:
            try:
                pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            except Exception as exc:
                print(f"could not drop {db_name}: {exc}")


def pg_admin(pg_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{pg_url}/postgres", autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def ensure_peer(python: Path) -> str:
    """'' when the peer's Python is ready, else why not."""
    if python.exists():
        return ""
    if python != PEER_VENV / "bin" / "python":
        return f"{python} does not exist"
    print(f"making the throwaway virtualenv {PEER_VENV} with django-helpdesk …", flush=True)
    base = shutil.which("python3.11") or sys.executable
    try:
        subprocess.run(
            [base, "-m", "venv", str(PEER_VENV)], check=True, timeout=300, capture_output=True
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "django-helpdesk"],
            check=True,
            timeout=900,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        err = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-3:]
        return f"installing django-helpdesk failed: {' / '.join(err)}"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"installing django-helpdesk failed: {exc}"
    return ""


def run_peer(
    python: Path, corpus: Path, work: Path, redeliver: int, gc_freeze: bool = True
) -> dict[str, Any]:
    why = ensure_peer(python)
    if why:
        return {"error": why}
    log = work.parent / "peer.log"
    try:
        with log.open("w") as stderr:
            done = subprocess.run(
                [
                    str(python),
                    str(BENCH / "helpdesk_peer.py"),
                    str(corpus),
                    str(work),
                    "--redeliver-list",
                    str(corpus / "redeliver.jsonl"),
                    *([] if gc_freeze else ["--no-gc-freeze"]),
                ],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                timeout=3600,
                check=False,
                env={k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "DJANGO_"))},
            )
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        if done.returncode != 0 or not lines:
            return {"error": f"exit {done.returncode}; last lines of its log:\n{tail(log, 15)}"}
        return json.loads(lines[-1])
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------


def print_kefu(r: dict[str, Any]) -> None:
    if r["stopped_early"]:
        print(
            f"stopped by the time budget of {r['budget']:.0f} s (--pg-budget) after "
            f"{r['messages']} of the {r['planned']} messages; the checks cover those"
        )
    print(
        f"{r['messages']} messages in {r['seconds']:.1f} s; {r['rate']:.1f} messages/s "
        f"over the {r['messages'] - r['traced_messages']} not traced by tracemalloc "
        f"({r['rate_all']:.1f}/s over all); CPU {r['cpu_seconds']:.1f} s of the "
        f"{r['seconds']:.1f} s ({r['cpu_seconds'] / r['messages'] * 1000:.1f} ms a message, "
        f"tracemalloc windows included); first message {r['first_ms']:.0f} ms (warm-up); "
        f"migrate {r['migrate_seconds']:.1f} s, not counted"
    )
    print(
        f"stored one by one as `kefu mail ingest` stores, processed by the worker's job in "
        f"batches of {r.get('batch_size')}; batches that failed and went one by one: "
        f"{r.get('batches_one_by_one')}"
    )
    print(
        "\n| after | messages/s so far | RSS now | ru_maxrss | tracemalloc peak over the "
        "window before | of it still allocated after the window |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for mark, c in r["checkpoints"].items():
        window = (
            f" ({c['window']} messages, the largest {c['window_largest_kb']:,} KB)"
            if c.get("window")
            else ""
        )
        print(
            f"| {int(mark):,} | {c['rate']:.1f} | {c['rss_mb']:.0f} MB | "
            f"{c['ru_maxrss_mb']:.0f} MB | {mb(c.get('window_peak_mb'))}{window} | "
            f"{mb(c.get('window_retained_mb'))} |"
        )
    print(
        "\nslowest kinds (mean ms per message): "
        + ", ".join(f"{k} {v['ms']:.1f} (×{v['n']})" for k, v in r["by_kind"][:8])
    )
    print(
        "slowest messages: "
        + ", ".join(
            f"{s['file']} {s['kind']} {s['ms']:.0f} ms ({s['size'] // 1024} KB)"
            for s in r["slowest"]
        )
    )
    c = r["checks"]
    print("\nchecks:")
    print(
        f"  lost: {c['lost']} of {c['distinct']} distinct raw messages "
        f"(InboundEmail rows {c['inbound_rows']}; states {c['states']})"
    )
    if c["unprocessed"]:
        print(f"  NOT processed (left stored/quarantined): {c['unprocessed']}")
    if c["exceptions"]:
        print(f"  ingest() raised: {c['exceptions']}")
    d = c["redelivery"]
    print(
        f"  duplicated: re-delivered {d['delivered']} ({d['relayed']} relayed with new bytes) "
        f"in {d['seconds']:.2f} s -> +{d['new_messages']} messages, "
        f"+{d['new_conversations']} conversations, +{d['new_outbound']} acknowledgments, "
        f"+{d['new_inbound']} InboundEmail rows (states {d['states']})"
    )
    m = c["mojibake"]
    print(
        f"  mojibake (U+FFFD) on the shared corpus: {len(m['files'])} of {m['checked']} messages"
        + (f": {', '.join(m['files'])}" if m["files"] else "")
    )
    for name, why in m["inherent"].items():
        print(f"    {name}: {why}")
    if m["filenames"]:
        print(f"  U+FFFD in attachment names of the shared corpus: {', '.join(m['filenames'])}")
    if m["failed"]:
        print(f"  shared corpus messages kefu could not read (fallback): {m['failed']}")
    g = c["generated"]
    print(
        f"  generated: {g['checked']} checked; subject exact {g['subject_ok']}, new text found "
        f"{g['body_ok']}, attachment names {g['files_ok']}/{g['with_files']}, U+FFFD "
        f"{g['fffd']}, replies threaded {g['threaded']}/{g['replies']}, quoted history "
        f"folded {g['quote_folded']}/{g['quoting']}"
    )
    for label, examples in g["examples"].items():
        for example in examples[:3]:
            print(f"    {label}: {example}")
    print(
        f"  totals: {c['totals']['conversations']} conversations, {c['totals']['messages']} "
        f"messages ({c['totals']['notes']} notes), {c['totals']['attachments']} attachments, "
        f"{c['totals']['outbound']} acknowledgments queued"
    )
    if r.get("pipe"):
        pipe = r["pipe"]
        print(
            f"\npipe command (`kefu mail ingest < message`, one process per message as an MTA "
            f"runs it) on {pipe['messages']} new messages: median {pipe['median_ms']:.0f} ms, "
            f"mean {pipe['mean_ms']:.0f} ms = {pipe['rate']:.1f} messages/s; exit codes "
            f"{pipe['exit_codes']}; states {pipe['states']}"
        )
    if r.get("profile"):
        print("\ncProfile of the ingest loop (top by cumulative, then by own time):")
        print(r["profile"])


def print_peer(p: dict[str, Any]) -> None:
    if "error" in p:
        print(f"the peer did not run: {p['error']}")
        return
    print(
        f"django-helpdesk {p['helpdesk_version']}: {p['messages']} messages in "
        f"{p['seconds']:.1f} s = {p['rate']:.1f} messages/s (CPU {p['cpu_seconds']:.1f} s), "
        f"ru_maxrss {p['ru_maxrss_mb']:.0f} MB"
    )
    for mark, c in p["checkpoints"].items():
        print(
            f"  after {int(mark):,}: {c['rate']:.1f} messages/s, "
            f"ru_maxrss {c['ru_maxrss_mb']:.0f} MB"
        )
    print(
        f"  raised: {p['raised']} ({p['raised_by_type']}); shared corpus: {len(p['raised_corpus'])}"
    )
    for r in p["raised_corpus"]:
        print(f"    {r['file']}: {r['error'][:150]} (in {r['where']})")
    if p["raised_generated"]:
        print(
            f"    generated: {len(p['raised_generated'])}, e.g. "
            + "; ".join(f"{r['name']} {r['error'][:80]}" for r in p["raised_generated"][:3])
        )
    print(
        f"  replacement characters (U+FFFD, or its escape \\ufffd) on the shared corpus: "
        f"{len(p['fffd_corpus'])} messages"
        + (f": {', '.join(p['fffd_corpus'])}" if p["fffd_corpus"] else "")
    )
    for name in p["fffd_corpus"]:
        why = source_invalid(name)
        if why:
            print(f"    {name}: {why}")
    print(
        f"  generated: {p['generated_checked']} became tickets/follow-ups; subject found "
        f"{p['subject_ok']}, new text found {p['body_ok']}, replacement characters "
        f"{p['fffd_generated']}"
    )
    print(
        f"  re-delivered {p['redelivered']} identical messages: +{p['redeliver_new_tickets']} "
        f"tickets, +{p['redeliver_new_followups']} follow-ups ({p['redeliver_raised']} raised)"
    )


def checkpoint_marks(results: dict[str, dict[str, Any]]) -> list[int]:
    for r in results.values():
        if "checkpoints" in r:
            return [int(m) for m in r["checkpoints"]]
    return list(CHECKPOINTS)


def memory_flat(r: dict[str, Any]) -> str:
    """Flat: the resident size after the last checkpoint within 20 % (+10 MB) of the first
    one's, and what each tracemalloc window leaves allocated not growing (last within 1.5x
    +1 MB of the first). The windows' peaks follow the largest message in them, not their
    number, so they are shown but not judged."""
    points = list(r["checkpoints"].values())
    if len(points) < 2:
        return ""
    first, last = points[0], points[-1]
    flat = last["rss_mb"] <= first["rss_mb"] * 1.2 + 10
    kept = [c.get("window_retained_mb") for c in points]
    if kept[0] is not None and kept[-1] is not None:
        flat = flat and kept[-1] <= kept[0] * 1.5 + 1
    return (
        f"memory flat: {'yes' if flat else 'NO'} (RSS "
        + " / ".join(f"{c['rss_mb']:.0f}" for c in points)
        + " MB; left allocated by each tracemalloc window "
        + " / ".join(mb(k) for k in kept)
        + ")"
    )


def source_invalid(name: str) -> str:
    """invalid_in_source() for a file of the shared corpus, by its relative name."""
    try:
        return invalid_in_source((SHARED_CORPUS / name).read_bytes())
    except OSError:
        return ""


def mb(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} MB"


def print_summary(
    results: dict[str, dict[str, Any]],
    peer: dict[str, Any] | None,
    facts: dict[str, str],
    args: argparse.Namespace,
) -> None:
    print("\n## Summary\n")
    marks = " / ".join(f"{m // 1000}k" if m >= 1000 else str(m) for m in checkpoint_marks(results))
    print(
        f"| | messages/s | CPU ms / message | RSS after {marks} | tracemalloc peak, window "
        f"before {marks} | ru_maxrss | lost | duplicated | U+FFFD on the shared corpus "
        "| raised |"
    )
    print("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for database, r in results.items():
        if "error" in r:
            print(f"| kefu, {database} | failed | | | | | | | | |")
            continue
        points = r["checkpoints"].values()
        rss = " / ".join(f"{c['rss_mb']:.0f}" for c in points) + " MB"
        peaks = " / ".join(mb(c.get("window_peak_mb")) for c in points)
        c = r["checks"]
        label = f"kefu, {database}"
        if r["stopped_early"]:
            label += f" (first {r['messages']:,} messages: {r['budget']:.0f} s budget)"
        fffd = len(c["mojibake"]["files"])
        inherent = len(c["mojibake"]["inherent"])
        print(
            f"| {label} | {r['rate']:.1f} "
            f"| {r['cpu_seconds'] / r['messages'] * 1000:.1f} | {rss} | {peaks} "
            f"| {r['ru_maxrss_mb']:.0f} MB | {c['lost']} | {c['redelivery']['new_messages']} "
            f"| {fffd}"
            + (f" ({inherent} in the source itself)" if inherent else "")
            + f" | {sum(c['exceptions'].values())} |"
        )
    if peer and "error" not in peer:
        inherent = sum(1 for name in peer["fffd_corpus"] if source_invalid(name))
        print(
            f"| django-helpdesk {peer['helpdesk_version']}, sqlite | {peer['rate']:.1f} "
            f"| {peer['cpu_seconds'] / peer['messages'] * 1000:.1f} | – | – "
            f"| {peer['ru_maxrss_mb']:.0f} MB | – | +{peer['redeliver_new_tickets']} tickets "
            f"(of {peer['redelivered']} re-delivered) | {len(peer['fffd_corpus'])} (U+FFFD or "
            f"its escape \\ufffd; {inherent} in the source itself)"
            + f" | {peer['raised']} ({len(peer['raised_corpus'])} on the shared corpus) |"
        )
    sqlite = results.get("sqlite")
    print()
    if sqlite and "error" not in sqlite:
        rate = sqlite["rate"]
        verdict = [
            f"SQLite rate {rate:.1f} msg/s: {'met' if rate >= TARGET_RATE else 'MISSED'}"
            f" (target ≥ {TARGET_RATE:.0f})"
        ]
        if peer and "error" not in peer and peer["rate"]:
            ratio = rate / peer["rate"]
            print(f"ratio kefu (SQLite) / django-helpdesk: {ratio:.1f}×")
            verdict.append(
                f"ratio {ratio:.1f}×: {'met' if ratio >= TARGET_RATIO else 'MISSED'} "
                f"(target ≥ {TARGET_RATIO:.0f}×)"
            )
        elif peer is not None:
            print(f"ratio: no peer figure ({peer.get('error', '?')})")
        flat = memory_flat(sqlite)
        if flat:
            verdict.append(flat)
        ok = sqlite["checks_ok"]
        verdict.append(
            f"zero lost / duplicated / mojibake: {'met' if ok else 'MISSED'} (a U+FFFD that "
            "stands for bytes invalid in the source itself is not counted as mojibake)"
        )
        print("target: " + "; ".join(verdict))
        if args.profile:
            print("(profiled run: the rate above is slowed down by cProfile)")


# ---------------------------------------------------------------------------------------------
# Child: one database, a clean Django
# ---------------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> int:
    import logging
    import tracemalloc

    sys.path.insert(0, str(ROOT / "src"))
    import django
    from django.core.management import call_command

    django.setup()
    t0 = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    migrate_seconds = time.perf_counter() - t0

    from kefu.mail.batch import accept, process_batch
    from kefu.mail.models import InboundEmail, Mailbox

    sys.path.insert(0, str(BENCH))
    from mail_corpus import SUPPORT

    logging.getLogger("kefu").setLevel(logging.WARNING)

    class Fallbacks(logging.Handler):
        """Counts batches that failed and went one by one (slow; a bug if it is not 0)."""

        count = 0

        def emit(self, record: logging.LogRecord) -> None:
            Fallbacks.count += "one by one" in record.getMessage()

    logging.getLogger("kefu.mail.batch").addHandler(Fallbacks())
    mailbox = Mailbox.objects.create(name="support", address=SUPPORT)
    rows = [json.loads(line) for line in (args.corpus / "manifest.jsonl").open(encoding="utf-8")]
    if not args.no_gc_freeze:
        # What kefu's server process does once started (kefu.cli): Django, the apps and their
        # caches stay for the life of the process, so full collections need not walk them.
        from kefu.core.webprocess import settle

        settle()
    planned = len(rows)
    marks = sorted({m for m in CHECKPOINTS if m < len(rows)} | {len(rows)})
    # tracemalloc triples the time of this code, so it only watches the ``window`` messages
    # before each checkpoint (or all of them with --tracemalloc-all); the rate is measured on
    # the messages it did not watch.
    window = 0 if args.no_tracemalloc else (len(rows) if args.tracemalloc_all else args.window)
    window_starts = {max(1, mark - window + 1) for mark in marks} if window else set()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()

    checkpoints: dict[str, dict[str, float]] = {}
    exceptions: Counter[str] = Counter()
    by_kind: dict[str, list[float]] = {}
    slowest: list[tuple[float, str, str, int]] = []
    traced_seconds = 0.0
    traced_messages = 0
    first_ms = 0.0
    largest = 0  # the largest message of the current tracemalloc window
    stopped_early = False
    pending: list[int] = []
    if profiler:
        profiler.enable()
    start = time.perf_counter()
    cpu_start = time.process_time()
    for index, row in enumerate(rows, 1):
        if index in window_starts and not tracemalloc.is_tracing():
            tracemalloc.start()
        tracing = tracemalloc.is_tracing()
        t = time.perf_counter()
        raw = (args.corpus / row["file"]).read_bytes()
        try:
            # What `kefu mail ingest` does (store, wake the worker: a task row), then, every
            # --batch messages, what the worker's job does with the stored ones.
            record = accept(raw, mailbox=mailbox, source="pipe")
            if record.state == InboundEmail.State.STORED:
                pending.append(record.pk)
            if len(pending) >= args.batch or index == len(rows):
                process_batch(pending)
                pending = []
        except Exception as exc:  # a benchmark keeps going; the checks report it
            exceptions[type(exc).__name__] += 1
        spent = time.perf_counter() - t
        if index == 1:
            first_ms = spent * 1000
        if tracing:
            traced_seconds += spent
            traced_messages += 1
            largest = max(largest, len(raw))
        else:
            kind = row["kind"].split("/")[0]
            by_kind.setdefault(kind, [0.0, 0])
            by_kind[kind][0] += spent
            by_kind[kind][1] += 1
            slowest.append((spent, row["file"], kind, len(raw)))
            if len(slowest) > 50:
                slowest = sorted(slowest, reverse=True)[:5]
        del raw
        over_budget = bool(args.budget) and time.perf_counter() - start > args.budget
        if over_budget and index < len(rows):
            stopped_early = True
        if index in marks or stopped_early:
            elapsed = time.perf_counter() - start
            untraced = elapsed - traced_seconds
            point = {
                "seconds": round(elapsed, 2),
                "rate": round((index - traced_messages) / untraced, 1) if untraced > 0 else 0.0,
                "rss_mb": rss_mb(),
                "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
            if tracemalloc.is_tracing():
                current, peak = tracemalloc.get_traced_memory()
                point["window"] = min(window, index)
                point["window_peak_mb"] = round(peak / 2**20, 1)
                point["window_retained_mb"] = round(current / 2**20, 1)
                point["window_largest_kb"] = round(largest / 1024)
                largest = 0
                if not args.tracemalloc_all:
                    tracemalloc.stop()
                else:
                    tracemalloc.reset_peak()
            checkpoints[str(index)] = point
        if stopped_early:
            process_batch(pending)
            rows = rows[:index]
            break
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    if profiler:
        profiler.disable()
    if tracemalloc.is_tracing():
        tracemalloc.stop()
    untraced_messages = len(rows) - traced_messages
    untraced_seconds = seconds - traced_seconds

    checks = check(args.corpus, rows, mailbox, exceptions)
    pipe = pipe_command(args.pipe) if args.pipe else None
    result: dict[str, Any] = {
        "database": args.child,
        "messages": len(rows),
        "stopped_early": stopped_early,
        "planned": planned,
        "budget": args.budget,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "rate": round(untraced_messages / untraced_seconds, 1)
        if untraced_messages and untraced_seconds > 0
        else round(len(rows) / seconds, 1),
        "rate_all": round(len(rows) / seconds, 1),
        "traced_messages": traced_messages,
        "traced_seconds": round(traced_seconds, 2),
        "first_ms": round(first_ms, 1),
        "migrate_seconds": round(migrate_seconds, 2),
        "checkpoints": checkpoints,
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "by_kind": sorted(
            ([k, {"ms": round(v[0] / v[1] * 1000, 2), "n": v[1]}] for k, v in by_kind.items()),
            key=lambda kv: -kv[1]["ms"],
        ),
        "slowest": [
            {"file": f, "kind": k, "ms": round(s * 1000, 1), "size": n}
            for s, f, k, n in sorted(slowest, reverse=True)[:5]
        ],
        "checks": checks,
        "checks_ok": checks["ok"],
        "batch_size": args.batch,
        "batches_one_by_one": Fallbacks.count,
        "pipe": pipe,
    }
    if profiler:
        result["profile"] = profile_text(profiler)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def pipe_command(folder: Path) -> dict[str, Any]:
    """Feed new messages to the real command, one process each, as Postfix's pipe does."""
    import statistics

    from kefu.mail.models import InboundEmail

    sys.path.insert(0, str(BENCH))
    from mail_corpus import SUPPORT

    kefu = Path(sys.executable).parent / "kefu"
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").open(encoding="utf-8")]
    times: list[float] = []
    codes: Counter[int] = Counter()
    for row in rows:
        path = folder / row["file"]
        with path.open("rb") as stdin:
            t = time.perf_counter()
            done = subprocess.run(
                [str(kefu), "mail", "ingest", "--mailbox", SUPPORT],
                stdin=stdin,
                capture_output=True,
                timeout=120,
                check=False,
            )
            times.append(time.perf_counter() - t)
        codes[done.returncode] += 1
    from kefu.mail.batch import process_pending

    process_pending()  # the worker's job (no worker runs beside the benchmark)
    digests = [hashlib.sha256((folder / r["file"]).read_bytes()).hexdigest() for r in rows]
    states = Counter(
        InboundEmail.objects.filter(sha256__in=digests).values_list("state", flat=True)
    )
    return {
        "messages": len(rows),
        "median_ms": round(statistics.median(times) * 1000, 1) if times else 0.0,
        "mean_ms": round(statistics.mean(times) * 1000, 1) if times else 0.0,
        "rate": round(len(times) / sum(times), 2) if times else 0.0,
        "exit_codes": {str(k): v for k, v in codes.items()},
        "states": dict(states),
    }


def invalid_in_source(raw: bytes) -> str:
    """Why a U+FFFD may be the honest reading: the source has it, or has bytes that are invalid
    even in the widest charset of the declared family. "" when neither is the case."""
    import email
    import email.policy

    if b"\xef\xbf\xbd" in raw:
        return "the source bytes contain U+FFFD itself"
    wide = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "big5hkscs"}
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    for part in message.walk():
        charset = part.get_content_charset()
        if part.get_content_maintype() != "text" or not charset or charset == "us-ascii":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        try:
            payload.decode(wide.get(charset, charset))
        except LookupError:
            continue
        except UnicodeDecodeError as exc:
            bad = payload[max(0, exc.start - 4) : exc.end + 4]
            return f"its {charset} text part has bytes invalid in {charset}: {bad!r}"
    return ""


def rss_mb() -> float:
    """The resident set size now (ru_maxrss only ever grows)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def profile_text(profiler: Any) -> str:
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
    return out.getvalue()


def check(
    corpus: Path, rows: list[dict[str, Any]], mailbox: Any, exceptions: Counter[str]
) -> dict[str, Any]:
    from django.db.models import Count

    from kefu.conversations.models import Attachment, Conversation, Message
    from kefu.mail.batch import accept, process_pending
    from kefu.mail.models import InboundEmail, OutboundEmail

    digests = []
    for row in rows:
        digests.append(hashlib.sha256((corpus / row["file"]).read_bytes()).hexdigest())
    distinct = set(digests)
    inbound = {
        sha: (pk, state, subject, message_pk)
        for pk, sha, state, subject, message_pk in InboundEmail.objects.values_list(
            "pk", "sha256", "state", "subject", "conversation_message_id"
        ).iterator(chunk_size=2000)
    }
    lost = len(distinct - inbound.keys())
    states = Counter(state for _pk, state, _s, _m in inbound.values())
    unprocessed = {s: n for s, n in states.items() if s in ("stored", "quarantined")}

    # What each message became.
    wanted = {v[3] for v in inbound.values() if v[3]}
    messages: dict[int, tuple[int, str, str]] = {}
    subjects: dict[int, str] = {}
    for pk, conversation_id, text, html in (
        Message.objects.filter(pk__in=wanted)
        .values_list("pk", "conversation_id", "body_text", "body_html")
        .iterator(chunk_size=2000)
    ):
        messages[pk] = (conversation_id, text, html)
    for pk, subject in Conversation.objects.values_list("pk", "subject").iterator(chunk_size=2000):
        subjects[pk] = subject
    filenames: dict[int, list[str]] = {}
    for message_id, name in Attachment.objects.values_list("message_id", "filename"):
        filenames.setdefault(message_id, []).append(name)
    by_message_id = {}  # Message-ID of a generated message -> conversation
    for row, sha in zip(rows, digests, strict=True):
        message_pk = inbound.get(sha, (0, "", "", None))[3]
        if row["message_id"] and message_pk in messages:
            by_message_id[row["message_id"]] = messages[message_pk][0]

    mojibake: dict[str, Any] = {
        "checked": 0,
        "files": [],
        "inherent": {},
        "filenames": [],
        "failed": [],
    }
    generated = Counter()
    examples: dict[str, list[str]] = {}

    def example(label: str, text: str) -> None:
        examples.setdefault(label, [])
        if len(examples[label]) < 5:
            examples[label].append(text)

    for row, sha in zip(rows, digests, strict=True):
        _pk, state, inbound_subject, message_pk = inbound.get(sha, (0, "missing", "", None))
        conversation_id, text, html = messages.get(message_pk, (0, "", ""))
        conversation_subject = subjects.get(conversation_id, "")
        names = filenames.get(message_pk, [])
        if row["source"] != "generated":
            mojibake["checked"] += 1
            if any(FFFD in s for s in (inbound_subject, conversation_subject, text, html)):
                mojibake["files"].append(row["source"])
                why = invalid_in_source((corpus / row["file"]).read_bytes())
                if why:
                    mojibake["inherent"][row["source"]] = why
            if any(FFFD in n for n in names):
                mojibake["filenames"].append(row["source"])
            if state in ("failed", "quarantined", "missing"):
                mojibake["failed"].append(f"{row['source']} ({state})")
            continue
        generated["checked"] += 1
        want = " ".join(row["subject"].split())[:255]
        if " ".join(inbound_subject.split()) == want:
            generated["subject_ok"] += 1
        else:
            example("subject", f"{row['file']} {row['kind']}: {inbound_subject!r} != {want!r}")
        if row["probe"] in text:
            generated["body_ok"] += 1
        else:
            example(
                "text",
                f"{row['file']} {row['kind']} ({state}): {row['probe']!r} not in {text[:120]!r}",
            )
        if any(FFFD in s for s in (inbound_subject, text, html, *names)):
            generated["fffd"] += 1
            example("U+FFFD", f"{row['file']} {row['kind']}")
        if row["filenames"]:
            generated["with_files"] += 1
            if set(row["filenames"]) <= set(names):
                generated["files_ok"] += 1
            else:
                example(
                    "attachment names",
                    f"{row['file']} {row['kind']}: {names} lacks "
                    f"{sorted(set(row['filenames']) - set(names))}",
                )
        if row["parent"]:
            generated["replies"] += 1
            parent = by_message_id.get(row["parent"])
            if parent and parent == conversation_id:
                generated["threaded"] += 1
            else:
                example(
                    "threading",
                    f"{row['file']}: conversation {conversation_id}, its parent's {parent}",
                )
        if row["quoted"]:
            generated["quoting"] += 1
            if row["quoted"] not in text:
                generated["quote_folded"] += 1
            else:
                example("quote", f"{row['file']} {row['kind']}: quoted history left in the text")
    for key in (
        "subject_ok",
        "body_ok",
        "fffd",
        "with_files",
        "files_ok",
        "replies",
        "threaded",
        "quoting",
        "quote_folded",
    ):
        generated.setdefault(key, 0)

    # Re-delivery: the same bytes, or relayed again (one more Received: header).
    before = (
        Message.objects.count(),
        Conversation.objects.count(),
        OutboundEmail.objects.count(),
        InboundEmail.objects.count(),
    )
    pks_before = InboundEmail.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    picks = [json.loads(line) for line in (corpus / "redeliver.jsonl").open(encoding="utf-8")]
    done = {row["file"] for row in rows}  # fewer when a time budget stopped the run
    picks = [pick for pick in picks if pick["file"] in done]
    t = time.perf_counter()
    redeliver_errors = 0
    for pick in picks:
        raw = (corpus / pick["file"]).read_bytes()
        if pick["relayed"]:
            eol = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
            raw = (
                b"Received: from relay2.kefu-bench.example by mx.kefu-bench.example; "
                b"Tue, 04 Jun 2024 09:00:00 +0000" + eol + raw
            )
        try:
            accept(raw, mailbox=mailbox, source="pipe")
        except Exception:
            redeliver_errors += 1
    process_pending()  # the worker
    redeliver_seconds = time.perf_counter() - t
    after = (
        Message.objects.count(),
        Conversation.objects.count(),
        OutboundEmail.objects.count(),
        InboundEmail.objects.count(),
    )
    redelivery = {
        "delivered": len(picks),
        "relayed": sum(1 for p in picks if p["relayed"]),
        "seconds": round(redeliver_seconds, 2),
        "new_messages": after[0] - before[0],
        "new_conversations": after[1] - before[1],
        "new_outbound": after[2] - before[2],
        "new_inbound": after[3] - before[3],
        "states": dict(
            Counter(InboundEmail.objects.filter(pk__gt=pks_before).values_list("state", flat=True))
        ),
        "errors": redeliver_errors,
    }
    notes = Message.objects.filter(direction="note").count()
    totals = {
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
        "notes": notes,
        "attachments": Attachment.objects.count(),
        "outbound": OutboundEmail.objects.count(),
        "conversations_by_size": dict(
            Counter(
                Conversation.objects.annotate(n=Count("messages")).values_list("n", flat=True)
            ).most_common(6)
        ),
    }
    ok = (
        lost == 0
        and not unprocessed
        and not exceptions
        and redelivery["new_messages"] == 0
        and redelivery["new_conversations"] == 0
        and not set(mojibake["files"]) - set(mojibake["inherent"])
    )
    return {
        "ok": ok,
        "distinct": len(distinct),
        "inbound_rows": len(inbound),
        "lost": lost,
        "states": dict(states),
        "unprocessed": unprocessed,
        "exceptions": dict(exceptions),
        "redelivery": redelivery,
        "mojibake": mojibake,
        "generated": {**generated, "examples": examples},
        "totals": totals,
    }


if __name__ == "__main__":
    sys.exit(main())
