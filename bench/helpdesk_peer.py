"""The peer for ``bench/mail_ingest.py``: django-helpdesk's own email ingestion.

It runs with the Python of a throwaway virtualenv that has ``django-helpdesk`` installed (never
kefu's), started by ``bench/mail_ingest.py``:

    /tmp/helpdesk-venv/bin/python bench/helpdesk_peer.py CORPUS WORK [--redeliver-list FILE]

It writes a minimal Django project into WORK_DIR (settings with helpdesk installed, a SQLite
file database, media under WORK_DIR), migrates it, makes one email queue and then feeds every
message of CORPUS_DIR/manifest.jsonl, in order, to ``helpdesk.email.extract_email_metadata``
exactly as helpdesk's own IMAP poller does (``imap_sync``: the raw bytes become text with
``force_str(raw, errors="replace")``, then ``extract_email_metadata(message=..., queue=...,
logger=...)``). Then it delivers the same bytes of some messages again (those of FILE, else
the first ``--redeliver`` ones) and counts the new tickets. It prints one JSON object (figures
and per-message problems) on its last line of standard output.

For a fair race helpdesk gets the same SQLite settings as kefu (WAL, synchronous=NORMAL) and
its notification emails go to Django's dummy backend (rendered, not sent).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

SETTINGS = """
from pathlib import Path
WORK = Path({work!r})
SECRET_KEY = "helpdesk-bench"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.sites", "django.contrib.messages",
    "django.contrib.humanize", "django.contrib.staticfiles", "rest_framework", "helpdesk",
]
SITE_ID = 1
MIDDLEWARE = []
ROOT_URLCONF = "helpdesk_bench_urls"
TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [],
              "APP_DIRS": True, "OPTIONS": {{"context_processors": [
                  "django.template.context_processors.request",
                  "django.contrib.auth.context_processors.auth",
                  "django.contrib.messages.context_processors.messages"]}}}}]
DATABASES = {{"default": {{
    "ENGINE": "django.db.backends.sqlite3", "NAME": str(WORK / "helpdesk.sqlite3"),
    "OPTIONS": {{"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE", "timeout": 20}}}}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
STATIC_URL = "/static/"
MEDIA_ROOT = str(WORK / "media")
MEDIA_URL = "/media/"
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
DEFAULT_FROM_EMAIL = "support@kefu-bench.example"
HELPDESK_TEAMS_MODE_ENABLED = False  # else it needs pinax-teams
LOGGING = {{"version": 1, "disable_existing_loggers": False,
           "root": {{"handlers": [], "level": "ERROR"}}}}
"""

URLS = """
from django.urls import include, path
urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]
"""

FFFD = "\ufffd"


def setup(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "helpdesk_bench_settings.py").write_text(SETTINGS.format(work=str(work)))
    (work / "helpdesk_bench_urls.py").write_text(URLS)
    sys.path.insert(0, str(work))
    os.environ["DJANGO_SETTINGS_MODULE"] = "helpdesk_bench_settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="django-helpdesk ingestion, for the benchmark")
    parser.add_argument("corpus", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--redeliver", type=int, default=500, help="the first N, again")
    parser.add_argument(
        "--redeliver-list", type=Path, help="JSON lines naming the messages to deliver again"
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N messages")
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="leave the garbage collector as it starts"
    )
    args = parser.parse_args(argv)

    rows = [json.loads(line) for line in (args.corpus / "manifest.jsonl").open(encoding="utf-8")]
    if args.limit:
        rows = rows[: args.limit]
    setup(args.work)

    from django.utils import encoding
    from helpdesk.email import extract_email_metadata
    from helpdesk.models import FollowUp, Queue, Ticket

    try:
        from importlib.metadata import version

        helpdesk_version = version("django-helpdesk")
    except Exception:
        helpdesk_version = "?"

    queue = Queue.objects.create(
        title="Support",
        slug="support",
        email_address="support@kefu-bench.example",
        allow_email_submission=True,
        email_box_type="imap",
    )
    if not args.no_gc_freeze:
        # As kefu's benchmark process does (and kefu's server): what start-up loaded is out of
        # the collector's sight, so the race compares ingestion, not start-up's leftovers.
        import gc

        gc.collect()
        gc.freeze()
    logger = logging.getLogger("helpdesk.bench")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    logger.setLevel(logging.ERROR)

    def feed(raw: bytes) -> Ticket | None:
        # helpdesk.email.imap_sync: full_message = encoding.force_str(data[0][1], errors="replace")
        full_message = encoding.force_str(raw, errors="replace")
        return extract_email_metadata(message=full_message, queue=queue, logger=logger)

    raised: Counter[str] = Counter()
    raised_files: list[dict[str, str]] = []
    fffd_corpus: list[str] = []
    fffd_generated = 0
    subject_ok = body_ok = generated = 0
    checkpoints: dict[str, dict[str, float]] = {}
    marks = {1000, 5000, 10_000, len(rows)}
    elapsed = 0.0
    cpu = 0.0
    seen: set[int] = set()
    for index, row in enumerate(rows, 1):
        raw = (args.corpus / row["file"]).read_bytes()
        started = time.perf_counter()
        cpu_started = time.process_time()
        try:
            ticket = feed(raw)
        except Exception as exc:
            elapsed += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
            raised[type(exc).__name__] += 1
            raised_files.append(
                {
                    "file": row["source"],
                    "name": row["file"],
                    "error": f"{type(exc).__name__}: {exc}"[:300],
                    "where": traceback.extract_tb(exc.__traceback__)[-1].name,
                }
            )
            continue
        elapsed += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
        if ticket is None:
            continue
        followup = FollowUp.objects.filter(ticket=ticket).order_by("-id").first()
        comment = (followup.comment if followup else "") or ""
        texts = [ticket.title or "", comment]
        if ticket.pk not in seen:  # a new ticket: its description is this message's text
            seen.add(ticket.pk)
            texts.append(ticket.description or "")
        # A U+FFFD, or its escape: helpdesk makes text of the raw bytes as UTF-8 with
        # errors="replace", and Python's email package turns each U+FFFD of an 8bit part back
        # into the six characters "\\ufffd" when it decodes the payload.
        bad = any(FFFD in text or "\\ufffd" in text for text in texts)
        if row["source"] != "generated":
            if bad:
                fffd_corpus.append(row["source"])
        else:
            generated += 1
            fffd_generated += bad
            subject_ok += _core(row["subject"]) in (ticket.title or "")
            body_ok += any(row["probe"] in text for text in texts[1:])
        if index in marks:
            checkpoints[str(index)] = {
                "seconds": round(elapsed, 3),
                "rate": round(index / elapsed, 1) if elapsed else 0.0,
                "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }

    tickets_before = Ticket.objects.count()
    followups_before = FollowUp.objects.count()
    redelivered = 0
    redeliver_raised = 0
    if args.redeliver_list:
        with args.redeliver_list.open(encoding="utf-8") as handle:
            again = [json.loads(line)["file"] for line in handle]
    else:
        again = [row["file"] for row in rows[: args.redeliver]]
    for name in again:
        raw = (args.corpus / name).read_bytes()  # the very same bytes
        redelivered += 1
        try:
            feed(raw)
        except Exception:
            redeliver_raised += 1
    result = {
        "helpdesk_version": helpdesk_version,
        "messages": len(rows),
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "rate": round(len(rows) / elapsed, 1) if elapsed else 0.0,
        "raised": sum(raised.values()),
        "raised_by_type": dict(raised),
        "raised_corpus": [r for r in raised_files if r["file"] != "generated"],
        "raised_generated": [r for r in raised_files if r["file"] == "generated"],
        "fffd_corpus": fffd_corpus,
        "fffd_generated": fffd_generated,
        "generated_checked": generated,
        "subject_ok": subject_ok,
        "body_ok": body_ok,
        "tickets": tickets_before,
        "followups": followups_before,
        "redelivered": redelivered,
        "redeliver_new_tickets": Ticket.objects.count() - tickets_before,
        "redeliver_new_followups": FollowUp.objects.count() - followups_before,
        "redeliver_raised": redeliver_raised,
        "checkpoints": checkpoints,
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0


def _core(subject: str) -> str:
    """The subject without reply prefixes (helpdesk strips "Re: " itself)."""
    import re

    return re.sub(
        r"^((re|fw|fwd)\s*[:：]\s*|(回复|回覆|答复|答覆)\s*[:：]\s*)+", "", subject, flags=re.I
    ).strip()


if __name__ == "__main__":
    sys.exit(main())
