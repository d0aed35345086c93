"""The one knowledge-base search: help center, widget suggestions, agent suggestions, API.

Articles are indexed as :class:`~kefu.kb.models.SearchEntry` rows of normalized, segmented
tokens (:mod:`kefu.kb.text`): the title and the other phrasings in ``title_tokens``, the body in
``body_tokens``. SQLite keeps an FTS5 table over them (external content, kept in step by
triggers; ranked with BM25, the title weighing more); PostgreSQL a generated, weighted
``tsvector`` column with a GIN index (ranked with ``ts_rank_cd``). Both are made by migration
0002. Only published articles have an entry; ``public`` says whether readers may see it.

A query is folded and segmented the same way, expanded with the admin's synonyms and matched
as an OR of quoted terms, so no user input is ever read as FTS5 or tsquery syntax.
"""

from __future__ import annotations

import html
import re
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from kefu.kb.models import Article, SearchEntry, SearchLog
from kefu.kb.text import expand, normalize, tokens

MAX_QUERY_CHARS = 200
MAX_TERMS = 40
MAX_LIMIT = 50
SNIPPET_CHARS = 160
SNIPPET_SCAN_CHARS = 4000  # matches are looked for in the body's beginning only
# Ranking costs a few microseconds per matching row, so a query only keeps the terms whose
# matches fit this many rows (rarest first): very common words ("我", "怎么", "my") add little
# to BM25 and would make every article a candidate. Small knowledge bases keep every term.
CANDIDATE_BUDGET = 2000
DF_TTL = 120.0  # seconds a term's (capped) document count is trusted
TITLE_WEIGHT = 2.0  # BM25 column weight of the title (and other phrasings) against the body


@dataclass(frozen=True)
class Hit:
    article_id: int
    score: float
    title: str
    snippet: str  # HTML-escaped text with <mark>…</mark> around the matched terms


def language_family(language: str | None) -> str:
    """zh-hans and zh-hant are one family once folded; other languages are their own."""
    if not language:
        return ""
    return "zh" if language.lower().startswith("zh") else language.lower()


def _family_languages(language: str | None) -> list[str]:
    family = language_family(language)
    if family == "zh":
        return ["zh-hans", "zh-hant"]
    return [language] if language else []


# Indexing -------------------------------------------------------------------------------------


def entry_fields(article: Article) -> dict[str, object]:
    """What the index holds for a (published) article."""
    group = article.group
    category = group.category
    title = " ".join([article.title, *article.alternative_list])
    return {
        "language": article.language,
        "public": not group.internal and not (category is not None and category.internal),
        "title_tokens": " ".join(tokens(title)),
        "body_tokens": " ".join(tokens(article.body_text)),
    }


def index_article(article: Article) -> None:
    """(Re)build the article's search entry; remove it when the article is not published.
    The FTS5 rows (SQLite) or the tsvector (PostgreSQL) follow the entry by themselves."""
    if article.status != Article.Status.PUBLISHED:
        SearchEntry.objects.filter(article_id=article.pk).delete()
        return
    fields = entry_fields(article)
    SearchEntry.objects.update_or_create(article_id=article.pk, defaults=fields)


def remove_article(article_id: int) -> None:
    SearchEntry.objects.filter(article_id=article_id).delete()


def reindex(articles: Iterable[Article] | None = None) -> int:
    """Rebuild the entries of every published article (or of ``articles``); drop the others.
    Returns how many articles are indexed."""
    queryset = Article.objects.select_related("group__category")
    everything = articles is None
    if articles is None:
        SearchEntry.objects.exclude(article__status=Article.Status.PUBLISHED).delete()
        articles = queryset.filter(status=Article.Status.PUBLISHED).iterator(chunk_size=500)
    count = 0
    for article in articles:
        with transaction.atomic():
            index_article(article)
        count += article.status == Article.Status.PUBLISHED
    if everything and connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO kb_search_fts(kb_search_fts) VALUES ('optimize')")
    return count


# Querying -------------------------------------------------------------------------------------


def query_terms(query: str) -> list[list[str]]:
    """The query's terms (each a token list, a phrase when a synonym has several tokens): its
    own tokens, deduplicated, then the synonyms they bring in."""
    words = list(dict.fromkeys(tokens(query[:MAX_QUERY_CHARS])))
    terms = [[w] for w in words] + expand(words)
    return terms[:MAX_TERMS]


def _fts_phrase(term: list[str], prefix: bool = False) -> str:
    # Tokens are runs of letters and digits only; quoting still makes any of them a literal.
    phrase = '"' + " ".join(t.replace('"', '""') for t in term) + '"'
    return phrase + "*" if prefix else phrase


_doc_freq: dict[tuple[str, str], tuple[float, int]] = {}


def _capped_count(match: str) -> int:
    """How many entries match one term, counted up to just over the budget (cached)."""
    key = (str(connection.settings_dict["NAME"]), match)
    now = time.monotonic()
    cached = _doc_freq.get(key)
    if cached and now - cached[0] < DF_TTL:
        return cached[1]
    if connection.vendor == "postgresql":
        sql = (
            "SELECT count(*) FROM (SELECT 1 FROM kb_searchentry"
            " WHERE search_vector @@ to_tsquery('simple', %s) LIMIT %s) AS t"
        )
    else:
        sql = (
            "SELECT count(*) FROM (SELECT 1 FROM kb_search_fts"
            " WHERE kb_search_fts MATCH %s LIMIT %s)"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [match, CANDIDATE_BUDGET + 1])
        count = int(cursor.fetchone()[0])
    if len(_doc_freq) > 50_000:
        _doc_freq.clear()
    _doc_freq[key] = (now, count)
    return count


def _within_budget(parts: list[str], keep_last: bool = False) -> list[str]:
    """The query parts to run: rarest first while their matches fit the candidate budget
    (always at least the rarest one, and the prefix being typed), in their original order."""
    if len(parts) <= 1:
        return parts
    counts = [_capped_count(p) for p in parts]
    chosen: set[int] = {len(parts) - 1} if keep_last else set()
    total = counts[-1] if keep_last else 0
    for i in sorted(range(len(parts)), key=lambda i: counts[i]):
        if i in chosen:
            continue
        if chosen and total + counts[i] > CANDIDATE_BUDGET:
            break
        chosen.add(i)
        total += counts[i]
    return [p for i, p in enumerate(parts) if i in chosen]


def _sqlite_rows(
    terms: list[list[str]], prefix_last: bool, language: str | None, public_only: bool, limit: int
) -> list[tuple[int, float]]:
    parts = [_fts_phrase(t) for t in terms]
    if prefix_last:
        parts[-1] = _fts_phrase(terms[-1], prefix=True)
    match = " OR ".join(_within_budget(parts, keep_last=prefix_last))
    langs = _family_languages(language)
    marks = ", ".join("%s" for _ in langs) or "''"
    sql = (
        "SELECT e.article_id, bm25(kb_search_fts, %s, 1.0) AS rank"  # noqa: S608 (constants)
        " FROM kb_search_fts JOIN kb_searchentry e ON e.id = kb_search_fts.rowid"
        " WHERE kb_search_fts MATCH %s" + (" AND e.public" if public_only else "")
    )
    params: list[Any] = [TITLE_WEIGHT, match]
    if langs:
        sql += f" ORDER BY e.language IN ({marks}) DESC, rank LIMIT %s"
        params += [*langs, limit]
    else:
        sql += " ORDER BY rank LIMIT %s"
        params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(article_id, -rank) for article_id, rank in cursor.fetchall()]


def _pg_rows(
    terms: list[list[str]], prefix_last: bool, language: str | None, public_only: bool, limit: int
) -> list[tuple[int, float]]:
    parts = [" <-> ".join(t) for t in terms]
    if prefix_last:
        parts[-1] = " <-> ".join([*terms[-1][:-1], terms[-1][-1] + ":*"])
    tsquery = " | ".join(f"({p})" for p in _within_budget(parts, keep_last=prefix_last))
    langs = _family_languages(language)
    sql = (
        "SELECT e.article_id, ts_rank_cd(e.search_vector, q, 1) AS score"  # noqa: S608
        " FROM kb_searchentry e, to_tsquery('simple', %s) q"
        " WHERE e.search_vector @@ q" + (" AND e.public" if public_only else "")
    )
    params: list[Any] = [tsquery]
    if langs:
        sql += " ORDER BY e.language = ANY(%s) DESC, score DESC LIMIT %s"
        params += [langs, limit]
    else:
        sql += " ORDER BY score DESC LIMIT %s"
        params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(article_id, float(score)) for article_id, score in cursor.fetchall()]


def _run(
    query: str, *, language: str | None, public_only: bool, limit: int, prefix_last: bool
) -> list[Hit]:
    terms = query_terms(query)
    if not terms:
        return []
    limit = max(1, min(int(limit), MAX_LIMIT))
    if prefix_last:
        # The last typed token, as a prefix, goes last whatever the synonyms added.
        last = [tokens(query[:MAX_QUERY_CHARS])[-1]]
        terms = [t for t in terms if t != last] + [last]
    rows_for = _pg_rows if connection.vendor == "postgresql" else _sqlite_rows
    rows = rows_for(terms, prefix_last, language, public_only, limit)
    return _hits(rows, terms)


def search(
    query: str, *, language: str | None = None, public_only: bool = True, limit: int = 10
) -> list[Hit]:
    """Published articles matching ``query``, best first. Articles in the reader's ``language``
    (zh-hans and zh-hant are one family) come before the others. ``public_only=False`` (agents)
    adds internal articles; drafts and archived articles are never found."""
    return _run(query, language=language, public_only=public_only, limit=limit, prefix_last=False)


def suggest(query: str, *, language: str | None = None, limit: int = 5) -> list[Hit]:
    """As-you-type suggestions for readers: the last token matches as a prefix."""
    return _run(query, language=language, public_only=True, limit=limit, prefix_last=True)


# Results --------------------------------------------------------------------------------------


def _hits(rows: list[tuple[int, float]], terms: list[list[str]]) -> list[Hit]:
    if not rows:
        return []
    articles = Article.objects.only("title", "body_text", "language").in_bulk([r[0] for r in rows])
    needles = sorted({"".join(t) if _all_cjk(t) else " ".join(t) for t in terms}, key=len)
    hits = []
    for article_id, score in rows:
        article = articles.get(article_id)
        if article is None:  # deleted meanwhile
            continue
        body = (article.body_text or article.title)[:SNIPPET_SCAN_CHARS]
        # Folding to simplified is slow (pure-Python opencc); only traditional text needs it.
        traditional = article.language == "zh-hant"
        hits.append(Hit(article_id, score, article.title, snippet(body, needles, traditional)))
    return hits


def _all_cjk(term: list[str]) -> bool:
    return all(not t.isascii() for t in term)


def _fold(text: str, traditional: bool) -> str:
    if traditional:
        return normalize(text)
    return unicodedata.normalize("NFKC", text).casefold()


def _folded_with_positions(text: str, traditional: bool) -> tuple[str, list[int]]:
    """The normalized text and, for each of its characters, the index of the original one."""
    folded = _fold(text, traditional)
    if len(folded) == len(text):
        return folded, list(range(len(text)))
    chars: list[str] = []
    positions: list[int] = []
    for i, ch in enumerate(text):
        piece = _fold(ch, traditional)
        chars.append(piece)
        positions.extend([i] * len(piece))
    return "".join(chars), positions


def snippet(
    text: str, needles: list[str], traditional: bool = True, width: int = SNIPPET_CHARS
) -> str:
    """A window of ``text`` around the densest matches, HTML-escaped, matches in <mark>.
    ``traditional=False`` skips folding to simplified (for text known to be simplified or
    not Chinese)."""
    text = " ".join(text.split())
    folded, positions = _folded_with_positions(text, traditional)
    spans: list[tuple[int, int]] = []
    for needle in needles:
        if not needle:
            continue
        pattern = re.escape(needle)
        if needle.isascii():  # a stem: mark the whole word it begins
            pattern = r"\b" + pattern + r"\w*"
        for m in re.finditer(pattern, folded):
            spans.append((positions[m.start()], positions[m.end() - 1] + 1))
    start = 0
    if spans and len(text) > width:
        best = max(
            (s for s, _ in spans), key=lambda s: sum(1 for a, _ in spans if s <= a < s + width)
        )
        start = max(0, best - width // 4)
    end = min(len(text), start + width)
    marked = sorted(s for s in spans if s[0] >= start and s[1] <= end)
    out: list[str] = ["…" if start else ""]
    cursor = start
    for a, b in marked:
        if a < cursor:
            continue
        out.append(html.escape(text[cursor:a]))
        out.append(f"<mark>{html.escape(text[a:b])}</mark>")
        cursor = b
    out.append(html.escape(text[cursor:end]))
    if end < len(text):
        out.append("…")
    return "".join(out)


# Search log -----------------------------------------------------------------------------------


def log_search(query: str, *, source: str, language: str = "", results: int = 0) -> int:
    """Record a search (for deflection and content-gap reports); returns the log id."""
    query = query.strip()
    entry = SearchLog.objects.create(
        query=query[:200],
        normalized=" ".join(tokens(query[:MAX_QUERY_CHARS]))[:400],
        language=language[:10],
        source=source,
        results=results,
    )
    return entry.pk


def log_click(log_id: int, article_id: int) -> None:
    """The reader opened ``article_id`` from that search (the last click is kept)."""
    if Article.objects.filter(pk=article_id).exists():
        SearchLog.objects.filter(pk=log_id).update(clicked_id=article_id)
