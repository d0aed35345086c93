"""The one knowledge-base search: help center, widget suggestions, agent suggestions, API.

Articles are indexed as :class:`~kefu.kb.models.SearchEntry` rows of normalized, segmented
tokens (:mod:`kefu.kb.text`): the title and the other phrasings in ``title_tokens``, the body in
``body_tokens``; an FAQ entry with other phrasings also has one entry per phrasing. SQLite
keeps an FTS5 table over them (external content, kept in step by triggers; ranked with BM25,
the title weighing more); PostgreSQL a generated, weighted ``tsvector`` column with a GIN index
without a pending list (ranked with ``ts_rank`` per term, weighted by the term's BM25 idf). Both
are made by migrations. Only published articles have entries; ``public`` says whether readers
may see them.

A query is folded and segmented the same way, expanded with the admin's synonyms and matched
as terms quoted for the database, so no user input is ever read as FTS5 or tsquery syntax.
While the terms' matches fit ``CANDIDATE_BUDGET`` it is their OR; past it, :func:`_plan`
narrows the candidates (see there) so a query costs about the same at 100,000 articles. The plan
needs each term's document count: taken once per process (then kept ``DF_TTL``), on PostgreSQL
read from ANALYZE's statistics for common words, on SQLite summed from the index's vocabulary for
a prefix; combinations of words are counted on SQLite and estimated on PostgreSQL, whose ranked
read caps its candidates instead. SQLite's FTS table also indexes words' first characters, so
that a suggestion's one-character prefix reads one posting list, not one per word.
"""

from __future__ import annotations

import bisect
import contextlib
import html
import math
import re
import time
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
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
# Ranking costs about a microsecond or more per matching row, so past this many matching
# entries a query's candidates are narrowed (``_plan``): very common words ("我", "怎么", "my")
# add nothing to BM25 and would make every article a candidate. Small knowledge bases are
# ranked whole.
CANDIDATE_BUDGET = 1000
DF_TTL = 300.0  # seconds a term's document count (and the index size) is trusted
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
    """What the index holds for a (published) article as a whole (entry 0)."""
    group = article.group
    category = group.category
    title = " ".join([article.title, *article.alternative_list])
    return {
        "language": article.language,
        "public": not group.internal and not (category is not None and category.internal),
        "title_tokens": " ".join(tokens(title)),
        "body_tokens": " ".join(tokens(article.body_text)),
    }


def entries(article: Article) -> list[dict[str, Any]]:
    """Every entry of a (published) article: the whole article, then, when it has other
    phrasings, each way of asking on its own (its question first). Matched one by one, a short
    phrasing that says what the reader typed is not drowned by a hundred others: on BANKING77
    this took hit@1 from 0.78 to 0.80 and hit@5 from 0.94 to 0.96 (docs/benchmarks.md)."""
    whole = entry_fields(article)
    rows = [{**whole, "phrasing": 0}]
    alternatives = article.alternative_list
    if alternatives:
        for number, text in enumerate([article.title, *alternatives], start=1):
            rows.append(
                {
                    "language": whole["language"],
                    "public": whole["public"],
                    "phrasing": number,
                    "title_tokens": " ".join(tokens(text)),
                    "body_tokens": "",
                }
            )
    return rows


def index_article(article: Article) -> None:
    """(Re)build the article's search entries; remove them when the article is not published.
    The FTS5 rows (SQLite) or the tsvectors (PostgreSQL) follow the entries by themselves."""
    if article.status != Article.Status.PUBLISHED:
        SearchEntry.objects.filter(article_id=article.pk).delete()
        forget_counts()
        return
    rows = entries(article)
    for row in rows:
        phrasing = row.pop("phrasing")
        SearchEntry.objects.update_or_create(article_id=article.pk, phrasing=phrasing, defaults=row)
    SearchEntry.objects.filter(article_id=article.pk, phrasing__gte=len(rows)).delete()
    forget_counts()


def remove_article(article_id: int) -> None:
    SearchEntry.objects.filter(article_id=article_id).delete()
    forget_counts()


def reindex(articles: Iterable[Article] | None = None) -> int:
    """Rebuild the entries of every published article (or of ``articles``); drop the others.
    Returns how many articles are indexed."""
    queryset = Article.objects.select_related("group__category")
    everything = articles is None
    if articles is None:
        SearchEntry.objects.exclude(article__status=Article.Status.PUBLISHED).delete()
        articles = queryset.filter(status=Article.Status.PUBLISHED).iterator(chunk_size=500)
    count = 0
    with bulk_writes() if everything else contextlib.nullcontext():
        for article in articles:
            with transaction.atomic():
                index_article(article)
            count += article.status == Article.Status.PUBLISHED
    if everything and connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO kb_search_fts(kb_search_fts) VALUES ('optimize')")
    elif everything and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE kb_searchentry")  # the common words the planner estimates
    return count


@contextlib.contextmanager
def bulk_writes() -> Iterator[None]:
    """Many entries written at once (a whole reindex, a bulk load): PostgreSQL's GIN index,
    which otherwise takes each entry at once (migration kb/0006, so that searches never read a
    pending list), collects them in its pending list meanwhile and merges it in batches, then
    once more at the end; that is several times faster at 100,000 entries. Searches meanwhile
    read the pending list. Nothing to do on other databases."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("ALTER INDEX kb_searchentry_vector SET (fastupdate = on)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER INDEX kb_searchentry_vector SET (fastupdate = off)")
            cursor.execute("SELECT gin_clean_pending_list('kb_searchentry_vector')")


# Querying -------------------------------------------------------------------------------------


def query_terms(query: str) -> list[list[str]]:
    """The query's terms (each a token list, a phrase when a synonym has several tokens): its
    own tokens, deduplicated, then the synonyms they bring in."""
    words = list(dict.fromkeys(tokens(query[:MAX_QUERY_CHARS])))
    terms = [[w] for w in words] + expand(words)
    return terms[:MAX_TERMS]


class _Backend(ABC):
    """How one database spells the pieces of a query, counts matches and ranks them."""

    @abstractmethod
    def phrase(self, term: list[str], prefix: bool) -> str: ...

    @abstractmethod
    def any_of(self, parts: list[str]) -> str: ...

    @abstractmethod
    def all_of(self, parts: list[str]) -> str: ...

    def titles(self, expression: str) -> str | None:
        """The expression matched in titles (and other phrasings) only, if the database can."""
        return None

    @abstractmethod
    def count_sql(self) -> str: ...

    def count(self, expression: str, cap: int) -> int:
        with connection.cursor() as cursor:
            cursor.execute(self.count_sql(), [expression, cap])
            return int(cursor.fetchone()[0])

    # Whether the planner may estimate how many entries hold several terms together from the
    # terms' own counts instead of counting them (see ``_together``).
    estimates_combinations = False

    @abstractmethod
    def rows(
        self, plan: _Plan, language: str | None, public_only: bool, limit: int
    ) -> list[tuple[int, float]]: ...


class _Sqlite(_Backend):
    def phrase(self, term: list[str], prefix: bool) -> str:
        # Tokens are runs of letters and digits only; quoting still makes any of them a literal.
        quoted = '"' + " ".join(t.replace('"', '""') for t in term) + '"'
        return quoted + "*" if prefix else quoted

    def any_of(self, parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def all_of(self, parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def titles(self, expression: str) -> str | None:
        return "{title_tokens} : " + expression

    def count_sql(self) -> str:
        return (
            "SELECT count(*) FROM (SELECT 1 FROM kb_search_fts"
            " WHERE kb_search_fts MATCH %s LIMIT %s)"
        )

    def count(self, expression: str, cap: int) -> int:
        """A prefix typed last ("do"*, "怎"*) is estimated from the index's own vocabulary
        (``kb_search_vocab``, migration kb/0007: how many entries hold each word): matching
        it merges the posting lists of every word it begins, which made the slowest
        suggestions at 100,000 articles. Summed over those words, an entry holding two of them
        counts twice, so it is an upper bound; the planner takes it when it cannot drop the
        prefix as too common (the sum is at most half the index) or when one word alone
        is that common. Anything else is counted."""
        match = _SQLITE_PREFIX.fullmatch(expression)
        if match:
            estimate = _vocabulary_estimate(match.group(1), cap)
            if estimate is not None:
                return estimate
        return super().count(expression, cap)

    def floor(self, expression: str) -> int:
        """The entry id below which the match has more than ``CANDIDATE_BUDGET`` newer entries
        (0 when it has no more than that)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT rowid FROM kb_search_fts WHERE kb_search_fts MATCH %s"
                " ORDER BY rowid DESC LIMIT 1 OFFSET %s",
                [expression, CANDIDATE_BUDGET],
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def rows(
        self, plan: _Plan, language: str | None, public_only: bool, limit: int
    ) -> list[tuple[int, float]]:
        expression = plan.expression
        # Too many matches even so: only the newest ``CANDIDATE_BUDGET`` are ranked.
        floor = _cached("floor " + expression, lambda: self.floor(expression)) if plan.narrow else 0
        langs = _family_languages(language)
        marks = ", ".join("%s" for _ in langs) or "''"
        sql = (
            "SELECT e.article_id, bm25(kb_search_fts, %s, 1.0) AS rank"  # noqa: S608 (constants)
            " FROM kb_search_fts JOIN kb_searchentry e INDEXED BY kb_searchentry_filter"
            " ON e.id = kb_search_fts.rowid"
            " WHERE kb_search_fts MATCH %s AND kb_search_fts.rowid >= %s"
            + (" AND e.public" if public_only else "")
        )
        params: list[Any] = [TITLE_WEIGHT, expression, floor]
        if langs:
            sql += f" ORDER BY e.language IN ({marks}) DESC, rank LIMIT %s"
            params += [*langs, limit]
        else:
            sql += " ORDER BY rank LIMIT %s"
            params.append(limit)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [(article_id, -rank) for article_id, rank in cursor.fetchall()]


class _Postgres(_Backend):
    estimates_combinations = True

    def count(self, expression: str, cap: int) -> int:
        """Counting a common word's matches reads its whole posting list (tens of ms at 100,000
        entries); the planner only needs to know that it is common. PostgreSQL's statistics
        keep the most common lexemes of the tsvector column with their frequencies (ANALYZE,
        run by autovacuum and by ``reindex``): a single word or prefix found there is
        estimated from them, anything else (rare words, phrases, combinations) is counted,
        which is cheap exactly because it is not common."""
        estimate = _common_estimate(expression)
        if estimate is not None:
            return min(estimate, cap)
        return super().count(expression, cap)

    def phrase(self, term: list[str], prefix: bool) -> str:
        # Tokens are runs of letters and digits only, so they never carry tsquery syntax.
        words = list(term)
        if prefix:
            words[-1] += ":*"
        return "(" + " <-> ".join(words) + ")"

    def any_of(self, parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"

    def all_of(self, parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else "(" + " & ".join(parts) + ")"

    def count_sql(self) -> str:
        return (
            "SELECT count(*) FROM (SELECT 1 FROM kb_searchentry"
            " WHERE search_vector @@ to_tsquery('simple', %s) LIMIT %s) AS t"
        )

    def rows(
        self, plan: _Plan, language: str | None, public_only: bool, limit: int
    ) -> list[tuple[int, float]]:
        # ts_rank has no notion of how rare a word is, so each term is ranked on its own and
        # weighted by its BM25 idf (from the document counts the planner took), as BM25 does.
        # The candidates are capped inside the query (the first ``CANDIDATE_BUDGET`` the index
        # gives): combined counts are estimates here, so this bounds what a wrong one costs,
        # and a match still too large is cut without a query to find where. The rare terms'
        # matches are capped apart from their commoner rest, so that one never crowds them out.
        total = _total()
        ranks: list[str] = []
        rank_params: list[Any] = []
        for term in plan.terms:
            ranks.append("%s * ts_rank(e.search_vector, to_tsquery('simple', %s), 1)")
            rank_params += [_idf(term.df, total), term.part]
        candidates = (
            "(SELECT e.article_id, e.language, "  # noqa: S608 (constants)
            + " + ".join(ranks)
            + " AS score FROM kb_searchentry e WHERE e.search_vector @@ to_tsquery('simple', %s)"
            + (" AND e.public" if public_only else "")
            + " LIMIT %s)"
        )
        expressions = plan.split or (plan.expression,)
        sql = (
            "SELECT article_id, score FROM ("  # noqa: S608 (constants)
            + " UNION ".join(candidates for _ in expressions)
            + ") AS c"
        )
        params: list[Any] = []
        for expression in expressions:
            params += [*rank_params, expression, CANDIDATE_BUDGET]
        langs = _family_languages(language)
        if langs:
            sql += " ORDER BY language = ANY(%s) DESC, score DESC LIMIT %s"
            params += [langs, limit]
        else:
            sql += " ORDER BY score DESC LIMIT %s"
            params.append(limit)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [(article_id, float(score)) for article_id, score in cursor.fetchall()]


@dataclass
class _Term:
    part: str  # the term in the database's query syntax
    df: int  # how many entries match it (capped above half the index)


@dataclass
class _Plan:
    expression: str  # what the candidates match
    terms: list[_Term]  # what they are ranked with
    narrow: bool = False  # too many candidates even so: rank ``CANDIDATE_BUDGET`` of them
    # The expression as (its rare terms' OR, their commoner rest together) when the second
    # part's size is an estimate: PostgreSQL caps that part alone (``_Postgres.rows``).
    split: tuple[str, str] | None = None
    wider: _Plan | None = None  # ranked instead when this (estimated) plan finds too few


_counts: dict[tuple[str, str], tuple[float, int]] = {}


def _cached(key: str, compute: Any) -> int:
    """A count, remembered for ``DF_TTL`` seconds (or until this process changes the index).
    Counts only steer the plan: a term whose remembered count is stale still takes part in the
    OR of rare terms, so an article published meanwhile in another process is found."""
    name = (str(connection.settings_dict["NAME"]), key)
    now = time.monotonic()
    cached = _counts.get(name)
    if cached and now - cached[0] < DF_TTL:
        return cached[1]
    value = int(compute())
    if len(_counts) > 50_000:
        _counts.clear()
    _counts[name] = (now, value)
    return value


def forget_counts() -> None:
    """The index changed in this process: take every count afresh."""
    _counts.clear()


_PG_WORD = re.compile(r"\((\w+)(:\*)?\)")
_lexemes: tuple[float, str, dict[str, float], list[str]] | None = None


def _common_lexemes() -> tuple[dict[str, float], list[str]]:
    """PostgreSQL's most common lexemes of the search column, with the share of entries that
    hold each (empty before the first ANALYZE), and them sorted (for prefixes); per process,
    for ``DF_TTL`` seconds."""
    global _lexemes
    name = str(connection.settings_dict["NAME"])
    now = time.monotonic()
    if _lexemes is None or _lexemes[1] != name or now - _lexemes[0] >= DF_TTL:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats"
                " WHERE tablename = 'kb_searchentry' AND attname = 'search_vector'"
                " AND schemaname = ANY(current_schemas(false))"
            )
            row = cursor.fetchone()
        shares: dict[str, float] = {}
        if row and row[0] and row[1]:
            shares = dict(zip(row[0], row[1][: len(row[0])], strict=True))
        _lexemes = (now, name, shares, sorted(shares))
    return _lexemes[2], _lexemes[3]


def _common_estimate(expression: str) -> int | None:
    """How many entries hold the single word (or prefix) ``expression``, when PostgreSQL's
    statistics know it as common; None when it must be counted."""
    match = _PG_WORD.fullmatch(expression)
    if not match:
        return None
    shares, ordered = _common_lexemes()
    if not shares:
        return None
    word, prefix = match.group(1), bool(match.group(2))
    if not prefix:
        share = shares.get(word)
    else:
        start = bisect.bisect_left(ordered, word)
        share = 0.0
        for lexeme in ordered[start:]:
            if not lexeme.startswith(word):
                break
            share += shares[lexeme]
        share = min(share, 1.0)
        if share * _total() <= CANDIDATE_BUDGET:
            share = None  # a rare prefix: its true count is cheap and may be larger
    return None if share is None else max(1, round(share * _total()))


_SQLITE_PREFIX = re.compile(r'"(\w+)"\*')
VOCABULARY_WORDS = 500  # words of a prefix summed at most; past that it is counted


def _vocabulary_estimate(prefix: str, cap: int) -> int | None:
    """The sum of the entries holding each indexed word that begins with ``prefix`` (SQLite),
    or None when it must be counted: the sum may drop the prefix as too common (above half
    the index) while no single word is, or the prefix begins too many words."""
    half = _total() // 2
    following = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    summed = largest = words = 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT doc FROM kb_search_vocab WHERE term >= %s AND term < %s LIMIT %s",
            [prefix, following, VOCABULARY_WORDS + 1],
        )
        for (doc,) in cursor:
            words += 1
            summed += doc
            largest = max(largest, doc)
            if largest > half:
                return min(cap, summed)  # common for sure: the rest need not be read
    if words > VOCABULARY_WORDS or summed > half:
        return None
    return min(cap, summed)


def _total() -> int:
    """How many entries the index holds."""
    return _cached("", lambda: SearchEntry.objects.count())


def _idf(df: int, total: int) -> float:
    """BM25's idf, floored as FTS5 floors it (a term in most entries weighs next to nothing)."""
    value = math.log((total - df + 0.5) / (df + 0.5))
    return value if value > 0 else 1e-6


def _plan(backend: _Backend, parts: list[str], limit: int) -> _Plan:
    """What to rank: the expression candidates match, and the terms they are ranked with.

    While every term's matches together fit the candidate budget, it is the OR of them all (so
    small knowledge bases rank exactly as BM25 over all matches). Past that, ranking every match
    would cost too much (a few microseconds a row), so the candidates are narrowed in steps that
    keep the entries BM25 would put first:

    - terms in more than half the index are dropped (their BM25 idf is zero: "我", "怎么", "my");
    - the rarest terms that fit the budget stay OR-ed, and the commoner rest must then occur
      together (``rare1 OR rare2 OR (common1 AND common2)``) if that fits too;
    - when even the rarest term is too common, every term must occur (AND), the commonest
      dropped one by one while that leaves fewer than ``limit`` entries; if the AND is still
      too large, it is matched in titles only (SQLite), and if that is still too large (a
      query as vague as the knowledge base's own name), only ``CANDIDATE_BUDGET`` of its
      entries are ranked (``narrow``).

    How many entries hold several terms together is counted on SQLite (cheap there) and
    estimated on PostgreSQL (``_together``), where counting reads every term's posting list
    again for each combination tried. Each term occurs once in the expression, so BM25 weighs
    it as it would in the plain OR.
    """
    total = _total()
    cap = max(CANDIDATE_BUDGET, total // 2) + 1
    terms = [_Term(p, _cached(p, lambda p=p: backend.count(p, cap))) for p in parts]
    if sum(t.df for t in terms) <= CANDIDATE_BUDGET:
        return _Plan(backend.any_of([t.part for t in terms]), terms)
    # Terms no entry has (as far as the counts know) cost nothing and ride along in every OR.
    absent = [t for t in terms if not t.df]
    terms = sorted((t for t in terms if t.df), key=lambda t: t.df)
    terms = [t for t in terms if 2 * t.df <= total] or terms[:1]
    rare: list[_Term] = []
    used = 0
    for term in terms:
        if used + term.df > CANDIDATE_BUDGET:
            break
        rare.append(term)
        used += term.df
    common = terms[len(rare) :]
    if rare and len(common) >= 2:
        together = _combination(backend, common, total, CANDIDATE_BUDGET - used)
        if together is not None:
            either = backend.any_of([t.part for t in absent + rare])
            split = (either, together) if backend.estimates_combinations else None
            return _Plan(backend.any_of([either, together]), absent + terms, split=split)
    if rare:
        return _Plan(backend.any_of([t.part for t in absent + rare]), absent + rare)
    # An estimate errs low here (too few terms kept costs a little relevance, too many finds
    # too few entries); should it still find too few, the plan keeping one term less is ranked.
    kept = list(terms)
    while True:
        found = _together(backend, kept, total, high=False)
        if found >= limit or len(kept) == 1:
            break
        kept.pop()
    plan = _and_plan(backend, kept, found, limit)
    if backend.estimates_combinations and len(kept) > 1:
        fewer = kept[:-1]
        found = _together(backend, fewer, total, high=False)
        plan.wider = _and_plan(backend, fewer, found, limit)
    return plan


def _combination(backend: _Backend, common: list[_Term], total: int, room: int) -> str | None:
    """The commoner terms' AND that may join the rare terms' OR with at most ``room`` more
    entries, or None. Counted (SQLite), it is all of them together. Estimated (PostgreSQL), it
    is the fewest of the rarest that fit (at least two): each common word in an AND reads its
    whole posting list (about a millisecond each at 100,000 entries), the rarest say the most,
    and the entries that hold them are ranked with every term anyway. An estimate errs high
    here: a combination left out costs a little relevance, one larger than thought costs
    time (up to the cap of ``_Postgres.rows``)."""
    if not backend.estimates_combinations:
        if _together(backend, common, total, high=True) <= room:
            return backend.all_of([t.part for t in common])
        return None
    for size in range(2, len(common) + 1):
        if _together(backend, common[:size], total, high=True) <= room:
            return backend.all_of([t.part for t in common[:size]])
    return None


def _and_plan(backend: _Backend, kept: list[_Term], found: int, limit: int) -> _Plan:
    """Every kept term must occur; ``found``: how many entries hold them all (or its estimate)."""
    together = backend.all_of([t.part for t in kept])
    if found <= CANDIDATE_BUDGET:
        return _Plan(together, kept)
    in_titles = backend.titles(together)
    if in_titles is not None:
        in_title = _cached(in_titles, lambda: backend.count(in_titles, CANDIDATE_BUDGET + 1))
        if in_title >= limit:
            together = in_titles
            if in_title <= CANDIDATE_BUDGET:
                return _Plan(together, kept)
    # Still too many: only ``CANDIDATE_BUDGET`` of the match's entries are ranked.
    return _Plan(together, kept, narrow=True)


def _together(backend: _Backend, terms: list[_Term], total: int, *, high: bool) -> int:
    """How many entries hold every one of ``terms``: counted where the database does it cheaply,
    else estimated from the terms' own counts as if they occurred independently. Words of one
    question occur together more often than by chance (by 1.3 to 3 times for two to four
    common words of the speed bench's articles), so ``high`` doubles the estimate for each
    term after the first; it never exceeds the rarest term's count."""
    if len(terms) == 1:
        return terms[0].df
    if not backend.estimates_combinations:
        expression = backend.all_of([t.part for t in terms])
        return _cached(expression, lambda: backend.count(expression, CANDIDATE_BUDGET + 1))
    total = max(total, 1)
    product = 2 ** (len(terms) - 1) if high else 1  # whole numbers: no rounding errors
    for term in terms:
        product *= min(term.df, total)
    estimate = -(-product // total ** (len(terms) - 1))  # rounded up
    return min(min(t.df for t in terms), estimate)


def _backend() -> _Backend:
    return _POSTGRES if connection.vendor == "postgresql" else _SQLITE


_SQLITE = _Sqlite()
_POSTGRES = _Postgres()


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
        if _not_yet_a_word(last[0]) and len(terms) > 1:
            terms, prefix_last = terms[:-1], False
    backend = _backend()
    parts = [backend.phrase(t, prefix=False) for t in terms]
    if prefix_last:
        parts[-1] = backend.phrase(terms[-1], prefix=True)
    plan = _plan(backend, parts, limit)
    # An FAQ entry has an entry per phrasing: rank entries, keep each article's best one.
    rows = backend.rows(plan, language, public_only, limit * 5)
    if len(rows) < limit and plan.wider is not None:
        rows = backend.rows(plan.wider, language, public_only, limit * 5)
    best: dict[int, float] = {}
    for article_id, score in rows:
        best.setdefault(article_id, score)
    return _hits(list(best.items())[:limit], terms)


def _not_yet_a_word(token: str) -> bool:
    """A single Latin letter or digit typed last: a word only begun. As a prefix it matches
    every word with that letter (a sizeable share of the index) and says nothing about which;
    reading those posting lists made most of the slowest suggestions at 100,000 articles, so
    the suggestions follow the words before it until the next letter comes. A Chinese character
    is a word or most of one, and stays."""
    return len(token) == 1 and token.isascii()


def search(
    query: str, *, language: str | None = None, public_only: bool = True, limit: int = 10
) -> list[Hit]:
    """Published articles matching ``query``, best first. Articles in the reader's ``language``
    (zh-hans and zh-hant are one family) come before the others. ``public_only=False`` (agents)
    adds internal articles; drafts and archived articles are never found."""
    return _run(query, language=language, public_only=public_only, limit=limit, prefix_last=False)


def suggest(query: str, *, language: str | None = None, limit: int = 5) -> list[Hit]:
    """As-you-type suggestions for readers: the last token matches as a prefix (unless it is a
    single Latin letter or digit after other words: ``_not_yet_a_word``)."""
    return _run(query, language=language, public_only=True, limit=limit, prefix_last=True)


# Results --------------------------------------------------------------------------------------


# Words too common to be worth a highlight: they still match and rank (BM25 gives them little
# weight), but a snippet that marks every 的 and 请 hides the words that matter. Single
# characters are left out the same way whenever the query has a longer word.
HIGHLIGHT_STOP_WORDS = frozenset(
    """
    怎么 怎样 什么 为什么 如何 可以 可否 是否 能否 请问 你好 您好 谢谢 麻烦 一下 这个 那个
    我们 你们 他们 自己 没有 已经 还是 就是 但是 因为 所以 如果 现在 时候 一个 这样 那样
    怎么办 什么样 多少
    a an and are as at be but by can could do does did for from have has how i if in is it its
    me my no not of on or our please so that the their them there this to was we what when
    where which who why will with would you your hi hello thanks
    """.split()  # noqa: SIM905 (reads better as text)
)


def highlight_needles(terms: list[list[str]]) -> list[str]:
    """What a snippet marks for these query terms: each term as it reads in text, without the
    stop words and (when anything longer is left) single characters; all of them if nothing
    else is left. Longest first, so a word wins over the words inside it."""
    needles = {"".join(t) if _all_cjk(t) else " ".join(t) for t in terms}
    needles.discard("")
    strong = {n for n in needles if n not in HIGHLIGHT_STOP_WORDS and len(n) > 1}
    return sorted(strong or needles, key=lambda n: (-len(n), n))


def _hits(rows: list[tuple[int, float]], terms: list[list[str]]) -> list[Hit]:
    if not rows:
        return []
    articles = Article.objects.only("title", "body_text", "language").in_bulk([r[0] for r in rows])
    pattern = _needle_pattern(highlight_needles(terms))
    hits = []
    for article_id, score in rows:
        article = articles.get(article_id)
        if article is None:  # deleted meanwhile
            continue
        body = (article.body_text or article.title)[:SNIPPET_SCAN_CHARS]
        # Folding to simplified is slow (pure-Python opencc); only traditional text needs it.
        traditional = article.language == "zh-hant"
        hits.append(Hit(article_id, score, article.title, _snippet(body, pattern, traditional)))
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


def _needle_pattern(needles: list[str]) -> re.Pattern[str] | None:
    """One regular expression for every needle, the longest tried first. An English needle is
    a stem, so it marks the whole word it begins."""
    alternatives = [
        r"\b" + re.escape(n) + r"\w*" if n.isascii() else re.escape(n) for n in needles if n
    ]
    return re.compile("|".join(alternatives)) if alternatives else None


def snippet(
    text: str, needles: list[str], traditional: bool = True, width: int = SNIPPET_CHARS
) -> str:
    """A window of ``text`` around the densest matches of ``needles``, HTML-escaped, matches in
    <mark>. ``traditional=False`` skips folding to simplified (for text known to be simplified
    or not Chinese)."""
    pattern = _needle_pattern(sorted(needles, key=lambda n: (-len(n), n)))
    return _snippet(text, pattern, traditional, width)


def _snippet(
    text: str, pattern: re.Pattern[str] | None, traditional: bool, width: int = SNIPPET_CHARS
) -> str:
    text = " ".join(text.split())
    spans: list[tuple[int, int]] = []
    if pattern is not None:
        folded, positions = _folded_with_positions(text, traditional)
        spans = [
            (positions[m.start()], positions[m.end() - 1] + 1)
            for m in pattern.finditer(folded)
            if m.end() > m.start()
        ]
    start = 0
    if spans and len(text) > width:
        # The window (starting at a match) holding the most matches: two pointers over starts.
        best, most, k = spans[0][0], 0, 0
        for i, (a, _) in enumerate(spans):
            k = max(k, i)
            while k < len(spans) and spans[k][0] < a + width:
                k += 1
            if k - i > most:
                best, most = a, k - i
        start = max(0, best - width // 4)
    end = min(len(text), start + width)
    out: list[str] = ["…" if start else ""]
    cursor = start
    for a, b in spans:
        if a < cursor or b > end:
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
