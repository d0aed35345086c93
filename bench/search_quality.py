"""Knowledge-base search quality on real FAQ sets: hit@1, hit@5 and MRR@10.

    .venv/bin/python bench/search_quality.py [--sets bq,banking77] [--db sqlite|postgres]
                                             [--limit-queries N]

Sets (read from ../shared/data/faq/, never copied; see its README):

- ``bq``: BQ Corpus test pairs (Chinese bank customer service). The second sentence of every
  positive pair becomes an FAQ entry (deduplicated); the first sentence is the query; a query
  hits when an entry it is paired with comes back.
- ``banking77``: BANKING77 (English). One FAQ entry per intent (title: the intent's name, other
  phrasings: its training queries); the test queries must find their intent.

Each query is run, in the same process, through:

- ``substring``: what a LIKE / ``icontains`` search finds (entries whose text contains the whole
  query, case-insensitively), in id order;
- ``jieba+bm25``: a bare index: jieba's default cut, no folding, no stemming, SQLite FTS5 with
  BM25, the query's words OR-ed;
- ``kefu``: ``kefu.kb.search.search`` on a throwaway kefu database (the real index, the real
  query path);

It prints a Markdown table per set and the ratios against the baselines. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
DATA = ROOT.parent / "shared" / "data" / "faq"


@dataclass
class FaqSet:
    name: str
    language: str
    entries: list[tuple[str, list[str]]]  # (title, other phrasings)
    queries: list[tuple[str, set[int]]]  # (query, indexes of the right entries)
    note: str = ""


@dataclass
class Score:
    hit1: float = 0.0
    hit5: float = 0.0
    mrr10: float = 0.0
    seconds: float = 0.0
    per_query: list[int] = field(default_factory=list)


def load_bq(limit: int | None) -> FaqSet:
    entry_of: dict[str, int] = {}
    relevant: dict[str, set[int]] = defaultdict(set)
    with open(DATA / "bq" / "BQ.test.data", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or parts[2].strip() != "1":
                continue
            question, entry = parts[0].strip(), parts[1].strip()
            index = entry_of.setdefault(entry, len(entry_of))
            relevant[question].add(index)
    queries = list(relevant.items())[:limit] if limit else list(relevant.items())
    entries: list[tuple[str, list[str]]] = [(text, []) for text in entry_of]
    return FaqSet("bq", "zh-hans", entries, queries, "BQ.test.data, positive pairs")


def load_banking77(limit: int | None) -> FaqSet:
    by_intent: dict[str, list[str]] = defaultdict(list)
    with open(DATA / "banking77" / "train.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            by_intent[row["category"]].append(row["text"].strip())
    intents = sorted(by_intent)
    index = {intent: i for i, intent in enumerate(intents)}
    entries = [(intent.replace("_", " "), by_intent[intent]) for intent in intents]
    queries = []
    with open(DATA / "banking77" / "test.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            queries.append((row["text"].strip(), {index[row["category"]]}))
    queries = queries[:limit] if limit else queries
    return FaqSet("banking77", "en", entries, queries, "train.csv → 77 entries, test.csv queries")


LOADERS = {"bq": load_bq, "banking77": load_banking77}

# Methods --------------------------------------------------------------------------------------

Ranker = Callable[[str], list[int]]  # query → entry indexes, best first (at most 10)


def substring_ranker(faq: FaqSet) -> Ranker:
    texts = ["\n".join([title, *others]).casefold() for title, others in faq.entries]

    def rank(query: str) -> list[int]:
        needle = query.casefold()
        return [i for i, text in enumerate(texts) if needle in text][:10]

    return rank


def bare_bm25_ranker(faq: FaqSet) -> Ranker:
    import jieba

    jieba.setLogLevel(60)
    word = re.compile(r"\w+")

    def cut(text: str) -> list[str]:
        return [w for w in jieba.lcut(text) if word.fullmatch(w)]

    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    db.executemany(
        "INSERT INTO t(rowid, body) VALUES (?, ?)",
        [
            (i, " ".join(cut(" ".join([title, *others]))))
            for i, (title, others) in enumerate(faq.entries)
        ],
    )

    def rank(query: str) -> list[int]:
        words = list(dict.fromkeys(cut(query)))
        if not words:
            return []
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        rows = db.execute(
            "SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT 10", (match,)
        ).fetchall()
        return [r[0] for r in rows]

    return rank


def build_kefu_index(faq: FaqSet) -> dict[int, int]:
    """FAQ entries as published kefu articles, indexed; returns article id → entry index."""
    from kefu.kb.models import Article, ArticleGroup, SearchEntry
    from kefu.kb.search import entries, forget_counts

    Article.objects.all().delete()
    ArticleGroup.objects.all().delete()
    groups = ArticleGroup.objects.bulk_create([ArticleGroup() for _ in faq.entries])
    articles = Article.objects.bulk_create(
        [
            Article(
                group=group,
                language=faq.language,
                kind=Article.Kind.FAQ,
                status=Article.Status.PUBLISHED,
                title=title[:255],
                slug=f"{faq.name}-{i}",
                alternatives="\n".join(others),
            )
            for i, (group, (title, others)) in enumerate(zip(groups, faq.entries, strict=True))
        ],
        batch_size=500,
    )
    SearchEntry.objects.bulk_create(
        [SearchEntry(article_id=a.pk, **row) for a in articles for row in entries(a)],
        batch_size=500,
    )
    forget_counts()
    return {a.pk: i for i, a in enumerate(articles)}


def kefu_ranker(faq: FaqSet, entry_of: dict[int, int]) -> Ranker:
    from kefu.kb.search import search

    def rank(query: str) -> list[int]:
        return [entry_of[h.article_id] for h in search(query, language=faq.language, limit=10)]

    return rank


def score(faq: FaqSet, rank: Ranker) -> Score:
    result = Score()
    started = time.perf_counter()
    for query, relevant in faq.queries:
        ranked = rank(query)[:10]
        position = next((i + 1 for i, e in enumerate(ranked) if e in relevant), 0)
        result.per_query.append(position)
    result.seconds = time.perf_counter() - started
    n = len(faq.queries)
    result.hit1 = sum(1 for p in result.per_query if p == 1) / n
    result.hit5 = sum(1 for p in result.per_query if 1 <= p <= 5) / n
    result.mrr10 = sum(1 / p for p in result.per_query if p) / n
    return result


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "∞"


def report(faq: FaqSet, scores: dict[str, Score]) -> None:
    print(
        f"\n### {faq.name}: {len(faq.entries)} entries, {len(faq.queries)} queries ({faq.note})\n"
    )
    print("| method | hit@1 | hit@5 | MRR@10 | ms/query |")
    print("|---|---:|---:|---:|---:|")
    for name, s in scores.items():
        ms = 1000 * s.seconds / max(1, len(faq.queries))
        print(f"| {name} | {s.hit1:.3f} | {s.hit5:.3f} | {s.mrr10:.3f} | {ms:.2f} |")
    best = list(scores)[-1]
    for base in ("substring", "jieba+bm25"):
        if base in scores and best != base:
            b, k = scores[base], scores[best]
            print(
                f"\n{best} vs {base}: hit@1 {ratio(k.hit1, b.hit1)}, "
                f"hit@5 {ratio(k.hit5, b.hit5)}, MRR@10 {ratio(k.mrr10, b.mrr10)}",
                end="",
            )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="bq,banking77")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--limit-queries", type=int, default=None, help="first N queries only")
    args = parser.parse_args()

    from bench_workspace import make_database

    data_dir = Path(tempfile.mkdtemp(prefix="kefu-bench-search-"))
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

        call_command("migrate", verbosity=0)
        from django.db import connection

        print(
            f"kefu search_quality: {connection.vendor}, Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs",
            file=sys.stderr,
        )
        for name in args.sets.split(","):
            faq = LOADERS[name](args.limit_queries)
            scores: dict[str, Score] = {}
            scores["substring"] = score(faq, substring_ranker(faq))
            scores["jieba+bm25"] = score(faq, bare_bm25_ranker(faq))
            started = time.perf_counter()
            entry_of = build_kefu_index(faq)
            built = time.perf_counter() - started
            print(f"{name}: kefu index built in {built:.1f} s", file=sys.stderr)
            scores["kefu"] = score(faq, kefu_ranker(faq, entry_of))
            report(faq, scores)
    finally:
        db.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
