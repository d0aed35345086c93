"""The agents' knowledge-base workspace (/kb/): who reads and who writes, the list and its
filters and search, writing, translating, versions, files and import/export."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from kefu.kb import actions
from kefu.kb.models import Article, ArticleAttachment, Category, Section
from kefu.staff.models import AgentProfile
from tests.factories import make_agent

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the search index follows articles after commit)."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


@pytest.fixture
def writer(team_x):
    user = make_agent("writer", team_x)
    user.user_permissions.add(Permission.objects.get(codename="change_article"))
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def writer_client(writer):
    client = Client(headers={"accept-language": "en"})
    client.force_login(writer)
    return client


@pytest.fixture
def reader_client(agent_x):
    client = Client(headers={"accept-language": "en"})
    client.force_login(agent_x)
    return client


@pytest.fixture
def articles(writer, commit):
    category = Category.objects.create(slug="orders", name="订单")
    published = commit(
        actions.create_article,
        actor=writer,
        title="如何申请退货",
        language="zh-hans",
        body_html="<p>七天无理由退货。</p>",
        category=category,
        status="published",
    )
    internal = commit(
        actions.create_article,
        actor=writer,
        title="退货审核内部流程",
        language="zh-hans",
        body_html="<p>主管审核退货。</p>",
        internal=True,
        status="published",
    )
    draft = commit(
        actions.create_article,
        actor=writer,
        title="以旧换新草稿",
        language="zh-hans",
        body_html="<p>还没写完的退货说明</p>",
    )
    return {"published": published, "internal": internal, "draft": draft, "category": category}


def page(response) -> str:
    return response.content.decode()


# Reading -------------------------------------------------------------------------------------


def test_readers_see_published_articles_internal_ones_too(reader_client, articles):
    html = page(reader_client.get("/kb/"))
    assert "如何申请退货" in html and "退货审核内部流程" in html
    assert "以旧换新草稿" not in html
    assert "New article" not in html and "/kb/new/" not in html
    internal = articles["internal"]
    assert "主管审核退货" in page(reader_client.get(f"/kb/{internal.pk}/"))
    assert reader_client.get(f"/kb/{articles['draft'].pk}/").status_code == 404


def test_writers_see_every_status_and_filter(writer_client, articles):
    html = page(writer_client.get("/kb/"))
    assert "以旧换新草稿" in html and "/kb/new/" in html
    drafts = page(writer_client.get("/kb/?status=draft"))
    assert "以旧换新草稿" in drafts and "如何申请退货" not in drafts
    internal = page(writer_client.get("/kb/?internal=yes"))
    assert "退货审核内部流程" in internal and "如何申请退货" not in internal
    in_category = page(writer_client.get(f"/kb/?category={articles['category'].pk}"))
    assert "如何申请退货" in in_category and "退货审核内部流程" not in in_category
    assert "如何申请退货" not in page(writer_client.get("/kb/?kind=faq"))
    assert "如何申请退货" not in page(writer_client.get("/kb/?language=en"))
    # Unknown filter values are ignored, not errors.
    assert writer_client.get("/kb/?status=x&category=abc&page=999").status_code == 200


def test_search_uses_the_index_and_finds_drafts_by_text(writer_client, reader_client, articles):
    html = page(writer_client.get("/kb/?q=退货"))
    assert "如何申请退货" in html and "退货审核内部流程" in html  # the index, internal included
    assert "以旧换新草稿" in html  # a draft is not indexed: found by its text
    assert "以旧换新草稿" not in page(reader_client.get("/kb/?q=退货"))
    fragment = writer_client.get("/kb/?q=以旧换新", headers={"HX-Request": "true"})
    assert "<html" not in page(fragment) and "以旧换新草稿" in page(fragment)


def test_list_queries_do_not_grow_with_articles(writer_client, writer, articles, commit):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        writer_client.get("/kb/")
    for n in range(12):
        article = actions.create_article(
            actor=writer, title=f"文章 {n}", language="zh-hans", tags=["t"]
        )
        actions.add_translation(article, actor=writer, language="en", title=f"Article {n}")
    with CaptureQueriesContext(connection) as many:
        writer_client.get("/kb/")
    assert len(many.captured_queries) == len(few.captured_queries)


# Who may write -------------------------------------------------------------------------------


def test_agents_without_the_permission_get_403_on_every_write(reader_client, articles):
    pk = articles["published"].pk
    version = articles["published"].versions.get().number
    attachment = actions.add_attachment(
        articles["published"], actor=None, filename="a.txt", content=b"x"
    )
    for method, url in [
        ("get", "/kb/new/"),
        ("post", "/kb/new/"),
        ("get", f"/kb/{pk}/edit/"),
        ("post", f"/kb/{pk}/edit/"),
        ("get", f"/kb/{pk}/translate/en/"),
        ("post", f"/kb/{pk}/translate/en/"),
        ("get", f"/kb/{pk}/versions/{version}/"),
        ("post", f"/kb/{pk}/versions/{version}/restore/"),
        ("post", f"/kb/{pk}/files/"),
        ("post", f"/kb/{pk}/files/{attachment.pk}/delete/"),
        ("post", f"/kb/{pk}/delete/"),
        ("get", "/kb/import/"),
        ("post", "/kb/import/"),
        ("get", "/kb/export/"),
    ]:
        assert getattr(reader_client, method)(url).status_code == 403, (method, url)
    assert Article.objects.filter(pk=pk, title="如何申请退货").exists()
    assert ArticleAttachment.objects.filter(pk=attachment.pk).exists()
    # Reading a published article's file is for every agent.
    assert reader_client.get(f"/kb/{pk}/files/{attachment.pk}/").status_code == 200


def test_supervisors_write_without_the_permission_and_customers_never_read(customer_user_factory):
    supervisor = Client()
    supervisor.force_login(make_agent("sup", role=AgentProfile.Role.SUPERVISOR))
    assert supervisor.get("/kb/new/").status_code == 200
    stranger = Client()
    stranger.force_login(customer_user_factory("cust")[0])
    assert stranger.get("/kb/").status_code == 403
    assert Client().get("/kb/").status_code == 302


def test_deleting_needs_the_delete_permission(writer, writer_client, articles):
    pk = articles["draft"].pk
    assert writer_client.post(f"/kb/{pk}/delete/").status_code == 403
    writer.user_permissions.add(Permission.objects.get(codename="delete_article"))
    client = Client(headers={"accept-language": "en"})
    client.force_login(type(writer).objects.get(pk=writer.pk))
    assert client.post(f"/kb/{pk}/delete/").status_code == 302
    assert not Article.objects.filter(pk=pk).exists()


# Writing -------------------------------------------------------------------------------------


def test_create_a_draft_then_publish_it(writer, writer_client, commit):
    category = Category.objects.create(slug="c", name="配送")
    section = Section.objects.create(category=category, slug="s", name="运费")
    response = commit(
        writer_client.post,
        "/kb/new/",
        {
            "title": "运费怎么算",
            "body_html": "<h2>运费</h2><p>满99元<b>包邮</b>。</p>",
            "kind": "faq",
            "alternatives": "邮费多少\n包邮吗",
            "place": f"s{section.pk}",
            "tags": "运费，包邮",
            "language": "zh-hans",
            "then": "draft",
        },
    )
    article = Article.objects.get(title="运费怎么算")
    assert response.status_code == 302 and response["Location"] == f"/kb/{article.pk}/edit/"
    assert article.status == "draft" and article.author == writer and article.kind == "faq"
    assert article.group.category == category and article.group.section == section
    assert sorted(article.tags.values_list("name", flat=True)) == ["包邮", "运费"]
    assert article.alternative_list == ["邮费多少", "包邮吗"]
    assert not article.search_entries.exists()
    version = article.versions.get().number
    commit(
        writer_client.post,
        f"/kb/{article.pk}/edit/",
        {
            "title": "运费怎么算",
            "body_html": article.body_html,
            "kind": "faq",
            "alternatives": article.alternatives,
            "place": f"s{section.pk}",
            "tags": "运费, 包邮",
            "base_version": version,
            "then": "published",
        },
    )
    article.refresh_from_db()
    assert article.status == "published" and article.search_entries.exists()
    assert [v.status for v in article.versions.order_by("number")] == ["draft", "published"]
    editor = page(writer_client.get(f"/kb/{article.pk}/edit/"))
    assert "v2" in editor and "Save and publish" not in editor


def test_edit_moves_the_article_and_makes_it_internal(writer_client, articles):
    article = articles["published"]
    response = writer_client.post(
        f"/kb/{article.pk}/edit/",
        {
            "title": "如何申请退货",
            "body_html": article.body_html,
            "kind": "article",
            "internal": "on",
        },
    )
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.group.internal and article.group.category is None
    assert article.versions.count() == 1  # content unchanged: no new version


def test_a_stale_editor_does_not_overwrite_a_newer_version(writer, writer_client, articles):
    article = articles["draft"]
    actions.update_article(article, actor=writer, title="别人改过的标题")
    response = writer_client.post(
        f"/kb/{article.pk}/edit/",
        {"title": "我的标题", "body_html": "<p>x</p>", "kind": "article", "base_version": 1},
    )
    assert response.status_code == 400 and "version 2" in page(response)
    article.refresh_from_db()
    assert article.title == "别人改过的标题"


def test_hostile_html_is_sanitized(writer_client):
    writer_client.post(
        "/kb/new/",
        {
            "title": "<script>alert(1)</script>标题",
            "body_html": '<p onclick="steal()">正文<script>alert(1)</script></p>'
            '<img src="x.png" onerror="alert(1)"><a href="javascript:alert(1)">点我</a>'
            '<iframe src="https://evil.example"></iframe><p style="position:fixed">样式</p>',
            "kind": "article",
            "language": "zh-hans",
        },
    )
    article = Article.objects.get()
    body = article.body_html
    for bad in ("<script", "onclick", "onerror", "javascript:", "<iframe", "style="):
        assert bad not in body
    assert "<p>正文</p>" in body and "点我" in body
    html = page(writer_client.get(f"/kb/{article.pk}/edit/"))
    assert "<script>alert(1)</script>标题" not in html  # the title is escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;标题" in html


def test_invalid_input_is_shown_again_with_the_error(writer_client):
    response = writer_client.post(
        "/kb/new/", {"title": " ", "body_html": "<p>留着</p>", "kind": "article", "language": "xx"}
    )
    assert response.status_code == 400
    assert "留着" in page(response) and not Article.objects.exists()
    mismatch = writer_client.post(
        "/kb/new/", {"title": "t", "kind": "article", "language": "en", "place": "s999"}
    )
    assert mismatch.status_code == 400 and not Article.objects.exists()


# Translations --------------------------------------------------------------------------------


def test_translation_is_linked_with_its_own_status(writer_client, articles):
    source = articles["published"]
    form = page(writer_client.get(f"/kb/{source.pk}/translate/zh-hant/?from={source.pk}"))
    assert "如何申請退貨" in form and "七天無理由退貨" in form  # simplified → traditional
    response = writer_client.post(
        f"/kb/{source.pk}/translate/zh-hant/",
        {"title": "如何申請退貨", "body_html": "<p>七天無理由退貨。</p>", "then": "draft"},
    )
    translated = Article.objects.get(language="zh-hant")
    assert response["Location"] == f"/kb/{translated.pk}/edit/"
    assert translated.group_id == source.group_id and translated.status == "draft"
    source.refresh_from_db()
    assert source.status == "published"
    # The language exists now: the translate page leads to it.
    again = writer_client.get(f"/kb/{source.pk}/translate/zh-hant/")
    assert again.status_code == 302 and again["Location"] == f"/kb/{translated.pk}/edit/"
    assert writer_client.get(f"/kb/{source.pk}/translate/fr/").status_code == 404
    english = page(writer_client.get(f"/kb/{source.pk}/translate/en/?from={translated.pk}"))
    assert "如何申請退貨" in english  # copied as it is, to translate by hand
    listing = page(writer_client.get("/kb/"))
    assert f"/kb/{translated.pk}/edit/" in listing and f"/kb/{source.pk}/translate/en/" in listing


# Versions ------------------------------------------------------------------------------------


def test_version_diff_and_restore(writer, writer_client, articles):
    article = articles["draft"]
    actions.update_article(article, actor=writer, body_html="<p>第一段</p><p>新的第二段</p>")
    html = page(writer_client.get(f"/kb/{article.pk}/versions/1/"))
    assert 'class="del"' in html and "还没写完的退货说明" in html
    assert 'class="ins"' in html and "新的第二段" in html
    assert writer_client.get(f"/kb/{article.pk}/versions/9/").status_code == 404
    response = writer_client.post(f"/kb/{article.pk}/versions/1/restore/")
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.body_html == "<p>还没写完的退货说明</p>"
    latest = article.versions.first()
    assert latest.number == 3 and latest.author == writer
    assert "writer" in page(writer_client.get(f"/kb/{article.pk}/edit/"))


# Files ---------------------------------------------------------------------------------------


def test_image_upload_for_the_editor(writer_client, articles):
    article = articles["draft"]
    response = writer_client.post(
        f"/kb/{article.pk}/files/",
        {"file": SimpleUploadedFile("图.png", PNG, content_type="image/png")},
        headers={"Accept": "application/json"},
    )
    data = response.json()
    assert data["image"] is True and data["url"].startswith(f"/kb/{article.pk}/files/")
    image = writer_client.get(data["url"])
    assert image["Content-Type"] == "image/png"
    # Stored with the help center's address; the editor shows the agents' one.
    writer_client.post(
        f"/kb/{article.pk}/edit/",
        {
            "title": article.title,
            "body_html": f'<p><img src="{data["url"]}"></p>',
            "kind": "article",
        },
    )
    article.refresh_from_db()
    assert "/help/files/" in article.body_html and "/kb/" not in article.body_html
    assert data["url"] in page(writer_client.get(f"/kb/{article.pk}/edit/"))


def test_upload_limits_and_disguised_files(writer_client, articles, settings):
    article = articles["draft"]
    settings.KEFU_MAX_ATTACHMENT_BYTES = 100
    big = writer_client.post(
        f"/kb/{article.pk}/files/",
        {"file": SimpleUploadedFile("big.pdf", b"x" * 101, content_type="application/pdf")},
        headers={"Accept": "application/json"},
    )
    assert big.status_code == 400 and "too large" in big.json()["error"]
    assert writer_client.post(f"/kb/{article.pk}/files/").status_code == 302  # nothing chosen
    fake = writer_client.post(
        f"/kb/{article.pk}/files/",
        {"file": SimpleUploadedFile("x.png", b"<html><script>", content_type="image/png")},
        headers={"Accept": "application/json"},
    )
    assert fake.json()["image"] is False
    served = writer_client.get(fake.json()["url"])
    assert served["Content-Type"] == "application/octet-stream"
    assert "attachment" in served["Content-Disposition"]
    svg = writer_client.post(
        f"/kb/{article.pk}/files/",
        {"file": SimpleUploadedFile("a.svg", b"<svg onload=x>", content_type="image/svg+xml")},
    )
    assert svg.status_code == 302
    assert (
        ArticleAttachment.objects.get(filename="a.svg").content_type == "application/octet-stream"
    )
    removed = ArticleAttachment.objects.get(filename="a.svg")
    writer_client.post(f"/kb/{article.pk}/files/{removed.pk}/delete/")
    assert not ArticleAttachment.objects.filter(pk=removed.pk).exists()


def test_readers_cannot_fetch_files_of_drafts(reader_client, articles):
    attachment = actions.add_attachment(
        articles["draft"], actor=None, filename="a.png", content=PNG
    )
    url = f"/kb/{articles['draft'].pk}/files/{attachment.pk}/"
    assert reader_client.get(url).status_code == 404


# Import and export ---------------------------------------------------------------------------


def test_import_errors_are_listed_and_nothing_is_imported(writer_client):
    content = (
        "question,answer,language\n好问题,好答案,zh-hans\n,没有问题,zh-hans\n坏语言,答案,klingon\n"
    )
    response = writer_client.post(
        "/kb/import/",
        {"file": SimpleUploadedFile("faq.csv", content.encode()), "language": "zh-hans"},
    )
    html = page(response)
    assert response.status_code == 400
    assert "Nothing was imported" in html
    assert '<td class="num">3</td>' in html and "the question is empty" in html
    assert '<td class="num">4</td>' in html and "klingon" in html
    assert not Article.objects.exists()
    bad_type = writer_client.post(
        "/kb/import/", {"file": SimpleUploadedFile("faq.pdf", b"%PDF"), "language": "en"}
    )
    assert bad_type.status_code == 400 and "csv" in page(bad_type)


def test_import_then_export(writer_client):
    content = (
        "问题,答案,其他问法,分类,语言,key\n"
        "怎么退款,原路退回,退钱|退款多久,售后,,k1\n"
        "How to get a refund,Back to your card,,售后,en,k1\n"
    )
    response = writer_client.post(
        "/kb/import/",
        {"file": SimpleUploadedFile("faq.csv", content.encode()), "language": "zh-hans"},
    )
    assert response.status_code == 302
    zh, en = Article.objects.get(language="zh-hans"), Article.objects.get(language="en")
    assert zh.group_id == en.group_id and zh.kind == "faq" and zh.status == "draft"
    assert zh.alternative_list == ["退钱", "退款多久"]
    exported = writer_client.get("/kb/export/?language=en")
    text = b"".join(exported.streaming_content if exported.streaming else [exported.content])
    assert "How to get a refund" in text.decode() and "怎么退款" not in text.decode()


def test_the_workspace_speaks_chinese(writer, articles):
    client = Client()  # no Accept-Language: the default, zh-hans
    client.force_login(writer)
    html = page(client.get("/kb/"))
    assert "新建文章" in html and "搜索标题、正文和问法" in html and 'href="/kb/"' in html
    editor = page(client.get(f"/kb/{articles['draft'].pk}/edit/"))
    assert "保存并发布" in editor and "添加译文" in editor
    client.post("/me/language/", {"language": "zh-hant"})
    assert "新增文章" in page(client.get("/kb/"))


def test_the_list_shows_the_version_in_the_agents_language(writer, writer_client, articles):
    actions.add_translation(
        articles["published"], actor=writer, language="en", title="How to return an item"
    )
    html = page(writer_client.get("/kb/"))  # English interface
    assert "How to return an item" in html and "如何申请退货</a>" not in html


def test_import_errors_in_the_agents_language(writer):
    client = Client()
    client.force_login(writer)
    content = "问题,答案,语言\n,没有问题,\n坏语言,答案,klingon\n"
    response = client.post(
        "/kb/import/",
        {"file": SimpleUploadedFile("faq.csv", content.encode()), "language": "zh-hans"},
    )
    html = page(response)
    assert "问题为空" in html and "未知语言 &#x27;klingon&#x27;" in html
    assert not Article.objects.exists()
