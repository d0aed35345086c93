"""Knowledge-base actions (versions, restore, translations, status, attachments, feedback),
their events, the admin going through them, the agents' suggestions beside a conversation,
the gap report and the acknowledgment email's article links."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from kefu.conversations import actions as conv
from kefu.core.errors import ActionError
from kefu.core.events import ArticleChanged, listen
from kefu.demo import ensure_kb_demo
from kefu.kb import actions
from kefu.kb.models import Article, ArticleGroup, Category, SearchEntry, SearchLog, Section
from kefu.staff.models import AgentProfile
from tests.factories import make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def events():
    seen: list[ArticleChanged] = []

    @listen(ArticleChanged)
    def collect(event: ArticleChanged) -> None:
        seen.append(event)

    yield seen
    from kefu.core import events as core_events

    core_events._listeners[ArticleChanged].remove(collect)


@pytest.fixture
def demo(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ensure_kb_demo()


def test_create_sanitizes_and_keeps_version_one(
    agent_x, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        article = actions.create_article(
            actor=agent_x,
            title="  如何申请退货 ",
            language="zh-hans",
            body_html='<p onclick="x()">七天<script>alert(1)</script>退货</p>'
            '<img src="javascript:x">',
            alternatives="怎么退货\n\n退货流程\n怎么退货",
            tags=["退货", "Returns "],
        )
    assert article.title == "如何申请退货" and article.slug == "如何申请退货"
    assert article.body_html == "<p>七天退货</p><img>"
    assert article.body_text == "七天退货"
    assert article.alternative_list == ["怎么退货", "退货流程"]
    assert sorted(article.tags.values_list("name", flat=True)) == ["returns", "退货"]
    version = article.versions.get()
    assert (version.number, version.author, version.status) == (1, agent_x, "draft")
    assert [(e.article_id, e.status, e.actor_id) for e in events] == [
        (article.pk, "draft", agent_x.pk)
    ]


def test_slugs_are_unique_per_language(agent_x):
    first = actions.create_article(actor=agent_x, title="Returns", language="en")
    second = actions.create_article(actor=agent_x, title="Returns!", language="en")
    other = actions.create_article(actor=agent_x, title="Returns", language="zh-hans")
    assert (first.slug, second.slug, other.slug) == ("returns", "returns-2", "returns")
    assert actions.create_article(actor=agent_x, title="？？", language="en").slug == "article"


def test_every_change_is_a_version_and_restore_brings_one_back(agent_x, agent_y):
    article = actions.create_article(
        actor=agent_x, title="退款", language="zh-hans", body_html="<p>一</p>"
    )
    actions.update_article(article, actor=agent_y, body_html="<p>二</p>")
    actions.update_article(article, actor=agent_y, body_html="<p>二</p>")  # no change: no version
    actions.publish(article, actor=agent_x)
    article = actions.update_article(
        article, actor=agent_y, title="退款多久到账", body_html="<p>三</p>"
    )
    assert list(article.versions.values_list("number", "status")) == [
        (4, "published"), (3, "published"), (2, "draft"), (1, "draft"),
    ]  # fmt: skip
    article.refresh_from_db()
    assert article.published_at is not None
    restored = actions.restore_version(article, 1, actor=agent_y)
    assert (restored.title, restored.body_html, restored.status) == (
        "退款",
        "<p>一</p>",
        "published",
    )
    newest = restored.versions.first()
    assert (newest.number, newest.author) == (5, agent_y)
    with pytest.raises(ActionError):
        actions.restore_version(article, 99, actor=agent_y)


def test_translations_share_the_group_and_have_their_own_status(agent_x):
    source = actions.create_article(
        actor=agent_x, title="如何申请退货", language="zh-hans", status="published"
    )
    english = actions.add_translation(
        source, actor=agent_x, language="en", title="How to return an item"
    )
    assert english.group_id == source.group_id
    assert (english.status, source.status) == ("draft", "published")
    with pytest.raises(ActionError, match="already has"):
        actions.add_translation(source, actor=agent_x, language="en", title="Again")
    with pytest.raises(ActionError, match="unknown language"):
        actions.add_translation(source, actor=agent_x, language="fr", title="Retour")
    actions.archive(english, actor=agent_x)
    english.refresh_from_db()
    source.refresh_from_db()
    assert (english.status, source.status) == ("archived", "published")


def test_place_and_delete(agent_x, events, django_capture_on_commit_callbacks):
    category = Category.objects.create(slug="c", name="C")
    other = Category.objects.create(slug="d", name="D")
    section = Section.objects.create(category=category, slug="s", name="S")
    with pytest.raises(ActionError, match="another category"):
        actions.create_article(
            actor=agent_x, title="x", language="en", category=other, section=section
        )
    with django_capture_on_commit_callbacks(execute=True):
        article = actions.create_article(actor=agent_x, title="x", language="en", section=section)
        actions.add_translation(article, actor=agent_x, language="zh-hans", title="乙")
    assert article.group.category == category
    events.clear()
    with django_capture_on_commit_callbacks(execute=True):
        actions.place(article.group, actor=agent_x, category=other, internal=True)
    assert len(events) == 2
    group_id = article.group_id
    with django_capture_on_commit_callbacks(execute=True):
        actions.delete_article(article, actor=agent_x)
    assert events[-1].status == "deleted"
    assert ArticleGroup.objects.filter(pk=group_id).exists()  # the translation is left
    actions.delete_article(Article.objects.get(group_id=group_id), actor=agent_x)
    assert not ArticleGroup.objects.filter(pk=group_id).exists()


def test_attachments_are_size_limited(agent_x, settings):
    settings.KEFU_MAX_ATTACHMENT_BYTES = 10
    article = actions.create_article(actor=agent_x, title="x", language="en")
    attachment = actions.add_attachment(
        article, actor=agent_x, filename="../a.png", content=b"png", content_type="image/png"
    )
    assert (attachment.filename, attachment.size) == (".._a.png", 3)
    with pytest.raises(ActionError, match="limit"):
        actions.add_attachment(article, actor=agent_x, filename="big.bin", content=b"x" * 11)
    actions.remove_attachment(attachment, actor=agent_x)
    assert not article.attachments.exists()


def test_views_and_feedback_counters(agent_x):
    article = actions.create_article(actor=agent_x, title="x", language="en", status="published")
    actions.record_view(article)
    actions.record_view(article)
    actions.give_feedback(article, helpful=True)
    vote = actions.give_feedback(article, helpful=False, comment="x" * 5000)
    article.refresh_from_db()
    assert (article.views, article.helpful_yes, article.helpful_no) == (2, 1, 1)
    assert len(vote.comment) == 2000
    assert article.versions.count() == 1  # reading is not editing


def test_search_index_follows_status(agent_x, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        article = actions.create_article(actor=agent_x, title="退货", language="zh-hans")
    assert not SearchEntry.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        actions.publish(article, actor=agent_x)
    assert SearchEntry.objects.get().public
    with django_capture_on_commit_callbacks(execute=True):
        actions.place(article.group, actor=agent_x, category=None, internal=True)
    assert not SearchEntry.objects.get().public
    with django_capture_on_commit_callbacks(execute=True):
        actions.archive(article, actor=agent_x)
    assert not SearchEntry.objects.exists()


def test_admin_writes_through_the_actions(admin_user):
    client = Client()
    client.force_login(admin_user)
    category = Category.objects.create(slug="returns", name="退货与退款")
    data = {
        "title": "如何申请退货",
        "language": "zh-hans",
        "kind": "article",
        "status": "published",
        "body_html": "<p>七天<script>x</script>无理由</p>",
        "alternatives": "怎么退货",
        "slug": "",
        "category": category.pk,
        "tag_names": "退货, 售后",
        **{f"{p}-{k}": v for p in ("attachments", "versions")
           for k, v in {"TOTAL_FORMS": "0", "INITIAL_FORMS": "0"}.items()},
    }  # fmt: skip
    response = client.post("/admin/kb/article/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    article = Article.objects.get()
    assert article.body_html == "<p>七天无理由</p>"
    assert (article.status, article.group.category, article.versions.count()) == (
        "published", category, 1,
    )  # fmt: skip
    data["body_html"] = "<p>十五天</p>"
    data["versions-TOTAL_FORMS"] = data["versions-INITIAL_FORMS"] = "1"
    data["versions-0-id"] = str(article.versions.get().pk)
    data["versions-0-article"] = str(article.pk)
    data["slug"] = article.slug
    response = client.post(f"/admin/kb/article/{article.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert article.versions.count() == 2
    assert client.get(f"/admin/kb/article/{article.pk}/change/").status_code == 200
    assert client.get(f"/admin/kb/article/{article.pk}/restore/1/").status_code == 200
    client.post(f"/admin/kb/article/{article.pk}/restore/1/")
    article.refresh_from_db()
    assert article.body_html == "<p>七天无理由</p>" and article.versions.count() == 3
    # English version through "translation of"
    english = {**data, "title": "Returns", "language": "en", "translation_of": article.pk}
    english.update({"versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"})
    assert client.post("/admin/kb/article/add/", english).status_code == 302
    assert Article.objects.get(language="en").group_id == article.group_id


def test_agent_suggestions_beside_a_conversation(demo, agent_x, agent_y, team_x, customer):
    conversation = conv.open_conversation(
        customer=customer,
        channel="email",
        subject="退货问题",
        body_text="你好，我上周买的吸尘器想退货，怎么退货？",
        team=team_x,
    )
    client = Client()
    client.force_login(agent_x)
    page = client.get(f"/c/{conversation.pk}/kb/").content.decode()
    first = page.index('class="kb-s-title"')
    assert "如何申请退货" in page[first : first + 400]
    assert "data-kb-insert" in page and "/help/a/" in page
    # agents also find internal articles, marked as such, without a link to insert
    page = client.get(f"/c/{conversation.pk}/kb/", {"q": "退款审批"}).content.decode()
    assert "退款审批内部流程" in page and 'class="badge note"' in page
    other = Client()
    other.force_login(agent_y)
    assert other.get(f"/c/{conversation.pk}/kb/").status_code == 404
    # the conversation page asks for the panel by URL
    assert (
        f'hx-get="/c/{conversation.pk}/kb/"'
        in client.get(f"/c/{conversation.pk}/").content.decode()
    )


def test_gap_report(agent_x):
    from kefu.kb.search import log_click, log_search

    for _ in range(3):
        log_search("以旧换新", source="help", results=0)
    log_search("退货", source="help", results=2)
    clicked = log_search("退款", source="help", results=1)
    article = actions.create_article(actor=agent_x, title="x", language="en")
    log_click(clicked, article.pk)
    log_search("agent only", source="agent", results=0)
    client = Client()
    client.force_login(agent_x)
    # Readers' queries are for the knowledge base's writers and for supervisors only.
    assert client.get("/kb/gaps/").status_code == 403
    agent_x.user_permissions.add(Permission.objects.get(codename="change_article"))
    agent_x = type(agent_x).objects.get(pk=agent_x.pk)  # permissions are cached per object
    client.force_login(agent_x)
    page = client.get("/kb/gaps/").content.decode()
    no_result, no_click = page.split("kb-gap-table")[1], page.split("kb-gap-table")[2]
    assert "以旧换新" in no_result and ">3<" in no_result
    assert "退货" in no_click and "退款" not in no_click
    assert "agent only" not in page
    assert SearchLog.objects.count() == 6
    supervisor = Client()
    supervisor.force_login(make_agent("kb_supervisor", role=AgentProfile.Role.SUPERVISOR))
    assert supervisor.get("/kb/gaps/").status_code == 200


def test_acknowledgment_lists_confident_articles(demo, team_x):
    from kefu.mail.ingest import ingest
    from kefu.mail.models import Mailbox, OutboundEmail
    from tests.mail.builders import raw_email

    mailbox = Mailbox.objects.create(name="Support", address="support@kefu.test", team=team_x)
    ingest(raw_email(subject="怎么退货", body="买的吸尘器不想要了，怎么退货？"), mailbox=mailbox)
    ack = OutboundEmail.objects.get(kind="ack")
    assert "如何申请退货" in ack.body_text and "/help/a/" in ack.body_text
    ingest(
        raw_email(sender="b@example.cn", subject="你们周末上班吗", body="请问周末有人吗"),
        mailbox=mailbox,
    )
    quiet = OutboundEmail.objects.filter(kind="ack").order_by("pk").last()
    assert "/help/a/" not in quiet.body_text
