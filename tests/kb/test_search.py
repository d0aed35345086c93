"""Knowledge-base search: folding and segmentation, the lexicon, ranking, permissions, hostile
input, the public API and the command. Runs on SQLite (FTS5) and PostgreSQL (GIN) alike."""

from __future__ import annotations

import itertools
import json

import pytest
from django.core.management import call_command
from django.test import Client

from kefu.core.events import ArticleChanged
from kefu.kb import search as kb
from kefu.kb.listeners import index_on_change
from kefu.kb.models import (
    Article,
    ArticleGroup,
    Category,
    DictionaryWord,
    SearchEntry,
    SearchLog,
    Synonym,
)
from kefu.kb.text import normalize, stem, tokens

_slugs = itertools.count(1)


def make_article(
    title: str,
    body: str = "",
    *,
    language: str = "zh-hans",
    status: str = Article.Status.PUBLISHED,
    internal: bool = False,
    alternatives: str = "",
    category: Category | None = None,
    index: bool = True,
) -> Article:
    group = ArticleGroup.objects.create(internal=internal, category=category)
    article = Article.objects.create(
        group=group,
        language=language,
        title=title,
        slug=f"a-{next(_slugs)}",
        body_text=body,
        body_html=f"<p>{body}</p>",
        alternatives=alternatives,
        status=status,
    )
    if index:
        kb.index_article(article)
    return article


def ids(hits: list[kb.Hit]) -> list[int]:
    return [h.article_id for h in hits]


# Folding and segmentation ---------------------------------------------------------------------


def test_normalize_folds_script_width_and_case():
    assert normalize("退貨退款") == "退货退款"
    assert normalize("ＡＢＣ１２３") == "abc123"
    assert normalize("Refund") == "refund"


@pytest.mark.django_db  # the lexicon comes from the database
def test_tokens_segment_and_drop_punctuation():
    words = tokens("如何申請退款？請聯繫客服！")
    assert "申请" in words and "退款" in words and "客服" in words
    assert not any(w in words for w in ("？", "！", "?", "!"))


@pytest.mark.django_db  # the lexicon comes from the database
def test_tokens_stem_english_lightly():
    assert tokens("Refunds REFUND ｒｅｆｕｎｄｓ") == ["refund", "refund", "refund"]
    assert stem("charges") == stem("charge") == "charge"
    assert stem("card") == stem("cards") == "card"
    assert stem("fees") == "fee" and stem("policies") == "policy"
    assert stem("status") == "status" and stem("address") == "address"


@pytest.mark.django_db
def test_traditional_query_finds_simplified_text():
    article = make_article("如何申请退款", "在订单页面点击申请退款。")
    assert ids(kb.search("如何申請退款")) == [article.pk]


@pytest.mark.django_db
def test_full_width_digits_match():
    article = make_article("型号 X200 的保修", "X200 保修两年。")
    assert ids(kb.search("Ｘ２００ 保修")) == [article.pk]


# Lexicon ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_dictionary_word_keeps_a_product_name_whole():
    before = tokens("云雀智能音箱怎么连接")
    assert "云雀智能音箱" not in before
    article = make_article("云雀智能音箱怎么连接无线网络", "打开应用。")
    other = make_article("智能音箱的无线网络", "打开设置。")
    DictionaryWord.objects.create(word="云雀智能音箱")
    assert "云雀智能音箱" in tokens("云雀智能音箱怎么连接")
    # The article was re-segmented, so the whole name matches it and not the other one.
    entry = SearchEntry.objects.get(article=article)
    assert "云雀智能音箱" in entry.title_tokens.split()
    # Search mode still indexes the words inside it, so the other speaker comes second.
    assert ids(kb.search("云雀智能音箱")) == [article.pk, other.pk]
    DictionaryWord.objects.all().delete()
    assert "云雀智能音箱" not in tokens("云雀智能音箱怎么连接")


@pytest.mark.django_db(transaction=True)
def test_synonyms_expand_the_query():
    zh = make_article("退货退款流程", "寄回商品后七天内到账。")
    en = make_article("How refunds work", "Money back within 7 days.", language="en")
    assert ids(kb.search("退款", language="zh-hans")) == [zh.pk]
    Synonym.objects.create(terms="退款 退货退款 refund")
    found = ids(kb.search("退款", language="zh-hans"))
    assert found == [zh.pk, en.pk]  # the reader's language first
    Synonym.objects.all().delete()
    assert ids(kb.search("退款")) == [zh.pk]


# Ranking ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ranking_prefers_the_title_and_rare_terms():
    body_only = make_article("配送时间说明", "如果需要发票，请在下单时填写抬头。")
    in_title = make_article("如何开具发票", "订单完成后在订单详情页申请。")
    make_article("会员积分规则", "积分可以抵扣运费。")
    assert ids(kb.search("发票"))[:2] == [in_title.pk, body_only.pk]
    assert ids(kb.search("怎么开发票"))[0] == in_title.pk


@pytest.mark.django_db
def test_other_phrasings_are_searched():
    article = make_article(
        "修改收货地址", "在订单详情页修改。", alternatives="寄错地方了\n地址写错了"
    )
    make_article("收货时间", "下单后两天内送达。")
    assert ids(kb.search("地址写错了怎么办"))[0] == article.pk


@pytest.mark.django_db
def test_reader_language_ranks_first_and_scripts_are_one_family():
    en = make_article("Refund policy", "Refund within 7 days. 退款", language="en")
    hant = make_article("退款政策", "七天內退款。", language="zh-hant")
    assert ids(kb.search("退款", language="zh-hans")) == [hant.pk, en.pk]
    assert ids(kb.search("退款", language="en")) == [en.pk, hant.pk]


@pytest.mark.django_db
def test_hits_carry_title_score_and_a_highlighted_escaped_snippet():
    article = make_article("退款<说明>", "前言。" * 80 + "申请退款后，钱款 <b>原路</b> 退回。")
    (hit,) = kb.search("退款")
    assert hit.article_id == article.pk and hit.title == "退款<说明>" and hit.score > 0
    assert "<mark>退款</mark>" in hit.snippet
    assert "&lt;b&gt;原路&lt;/b&gt;" in hit.snippet and "<b>" not in hit.snippet
    assert hit.snippet.startswith("…")  # the window moved to the match


@pytest.mark.django_db
def test_snippet_marks_traditional_and_stemmed_words():
    make_article("退貨須知", "申請退貨前請保留包裝。", language="zh-hant")
    make_article("Refunds", "Refunds for closed orders.", language="en")
    assert "<mark>退貨</mark>" in kb.search("退货", language="zh-hant")[0].snippet
    assert "<mark>Refunds</mark>" in kb.search("refund", language="en")[0].snippet


def test_snippets_do_not_mark_stop_words_or_lone_characters():
    text = "请在订单页面申请退款，退款的钱会原路退回。我的订单"
    marked = kb.snippet(text, kb.highlight_needles([["请"], ["我"], ["的"], ["退款"], ["怎么"]]))
    assert marked.count("<mark>退款</mark>") == 2
    assert "<mark>请</mark>" not in marked and "<mark>的</mark>" not in marked
    assert "<mark>我</mark>" not in marked
    # A query of nothing but such words still marks them.
    assert "<mark>退</mark>" in kb.snippet(text, kb.highlight_needles([["退"]]))
    assert "<mark>how</mark>" in kb.snippet("how to pay", kb.highlight_needles([["how"]]))


@pytest.mark.django_db
def test_faq_phrasings_are_matched_one_by_one():
    faq = make_article(
        "Card arrival",
        alternatives="When will my new card arrive?\nMy card still has not come",
        language="en",
    )
    other = make_article(
        "Card delivery fees",
        "Delivery of a new card is free. Express delivery costs 5 euros; the card "
        "usually arrives in a week, and the new card needs activation once it arrives.",
        language="en",
    )
    entries = SearchEntry.objects.filter(article=faq).order_by("phrasing")
    assert [e.phrasing for e in entries] == [0, 1, 2, 3]
    assert entries[2].title_tokens == "when will my new card arrive"
    # One hit per article, the best of its entries.
    assert ids(kb.search("when does my new card arrive", language="en")) == [faq.pk, other.pk]
    faq.alternatives = ""
    faq.save()
    kb.index_article(faq)
    assert SearchEntry.objects.filter(article=faq).count() == 1


@pytest.mark.django_db
def test_large_index_ranks_within_the_candidate_budget(monkeypatch):
    """Past the budget the planner drops terms in most entries and narrows the rest; the
    entries BM25 puts first still come first, and vague queries still answer."""
    monkeypatch.setattr(kb, "CANDIDATE_BUDGET", 4)
    filler = [make_article(f"我的订单问题 {i}", "我想问一下订单的事情。") for i in range(8)]
    rare = make_article("我的发票怎么开", "在订单页面申请发票。")
    both = make_article("发票抬头和税号", "我的订单开发票时填写税号。")
    hits = ids(kb.search("我的订单怎么开发票"))
    assert set(hits[:2]) == {rare.pk, both.pk}
    # Only common words: every one of them must occur, then titles, then the newest entries.
    vague = ids(kb.search("我的订单", limit=3))
    assert len(vague) == 3 and set(vague) <= {a.pk for a in filler} | {rare.pk, both.pk}
    assert ids(kb.search("xyzzy plugh")) == []
    # A new term is found at once, whatever counts were remembered.
    fresh = make_article("xyzzy 设备", "说明。")
    assert ids(kb.search("xyzzy 订单"))[0] == fresh.pk


@pytest.mark.django_db
def test_postgres_estimates_common_words_from_its_statistics(monkeypatch):
    """On PostgreSQL the planner takes a common word's count from ANALYZE's most common
    lexemes instead of reading its posting list; rare words, phrases and combinations are
    still counted, and the results are those of exact counts."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL statistics")
    monkeypatch.setattr(kb, "CANDIDATE_BUDGET", 4)
    monkeypatch.setattr(kb, "_lexemes", None)
    filler = [make_article(f"我的订单问题 {i}", "我想问一下订单的事情。") for i in range(30)]
    rare = make_article("我的发票怎么开", "在订单页面申请发票。")
    kb.reindex()  # ends with ANALYZE
    kb.forget_counts()
    monkeypatch.setattr(kb, "_lexemes", None)
    shares, _ordered = kb._common_lexemes()
    assert shares, "ANALYZE recorded the most common lexemes"
    common = kb._common_estimate(kb._POSTGRES.phrase(["订单"], prefix=False))
    assert common is not None and common >= 30
    assert kb._common_estimate(kb._POSTGRES.phrase(["xyzzy"], prefix=False)) is None
    assert kb._common_estimate(kb._POSTGRES.phrase(["我", "的"], prefix=False)) is None
    assert kb._common_estimate("(订单) & (发票)") is None
    assert kb._common_estimate(kb._POSTGRES.phrase(["订"], prefix=True)) is not None
    estimated = ids(kb.search("我的订单怎么开发票"))
    monkeypatch.setattr(kb, "_common_estimate", lambda expression: None)
    kb.forget_counts()
    assert ids(kb.search("我的订单怎么开发票")) == estimated
    assert estimated[0] == rare.pk
    assert len(ids(kb.search("我的订单", limit=3))) == 3 and filler


def test_combined_counts_are_estimated_as_independent_words():
    """PostgreSQL estimates how many entries hold several words from each word's count; the
    estimate that errs high doubles per further word, and neither exceeds the rarest count."""
    a, b = kb._Term("(a)", 100), kb._Term("(b)", 50)
    assert kb._together(kb._POSTGRES, [a, b], 1000, high=False) == 5
    assert kb._together(kb._POSTGRES, [a, b], 1000, high=True) == 10
    assert kb._together(kb._POSTGRES, [a, b, kb._Term("(c)", 1000)], 1000, high=True) == 20
    assert kb._together(kb._POSTGRES, [a, kb._Term("(b)", 900)], 1000, high=True) == 100
    assert kb._together(kb._POSTGRES, [a], 1000, high=False) == 100


@pytest.mark.django_db
def test_an_estimate_that_finds_too_few_falls_back_to_fewer_words(monkeypatch):
    """Words that never occur together look, by their counts alone, as if a few entries held
    both: ranking that finds nothing then ranks the plan keeping one word less."""
    monkeypatch.setattr(kb, "CANDIDATE_BUDGET", 4)
    alphas = {make_article(f"alpha guide {i}", "Read this.", language="en").pk for i in range(10)}
    bravos = {make_article(f"bravo guide {i}", "Read this.", language="en").pk for i in range(10)}
    for i in range(20):
        make_article(f"charlie note {i}", "Nothing else.", language="en")
    found = ids(kb.search("alpha bravo", limit=1))
    assert len(found) == 1 and found[0] in alphas | bravos


@pytest.mark.django_db
def test_sqlite_prefix_counts_come_from_the_vocabulary():
    """One-character prefixes have posting lists of their own and a prefix's count is the sum of its
    words' counts (kb/0007): an upper bound, exact when no entry holds two of the words."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite index")
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'kb_search_fts'")
        assert "prefix='1'" in cursor.fetchone()[0]
    passport = make_article("Passport check", "Bring it along.", language="en")
    password = make_article("Password reset", "Reset it here.", language="en")
    both = make_article("Passport and password", "Both of them.", language="en")
    for i in range(6):  # 9 entries: the sum (4) is not above half the index
        make_article(f"Other note {i}", "Nothing else.", language="en")
    backend = kb._SQLITE
    # "passport" and "password" are in 2 entries each; "pass"* in 3, summed as 4.
    assert backend.count('"pass"*', 100) == 4
    assert backend.count('"pass"*', 3) == 3
    assert backend.count('"passw"*', 100) == 2
    assert backend.count('"zz"*', 100) == 0
    assert set(ids(kb.suggest("pass"))) == {passport.pk, password.pk, both.pk}
    assert ids(kb.suggest("check pa"))[0] == passport.pk
    assert set(ids(kb.suggest("p"))) == {passport.pk, password.pk, both.pk}


@pytest.mark.django_db
def test_postgres_search_index_has_no_pending_list():
    """Every search would read GIN's pending list of recent writes first (kb/0006)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL index")

    def options() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reloptions FROM pg_class WHERE relname = 'kb_searchentry_vector'"
            )
            return list(cursor.fetchone()[0])

    assert "fastupdate=off" in options()
    # A whole reindex lets the index batch its writes meanwhile, then goes back.
    article = make_article("发票抬头", "可以修改。")
    with kb.bulk_writes():
        assert "fastupdate=on" in options()
        kb.index_article(article)
    assert "fastupdate=off" in options()
    assert kb.reindex() == 1
    assert "fastupdate=off" in options()
    assert ids(kb.search("发票")) == [article.pk]


@pytest.mark.django_db
def test_suggest_matches_the_last_token_as_a_prefix():
    article = make_article(
        "Password reset", "Reset your password from the login page.", language="en"
    )
    assert ids(kb.suggest("passw")) == [article.pk]
    assert ids(kb.suggest("how to reset pass")) == [article.pk]
    assert kb.suggest("zzzz") == []


@pytest.mark.django_db
def test_suggest_waits_for_a_second_letter_after_other_words():
    article = make_article("Password reset", "Reset your password.", language="en")
    # A lone last letter is a word only begun: the words before it make the suggestions.
    assert ids(kb.suggest("reset x")) == [article.pk]
    assert ids(kb.suggest("reset p")) == [article.pk]
    # On its own it is still a prefix, as is a Chinese character after other words.
    assert ids(kb.suggest("p")) == [article.pk]
    assert kb.suggest("x") == []
    refund = make_article("退款政策", "七天退款。")
    assert ids(kb.suggest("政策 退")) == [refund.pk]


# Permissions ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_internal_and_unpublished_articles_stay_out_of_public_search():
    public = make_article("退款政策", "七天退款。")
    internal = make_article("退款内部流程", "客服退款审批。", internal=True)
    hidden_category = Category.objects.create(slug="ops", name="运营", internal=True)
    in_internal_category = make_article("退款对账", "财务退款。", category=hidden_category)
    draft = make_article("退款草稿", "未发布的退款说明。", status=Article.Status.DRAFT)
    archived = make_article("旧退款政策", "已下线。", status=Article.Status.ARCHIVED)
    assert ids(kb.search("退款")) == [public.pk]
    agent_view = set(ids(kb.search("退款", public_only=False)))
    assert agent_view == {public.pk, internal.pk, in_internal_category.pk}
    assert draft.pk not in agent_view and archived.pk not in agent_view
    assert ids(kb.suggest("退")) == [public.pk]


@pytest.mark.django_db
def test_index_follows_publish_and_unpublish_events():
    article = make_article("发票抬头", "可以修改。", status=Article.Status.DRAFT)
    assert kb.search("发票") == []
    Article.objects.filter(pk=article.pk).update(status=Article.Status.PUBLISHED)
    index_on_change(ArticleChanged(actor_id=None, article_id=article.pk, status="published"))
    assert ids(kb.search("发票")) == [article.pk]
    Article.objects.filter(pk=article.pk).update(status=Article.Status.ARCHIVED)
    index_on_change(ArticleChanged(actor_id=None, article_id=article.pk, status="archived"))
    assert kb.search("发票") == []
    assert not SearchEntry.objects.filter(article=article).exists()


@pytest.mark.django_db
def test_deleting_an_article_removes_it_from_the_index():
    article = make_article("发票抬头", "可以修改。")
    article.delete()
    assert kb.search("发票") == []


@pytest.mark.django_db
def test_reindex_rebuilds_every_published_article():
    a = make_article("发票抬头", "可以修改。", index=False)
    make_article("发票草稿", "", status=Article.Status.DRAFT, index=False)
    assert kb.reindex() == 1
    assert ids(kb.search("发票")) == [a.pk]


# Hostile input -------------------------------------------------------------------------------

HOSTILE = [
    "",
    "   ",
    '"',
    '"退款',
    "退款*",
    "*",
    "NEAR(退款 发票)",
    "title_tokens:退款",
    "body_tokens : x",
    "退款 AND OR NOT",
    "^退款",
    "(((",
    "'; DROP TABLE kb_searchentry; --",
    "a & b | !c <-> d:*",
    "\x00\x01退款",
    "🙂" * 50,
    "退款" * 5000,
    "x" * 100_000,
    " ".join(["发票"] * 3000),
]


@pytest.mark.django_db
@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_give_results_or_nothing(query):
    article = make_article("退款与发票", "NEAR 与 AND 都是普通的词。")
    for hits in (kb.search(query), kb.suggest(query), kb.search(query, public_only=False)):
        assert ids(hits) in ([], [article.pk])


@pytest.mark.django_db
def test_syntax_words_are_plain_words():
    article = make_article("NEAR field", "Use AND or OR as you like.", language="en")
    assert ids(kb.search("near")) == [article.pk]
    assert ids(kb.search('"NEAR"')) == [article.pk]


# Search log ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_log_search_and_click():
    article = make_article("发票抬头", "可以修改。")
    log_id = kb.log_search(
        " 發票 ", source=SearchLog.Source.HELP_CENTER, language="zh-hant", results=1
    )
    kb.log_click(log_id, article.pk)
    log = SearchLog.objects.get(pk=log_id)
    assert (log.query, log.normalized, log.results, log.clicked_id) == (
        "發票",
        "发票",
        1,
        article.pk,
    )
    kb.log_click(log_id, 10**9)  # an article that does not exist is ignored
    assert SearchLog.objects.get(pk=log_id).clicked_id == article.pk


# API and command -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_public_api_finds_published_public_articles_only():
    public = make_article("退款政策", "七天退款。")
    make_article("退款内部流程", "客服退款审批。", internal=True)
    response = Client().get("/api/kb/search", {"q": "退款", "lang": "zh-hans", "limit": 5})
    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["results"]] == [public.pk]
    result = body["results"][0]
    assert set(result) == {"id", "score", "title", "snippet", "language"}
    assert "<mark>退款</mark>" in result["snippet"]
    assert SearchLog.objects.get(pk=body["search_id"]).source == SearchLog.Source.API


@pytest.mark.django_db
@pytest.mark.parametrize("query", ['"', "NEAR(", "x" * 5000, ""])
def test_public_api_hostile_queries(query):
    make_article("退款政策", "七天退款。")
    response = Client().get("/api/kb/search", {"q": query})
    assert response.status_code in (200, 422)
    if response.status_code == 200:
        assert isinstance(response.json()["results"], list)


@pytest.mark.django_db
def test_public_api_is_rate_limited(settings):
    settings.KEFU_KB_SEARCH_RATE = 3
    client = Client()
    statuses = [client.get("/api/kb/search", {"q": "退款"}).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


@pytest.mark.django_db
def test_kb_command_reindex_and_search(capsys):
    article = make_article("发票抬头", "可以修改。", index=False)
    call_command("kb", "reindex")
    assert "1" in capsys.readouterr().out
    call_command("kb", "search", "發票", "--lang", "zh-hant", "--json")
    results = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in results] == [article.pk]
    call_command("kb", "search", "发票")
    assert "发票抬头" in capsys.readouterr().out
