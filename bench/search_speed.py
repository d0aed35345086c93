"""Knowledge-base search speed: index build time and query latency at 100,000 articles.

    .venv/bin/python bench/search_speed.py [--articles 100000] [--db sqlite|postgres]
                                           [--queries 500] [--reuse NAME] [--log FILE]

Articles are generated from the FAQ sets' own sentences (../shared/data/faq/, read in place):
four in five are Chinese (a BQ sentence as the title, five more as the body), one in five
English (BANKING77), one in ten internal. Every distinct sentence is segmented once with
``kefu.kb.text.tokens`` and an article's tokens are its sentences' tokens, so generating stays
fast; the rows are what ``index_article`` would write. Seeding uses ``bulk_create``.

It reports: seeding time (articles), index build time (bulk insert of the search entries, with
the FTS5 triggers on SQLite or the generated tsvector and GIN index on PostgreSQL, inside
``kefu.kb.search.bulk_writes`` as ``reindex`` does, then ``optimize`` / ``ANALYZE``), the real
``index_article`` rate on a sample, and p50/p95/max of ``search()`` and ``suggest()`` wall time
(results, snippets included) for held-out questions.
Nothing is asserted.

``--reuse NAME`` keeps the seeded database for the next run instead of a throwaway one: a
PostgreSQL database of that name (created when missing) or an SQLite file of that path; it is
seeded only when it holds no articles (then the seeding and build times are not measured again,
and the one-by-one re-indexing is skipped). ``--log FILE`` writes every timed query (operation,
wall ms, CPU ms, query) as tab-separated lines, to find the queries that make the tail.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
DATA = ROOT.parent / "shared" / "data" / "faq"
BATCH = 2000


def sentences() -> tuple[list[str], list[str], list[str]]:
    """Chinese sentences (BQ valid), English sentences (BANKING77 train), held-out queries."""
    zh: set[str] = set()
    with open(DATA / "bq" / "BQ.valid.data", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            zh.update(p.strip() for p in parts[:2] if p.strip())
    with open(DATA / "banking77" / "train.csv", encoding="utf-8", newline="") as f:
        en = sorted({row["text"].strip() for row in csv.DictReader(f)})
    queries: list[str] = []
    with open(DATA / "bq" / "BQ.test.data", encoding="utf-8") as f:
        queries += [line.split("\t")[0].strip() for line in f][:4000:8]
    with open(DATA / "banking77" / "test.csv", encoding="utf-8", newline="") as f:
        queries += [row["text"].strip() for row in csv.DictReader(f)][::30]
    return sorted(zh), en, queries


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def seed(count: int, rng: random.Random) -> tuple[float, float]:
    from django.db import connection

    from kefu.kb.models import Article, ArticleGroup, SearchEntry
    from kefu.kb.search import bulk_writes
    from kefu.kb.text import tokens

    zh, en, _ = sentences()
    token_cache: dict[str, str] = {}

    def toks(text: str) -> str:
        if text not in token_cache:
            token_cache[text] = " ".join(tokens(text))
        return token_cache[text]

    started = time.perf_counter()
    entries: list[SearchEntry] = []
    for start in range(0, count, BATCH):
        n = min(BATCH, count - start)
        groups = ArticleGroup.objects.bulk_create(
            [ArticleGroup(internal=rng.random() < 0.1) for _ in range(n)]
        )
        articles = []
        for i, group in enumerate(groups):
            pool, language = (en, "en") if rng.random() < 0.2 else (zh, "zh-hans")
            title, *body = rng.sample(pool, 6)
            articles.append(
                Article(
                    group=group,
                    language=language,
                    status=Article.Status.PUBLISHED,
                    title=title[:255],
                    slug=f"a{start + i}",
                    body_text="\n".join(body),
                )
            )
        Article.objects.bulk_create(articles)
        for article in articles:
            entries.append(
                SearchEntry(
                    article_id=article.pk,
                    language=article.language,
                    public=not article.group.internal,
                    title_tokens=toks(article.title),
                    body_tokens=" ".join(toks(s) for s in article.body_text.split("\n")),
                )
            )
    seeded = time.perf_counter() - started
    started = time.perf_counter()
    with bulk_writes():
        SearchEntry.objects.bulk_create(entries, batch_size=BATCH)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("INSERT INTO kb_search_fts(kb_search_fts) VALUES ('optimize')")
            cursor.execute("ANALYZE")
        else:
            cursor.execute("ANALYZE kb_searchentry")
    return seeded, time.perf_counter() - started


def index_rate(sample: int) -> float:
    """Articles per second through the real ``index_article`` (segmenting included)."""
    from django.db import transaction

    from kefu.kb.models import Article
    from kefu.kb.search import index_article

    articles = list(Article.objects.select_related("group__category").order_by("?")[:sample])
    started = time.perf_counter()
    for article in articles:
        with transaction.atomic():
            index_article(article)
    return len(articles) / (time.perf_counter() - started)


class CpuClock:
    """CPU seconds spent on a query: this process (Python, and SQLite, which runs in it) plus,
    on PostgreSQL, the server process serving this connection (read from /proc). Unlike wall
    time it hardly depends on what else the machine runs."""

    def __init__(self) -> None:
        from django.db import connection

        self.backend_stat: Path | None = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                stat = Path(f"/proc/{cursor.fetchone()[0]}/stat")
            self.backend_stat = stat if stat.exists() else None
        self.tick = os.sysconf("SC_CLK_TCK")

    def __call__(self) -> float:
        spent = time.process_time()
        if self.backend_stat is not None:
            fields = self.backend_stat.read_text().rsplit(")", 1)[1].split()
            spent += (int(fields[11]) + int(fields[12])) / self.tick
        return spent


def timed(
    fn: object, queries: list[str], clock: CpuClock, **kwargs: object
) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each query."""
    wall, cpu = [], []
    for q in queries:
        started, spent = time.perf_counter(), clock()
        fn(q, **kwargs)  # type: ignore[operator]
        wall.append(1000 * (time.perf_counter() - started))
        cpu.append(1000 * (clock() - spent))
    return wall, cpu


def agreement(queries: list[str]) -> tuple[float, float, float]:
    """How close the budgeted search comes to ranking every match (the candidate budget off).
    Generated articles share sentences, so equal scores are common and "the same first result"
    undersells it; the score the full ranking gives the budgeted first result, as a share of
    the full ranking's best score, says how much relevance was lost. Returns the share of
    queries with the same first result, and the median and 10th percentile of that ratio
    (a budgeted first result outside the full top 50 counts as the 50th's score)."""
    from kefu.kb import search as kb

    budgeted = [[h.article_id for h in kb.search(q, language="zh-hans")] for q in queries]
    saved = kb.CANDIDATE_BUDGET
    kb.CANDIDATE_BUDGET = 10**9
    try:
        full = [kb.search(q, language="zh-hans", limit=50) for q in queries]
    finally:
        kb.CANDIDATE_BUDGET = saved
    same_top = 0
    ratios = []
    for ours, theirs in zip(budgeted, full, strict=True):
        if not theirs:
            continue
        same_top += ours[:1] == [theirs[0].article_id]
        scores = {h.article_id: h.score for h in theirs}
        mine = scores.get(ours[0], theirs[-1].score) if ours else 0.0
        ratios.append(mine / theirs[0].score if theirs[0].score else 1.0)
    return same_top / len(queries), statistics.median(ratios), percentile(ratios, 10)


def reused_database(kind: str, pg_server: str, name: str) -> Any:
    """A database kept between runs (never dropped): seeded by the first run only."""
    from bench_workspace import Database

    if kind == "sqlite":
        path = Path(name).resolve()
        return Database(kind, f"sqlite:///{path}", str(path), lambda: None)
    import psycopg

    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not found:
            conn.execute(f'CREATE DATABASE "{name}"')

    def close() -> None:
        from django.db import connections

        connections.close_all()

    return Database(kind, f"{pg_server}/{name}", name, close)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--sample", type=int, default=500, help="articles re-indexed one by one")
    parser.add_argument("--reuse", help="keep and reuse this database (PostgreSQL name / path)")
    parser.add_argument("--log", help="write each timed query here (tab-separated)")
    args = parser.parse_args()

    from bench_workspace import make_database

    data_dir = Path(tempfile.mkdtemp(prefix="kefu-bench-search-"))
    if args.reuse:
        db = reused_database(args.db, args.pg_server, args.reuse)
    else:
        db = make_database(args.db, args.pg_server, data_dir)
    os.environ.update(
        KEFU_DATABASE_URL=db.url,
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

        from kefu.kb.search import search, suggest

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sqlite_version()"
                if connection.vendor == "sqlite"
                else "SHOW server_version"
            )
            version = f"{connection.vendor} {cursor.fetchone()[0]}"
        print(
            f"kefu search_speed: {version}, Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, {args.articles} articles",
            file=sys.stderr,
        )
        rng = random.Random(7)
        from kefu.kb.models import Article

        existing = Article.objects.count() if args.reuse else 0
        if existing:
            args.articles = existing
            seeded = built = rate = float("nan")
        else:
            seeded, built = seed(args.articles, rng)
            print(f"seeded in {seeded:.1f} s, index built in {built:.1f} s", file=sys.stderr)
            rate = index_rate(args.sample)
        queries = sentences()[2]
        random.Random(11).shuffle(queries)  # the same queries whether seeded now or reused
        queries = queries[: args.queries]
        halves = [q[: max(2, len(q) // 2)] for q in queries]
        clock = CpuClock()
        timed(search, queries[:20], clock, language="zh-hans")  # warm-up: jieba, caches
        load = os.getloadavg()
        rows = {
            "search (reader, lang)": timed(search, queries, clock, language="zh-hans"),
            "search (agent, no lang)": timed(search, queries, clock, public_only=False),
            "suggest (prefix)": timed(suggest, halves, clock),
        }
        load_after = os.getloadavg()
        if args.log:
            with open(args.log, "w", encoding="utf-8") as log:
                for name, (wall, cpu) in rows.items():
                    asked = halves if "suggest" in name else queries
                    for q, w, c in zip(asked, wall, cpu, strict=True):
                        log.write(f"{name}\t{w:.2f}\t{c:.2f}\t{q}\n")
        same_top, ratio, ratio_p10 = agreement(queries[:200])
        print(f"\n### {version}, {args.articles:,} articles, {len(queries)} queries\n")
        if existing:
            print(f"- database reused ({args.reuse}): seeding and index build not measured")
        else:
            print(f"- seeding articles (bulk): {seeded:.1f} s")
            print(f"- index build (bulk insert + optimize/analyze): {built:.1f} s")
            print(f"- index_article one by one (segmenting included): {rate:.0f} articles/s")
        print(
            f"- load average (1/5/15 min) before the timed queries: "
            f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, after: "
            f"{load_after[0]:.2f} / {load_after[1]:.2f} / {load_after[2]:.2f}"
        )
        print(
            f"- against ranking every match (candidate budget off), {min(200, len(queries))} "
            f"queries: same first "
            f"result {same_top:.0%}; the budgeted first result's full score as a share of the "
            f"best: median {ratio:.2f}, 10th percentile {ratio_p10:.2f}\n"
        )
        print(
            "| operation | p50 ms | p95 ms | max ms | mean ms"
            " | CPU p50 ms | CPU p95 ms | CPU mean ms |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, (wall, cpu) in rows.items():
            print(
                f"| {name} | {statistics.median(wall):.1f} | {percentile(wall, 95):.1f} | "
                f"{max(wall):.1f} | {statistics.mean(wall):.1f} | "
                f"{statistics.median(cpu):.1f} | {percentile(cpu, 95):.1f} | "
                f"{statistics.mean(cpu):.1f} |"
            )
        print(
            "\nCPU = this process (Python and SQLite) + the PostgreSQL server process of the "
            "connection; /proc ticks are 10 ms, so PostgreSQL's CPU figures are coarse per "
            "query (their mean is right)."
        )
    finally:
        db.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
