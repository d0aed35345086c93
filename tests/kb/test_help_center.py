"""The public help center: pages, language, search and suggestions, feedback, the contact form,
the sitemap, and what never reaches the public (drafts, internal articles)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from kefu.conversations.models import Conversation
from kefu.demo import ensure_kb_demo
from kefu.kb import actions
from kefu.kb.models import Article, Category, Feedback, SearchLog


@pytest.fixture
def demo(db, django_capture_on_commit_callbacks):
    """The demo knowledge base, indexed (the index follows the events sent on commit)."""
    with django_capture_on_commit_callbacks(execute=True):
        ensure_kb_demo()


@pytest.fixture
def secret(demo, django_capture_on_commit_callbacks):
    """A published internal article and a draft, both with a word no public article has."""
    with django_capture_on_commit_callbacks(execute=True):
        internal = actions.create_article(
            actor=None,
            title="内部机密退货审批口令",
            language="zh-hans",
            body_html="<p>机密口令：蓝鲸。</p>",
            internal=True,
            status="published",
        )
        draft = actions.create_article(
            actor=None,
            title="草稿机密退货说明",
            language="zh-hans",
            body_html="<p>机密草稿。</p>",
        )
    return internal, draft


def url(article: Article) -> str:
    return reverse("kb:help_article", kwargs={"pk": article.pk, "slug": article.slug})


def returns_article() -> Article:
    return Article.objects.get(title="如何申请退货")


def test_home_lists_categories_and_most_read(demo):
    response = Client().get("/help/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = response.content.decode()
    assert response.status_code == 200
    for name in ("订单与配送", "退货与退款", "保修与维修", "账户"):
        assert name in page
    assert "如何申请退货" in page  # the most read article
    assert "退款审批内部流程" not in page
    assert "Content-Security-Policy" in response.headers
    assert 'hreflang="en"' in page


def test_reader_language_picks_the_translation(demo):
    page = Client().get("/help/?lang=zh-hant").content.decode()
    assert "退款多久到帳？" in page and "退款多久到账？" not in page
    assert "退貨與退款" in page  # the category's traditional name
    assert "如何申请退货" in page  # no traditional version: the simplified one is listed
    english = Client().get("/help/?lang=en").content.decode()
    assert "When will I get my refund?" in english


def test_article_page(demo):
    article = Article.objects.get(title="退款多久到账？")
    client = Client()
    response = client.get(url(article))
    page = response.content.decode()
    assert response.status_code == 200
    assert "<strong>1–3 个工作日</strong>" in page
    assert '<meta name="description" content="仓库确认收到退货后' in page
    assert 'property="og:title" content="退款多久到账？"' in page
    assert page.count('rel="alternate" hreflang=') == 3
    assert "退款多久到帳？" not in page or "hreflang" in page
    assert "换货流程" in page  # related: same category
    article.refresh_from_db()
    assert article.views == 356 + 1
    # ?lang= switches to the translation when there is one
    translated = Article.objects.get(group=article.group, language="en")
    assert client.get(url(article) + "?lang=en").url == url(translated)
    # a wrong slug is redirected to the canonical address
    wrong = reverse("kb:help_article", kwargs={"pk": article.pk, "slug": "x"})
    assert client.get(wrong).status_code == 301


def test_drafts_and_internal_articles_never_public(secret):
    internal, draft = secret
    client = Client()
    for article in (internal, draft):
        assert client.get(url(article)).status_code == 404
    assert "机密" not in client.get("/help/").content.decode()
    search = client.get("/help/search", {"q": "机密退货"}).content.decode()
    assert "内部机密" not in search and "草稿机密" not in search
    suggest = client.get("/help/suggest", {"q": "机密"}).json()
    assert suggest == {"articles": []}
    sitemap = client.get("/sitemap.xml").content.decode()
    assert f"/help/a/{internal.pk}/" not in sitemap and f"/help/a/{draft.pk}/" not in sitemap
    category = Category.objects.get(slug="returns")
    assert "退款审批内部流程" not in client.get(f"/help/c/{category.slug}/").content.decode()


def test_internal_category_is_not_public(demo):
    category = Category.objects.get(slug="account")
    category.internal = True
    category.save()
    client = Client()
    article = Article.objects.get(title="如何开具发票")
    assert client.get(url(article)).status_code == 404
    assert client.get("/help/c/account/").status_code == 404
    assert "如何开具发票" not in client.get("/help/search", {"q": "开发票"}).content.decode()


def test_traditional_search_finds_the_simplified_returns_article(demo):
    client = Client()
    response = client.get("/help/search", {"q": "怎麼退貨", "lang": "zh-hant"})
    page = response.content.decode()
    assert response.status_code == 200
    first = page.index('class="hc-result-title"')
    assert "如何申请退货" in page[first : first + 300]
    log = SearchLog.objects.get()
    assert (log.query, log.source, log.results > 0) == ("怎麼退貨", "help", True)
    # the result link carries the log id: opening it records the click
    article = returns_article()
    client.get(url(article), {"s": log.pk})
    log.refresh_from_db()
    assert log.clicked_id == article.pk


def test_suggestions_as_you_type(demo):
    data = Client().get("/help/suggest", {"q": "退款多", "lang": "zh-hans"}).json()
    assert data["articles"][0]["title"] == "退款多久到账？"
    assert data["articles"][0]["url"].startswith("/help/a/")


@pytest.mark.parametrize(
    "query",
    [
        "x" * 5000,
        '"',
        '"退货',
        "*",
        "退货*",
        "NEAR",
        "退货 NEAR 退款",
        ":",
        "title:退货",
        "(",
        "')--",
    ],
)
def test_hostile_queries_give_a_page(demo, query):
    client = Client()
    assert client.get("/help/search", {"q": query}).status_code == 200
    assert client.get("/help/suggest", {"q": query}).status_code == 200


def test_feedback_with_a_comment(demo):
    article = returns_article()
    client = Client()
    response = client.post(
        reverse("kb:help_feedback", kwargs={"pk": article.pk}),
        {"helpful": "no"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "What was missing" in page or "缺少" in page
    token = page.split("/help/feedback/comment/")[1].split("/")[0]
    client.post(f"/help/feedback/comment/{token}/", {"comment": "没有说运费险怎么理赔"})
    vote = Feedback.objects.get()
    assert (vote.helpful, vote.comment) == (False, "没有说运费险怎么理赔")
    article.refresh_from_db()
    assert (article.helpful_yes, article.helpful_no) == (0, 1)
    assert client.post(f"/help/feedback/{article.pk}/", {"helpful": "maybe"}).status_code == 400
    assert client.post("/help/feedback/comment/forged/", {"comment": "x"}).status_code == 404


def test_contact_form_opens_a_conversation(demo):
    client = Client()
    assert client.get("/help/contact/?q=怎麼退貨").status_code == 200
    response = client.post(
        "/help/contact/",
        {"name": "王芳", "email": "wang.fang@example.cn", "subject": "", "message": "洗衣机漏水"},
    )
    assert response.status_code == 200
    conversation = Conversation.objects.get()
    assert (conversation.channel, conversation.subject) == ("web", "洗衣机漏水")
    assert conversation.customer.name == "王芳"
    assert conversation.messages.get().body_text == "洗衣机漏水"


def test_contact_form_honeypot_and_rate_limit(demo):
    client = Client()
    data = {"email": "bot@example.com", "message": "buy now", "website": "http://spam"}
    assert client.post("/help/contact/", data).status_code == 200
    assert not Conversation.objects.exists()
    data["website"] = ""
    for _ in range(5):
        client.post("/help/contact/", data)
    assert Conversation.objects.count() == 5
    response = client.post("/help/contact/", data)
    assert Conversation.objects.count() == 5
    assert response.status_code == 200
    # a missing email is shown on the form, not an error
    assert client.post("/help/contact/", {"message": "hi"}).status_code == 200


def test_sitemap(demo):
    response = Client().get("/sitemap.xml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    body = response.content.decode()
    public = Article.objects.filter(status="published", group__internal=False)
    assert body.count("<url>") == public.count() + 1 + Category.objects.count()
    assert url(returns_article()) in body or "/help/a/" in body


def test_widget_and_acknowledgment_hooks(demo, settings):
    from kefu.core.answers import confident_answers
    from kefu.livechat.models import Widget
    from kefu.livechat.suggest import suggest

    widget = Widget.objects.create(name="shop")
    found = suggest(widget, "退款多久", "zh-hans")
    assert found and found[0]["title"] == "退款多久到账？"
    refund = Article.objects.get(title="退款多久到账？")
    assert found[0]["url"] == f"{settings.KEFU_BASE_URL}/help/a/{refund.pk}/退款多久到账/"
    assert "退款审批内部流程" not in json.dumps(suggest(widget, "退款审批", "zh-hans"))
    answers = confident_answers("你好，请问怎么退货？买的吸尘器不想要了", "zh-hans")
    assert answers and answers[0]["title"] == "如何申请退货"
    assert confident_answers("你们周末上班吗", "zh-hans") == []


def test_robots_txt_opens_the_help_center_only():
    response = Client().get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    lines = response.content.decode().splitlines()
    assert "Allow: /help/" in lines and "Disallow: /" in lines
    assert "Sitemap: http://testserver/sitemap.xml" in lines
