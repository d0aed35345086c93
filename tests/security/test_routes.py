"""Every URL route × every role → the expected status.

The table must name every route Django resolves: a new route fails
`test_every_route_is_in_the_table` until its expectations are written here. Admin and API
routes are checked by their own rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from kefu.conversations import actions
from kefu.staff.models import AgentProfile
from tests.factories import CustomerFactory, TeamFactory, UserFactory, make_agent

ROLES = ("anonymous", "customer_a", "customer_b", "agent_x", "agent_y", "admin")


@dataclass
class World:
    users: dict[str, Any]
    conv_x: Any  # customer A's conversation, in team X
    conv_x2: Any  # another team X conversation of customer A (merge target)
    customer_a: Any
    preference: Any
    message: Any
    attachment: Any
    inbound: Any
    widget: Any
    chat: Any


def build_world() -> World:
    team_x = TeamFactory(name="X", slug="x")
    team_y = TeamFactory(name="Y", slug="y")
    agent_x = make_agent("agent_x", team_x)
    agent_y = make_agent("agent_y", team_y)
    admin = make_agent("admin", role=AgentProfile.Role.ADMIN, is_staff=True, is_superuser=True)
    user_a = UserFactory(username="customer_a")
    user_b = UserFactory(username="customer_b")
    customer_a = CustomerFactory(name="A", user=user_a)
    CustomerFactory(name="B", user=user_b)
    conv_x = actions.open_conversation(
        customer=customer_a,
        channel="web",
        subject="x",
        body_text="hello",
        team=team_x,
        attachments=[actions.NewAttachment("a.txt", b"hi", "text/plain")],
    )
    conv_x2 = actions.open_conversation(
        customer=customer_a, channel="web", subject="x2", body_text="again", team=team_x
    )
    from kefu.customers.actions import set_preference

    preference = set_preference(customer_a, actor=agent_x, value="tea")
    message = conv_x.messages.get()
    from django.core.files.base import ContentFile

    from kefu.mail.models import InboundEmail

    inbound = InboundEmail(sha256="0" * 64, conversation_message=message)
    inbound.raw.save("x.eml", ContentFile(b"Subject: x\r\n\r\nhello"), save=False)
    inbound.save()
    from kefu.livechat.actions import start_chat
    from kefu.livechat.models import Visitor, Widget

    widget = Widget.objects.create(name="shop", team=team_x, allowed_origins="https://a.example")
    chat = start_chat(
        widget, Visitor.objects.create(widget=widget), email="v@example.com", text="hi"
    )
    return World(
        users={
            "anonymous": None,
            "customer_a": user_a,
            "customer_b": user_b,
            "agent_x": agent_x,
            "agent_y": agent_y,
            "admin": admin,
        },
        conv_x=conv_x,
        conv_x2=conv_x2,
        customer_a=customer_a,
        preference=preference,
        message=message,
        attachment=message.attachments.get(),
        inbound=inbound,
        widget=widget,
        chat=chat,
    )


# Expected statuses, in ROLES order.
AGENT_PAGE = (302, 403, 403, 200, 200, 200)
AGENT_ACTION = (302, 403, 403, 302, 302, 302)
TEAM_X_PAGE = (302, 403, 403, 200, 404, 200)
TEAM_X_ACTION = (302, 403, 403, 302, 404, 302)
PUBLIC = (200, 200, 200, 200, 200, 200)
CUSTOMER_PAGE = (302, 200, 200, 403, 403, 403)
OWN_CUSTOMER_PAGE = (302, 200, 404, 403, 403, 403)
OWN_CUSTOMER_ACTION = (302, 302, 404, 403, 403, 403)
KB_WRITER_PAGE = (302, 403, 403, 403, 403, 200)
KB_WRITER_ACTION = (302, 403, 403, 403, 403, 302)


def conv(w: World) -> dict[str, int]:
    return {"pk": w.conv_x.pk}


def chat(w: World) -> dict[str, int]:
    return {"pk": w.chat.conversation_id}


def key(w: World) -> dict[str, str]:
    return {"key": w.widget.site_key}


def foreign_file(w: World) -> dict[str, str]:
    """A correctly signed id of an attachment that is not in a chat: still not served."""
    from kefu.livechat.payloads import file_url

    return {"key": w.widget.site_key, "signed": file_url("k", w.attachment.pk).rsplit("/", 1)[1]}


def kb_article(w: World) -> dict[str, Any]:
    """A published public article in a category (made for the knowledge-base rows)."""
    from kefu.kb.actions import create_article
    from kefu.kb.models import Category

    category, _ = Category.objects.get_or_create(slug="returns", defaults={"name": "退货"})
    article = create_article(
        actor=None, title="如何退货", language="zh-hans", category=category, status="published"
    )
    return {"pk": article.pk, "slug": article.slug}


def kb_attachment(w: World) -> dict[str, int]:
    from kefu.kb.actions import add_attachment
    from kefu.kb.models import Article

    article = Article.objects.get(pk=kb_article(w)["pk"])
    attachment = add_attachment(article, actor=None, filename="a.txt", content=b"hi")
    return {"pk": article.pk, "attachment_id": attachment.pk}


def kb_feedback(w: World) -> dict[str, str]:
    from django.core import signing

    from kefu.kb.actions import give_feedback
    from kefu.kb.helpcenter import FEEDBACK_SALT
    from kefu.kb.models import Article

    vote = give_feedback(Article.objects.get(pk=kb_article(w)["pk"]), helpful=True)
    return {"token": signing.dumps(vote.pk, salt=FEEDBACK_SALT)}


def care_campaign(w: World) -> dict[str, int]:
    from kefu.care.models import Campaign, Segment, Template, TemplateVersion

    template, _ = Template.objects.get_or_create(name="routes")
    TemplateVersion.objects.get_or_create(
        template=template, language="", tier="", defaults={"subject": "Hi", "body_text": "Hi"}
    )
    segment, _ = Segment.objects.get_or_create(name="routes")
    campaign, _ = Campaign.objects.get_or_create(
        name="routes", defaults={"template": template, "segment": segment}
    )
    return {"pk": campaign.pk}


def care_template(w: World) -> dict[str, int]:
    from kefu.care.models import Campaign

    return {"pk": Campaign.objects.get(pk=care_campaign(w)["pk"]).template_id}


def care_delivery_token(w: World) -> dict[str, str]:
    """A signed link of a campaign email customer A received (unsubscribe / opened)."""
    from kefu.care import tokens
    from kefu.care.models import Delivery

    delivery = Delivery.objects.create(
        key=f"routes:{w.customer_a.pk}",
        kind="campaign",
        purpose="marketing",
        customer=w.customer_a,
        address="a@example.com",
    )
    return {"token": tokens.make(tokens.UNSUBSCRIBE, delivery.pk)}


def care_opened_token(w: World) -> dict[str, str]:
    from kefu.care import tokens

    pk = int(care_delivery_token(w)["token"].split(":")[0])
    return {"token": tokens.make(tokens.OPENED, pk)}


def care_survey_token(w: World) -> dict[str, str]:
    from kefu.care import tokens
    from kefu.care.models import Survey

    survey = Survey.objects.create(kind="csat", customer=w.customer_a, conversation=w.conv_x)
    return {"token": tokens.make(tokens.SURVEY, survey.pk)}


def shared_macro(w: World) -> dict[str, int]:
    from kefu.service.models import CannedReply

    macro, _ = CannedReply.objects.get_or_create(
        shortcut="thanks", owner=None, defaults={"title": "Thanks", "body": "Thank you!"}
    )
    return {"pk": macro.pk}


# The widget's endpoints answer anyone: a visitor is known by the signed token in the
# X-Kefu-Visitor header (which a cross-site form cannot send), not by a cookie; so they are
# CSRF-exempt by design and left out of the CSRF check below.
WIDGET_ENDPOINTS = {
    "livechat:session",
    "livechat:start",
    "livechat:upload",
    "livechat:offline",
    "livechat:transcript",
    # RFC 8058 one-click unsubscribe: a mail client POSTs with no cookie and no CSRF token;
    # the signed token in the URL is the authorization.
    "care:unsubscribe",
}


ROUTES: dict[str, tuple[str, Any, dict[str, Any], tuple[int, ...]]] = {
    # name: (method, kwargs builder, POST data, statuses)
    "healthz": ("GET", None, {}, PUBLIC),
    "home": ("GET", None, {}, (302, 302, 302, 302, 302, 302)),
    "login": ("GET", None, {}, (200, 302, 302, 302, 302, 302)),
    "logout": ("POST", None, {}, (302,) * 6),
    "password_reset": ("GET", None, {}, PUBLIC),
    "password_reset_done": ("GET", None, {}, PUBLIC),
    "password_reset_confirm": (
        "GET",
        lambda w: {"uidb64": "MQ", "token": "bad-token"},
        {},
        PUBLIC,
    ),
    "password_reset_complete": ("GET", None, {}, PUBLIC),
    "profile": ("GET", None, {}, AGENT_PAGE),
    # Analytics: every agent has a dashboard (scoped to their teams inside, see tests/analytics).
    "analytics:dashboard": ("GET", None, {}, AGENT_PAGE),
    "analytics:conversations": ("GET", None, {}, AGENT_PAGE),
    "analytics:export": ("GET", None, {}, AGENT_PAGE),
    "analytics:tiles": ("GET", None, {}, AGENT_PAGE),
    "set_language": ("POST", None, {"language": "en"}, AGENT_ACTION),
    "set_presence": ("POST", None, {"presence": "online"}, AGENT_ACTION),
    "inbox": ("GET", None, {}, AGENT_PAGE),
    "conversation": ("GET", conv, {}, TEAM_X_PAGE),
    "conversation_props": ("GET", conv, {}, TEAM_X_PAGE),
    "conversation_reply": ("POST", conv, {"body": "hi"}, TEAM_X_ACTION),
    "conversation_note": ("POST", conv, {"body": "note"}, TEAM_X_ACTION),
    "conversation_assign": ("POST", conv, {"assignee": "", "team": ""}, TEAM_X_ACTION),
    "conversation_status": ("POST", conv, {"status": "pending"}, TEAM_X_ACTION),
    "conversation_priority": ("POST", conv, {"priority": "high"}, TEAM_X_ACTION),
    "conversation_kind": ("POST", conv, {"kind": "complaint"}, TEAM_X_ACTION),
    "conversation_tags": ("POST", conv, {"add": "vip"}, TEAM_X_ACTION),
    "conversation_merge": (
        "POST",
        conv,
        {"target": "__conv_x2__"},
        TEAM_X_ACTION,
    ),
    # Split from the first message is refused (400) for those who may see the conversation.
    "conversation_split": ("POST", conv, {"message": "0"}, (302, 403, 403, 400, 404, 400)),
    "conversation_link": ("POST", conv, {"target": "__conv_x2__"}, TEAM_X_ACTION),
    "conversation_unlink": (  # not linked: 400
        "POST",
        lambda w: {"pk": w.conv_x.pk, "other": w.conv_x2.pk},
        {},
        (302, 403, 403, 400, 404, 400),
    ),
    # conv_x is a question, not a complaint: 400 for those who may see it.
    "complaint_acknowledge": ("POST", conv, {}, (302, 403, 403, 400, 404, 400)),
    "complaint_resolve": ("POST", conv, {"note": "x"}, (302, 403, 403, 400, 404, 400)),
    # Bulk: agent_y may not see conv_x: still 200, the summary names it as not found.
    "inbox_bulk": (
        "POST",
        None,
        {"ids": "__conv_x2__", "op": "priority", "value": "high"},
        (302, 403, 403, 200, 200, 200),
    ),
    "complaints": ("GET", None, {}, (302, 403, 403, 403, 403, 200)),
    "message_fragment": (
        "GET",
        lambda w: {"pk": w.conv_x.pk, "message_id": w.message.pk},
        {},
        TEAM_X_PAGE,
    ),
    "attachment": (
        "GET",
        lambda w: {"pk": w.conv_x.pk, "attachment_id": w.attachment.pk},
        {},
        TEAM_X_PAGE,
    ),
    "customers": ("GET", None, {}, AGENT_PAGE),
    "customer": ("GET", lambda w: {"pk": w.customer_a.pk}, {}, AGENT_PAGE),
    "preference_add": (
        "POST",
        lambda w: {"pk": w.customer_a.pk},
        {"value": "calls after 18:00"},
        AGENT_ACTION,
    ),
    "preference_edit": (
        "GET",
        lambda w: {"pk": w.customer_a.pk, "pref_pk": w.preference.pk},
        {},
        AGENT_PAGE,
    ),
    "preference_delete": (
        "POST",
        lambda w: {"pk": w.customer_a.pk, "pref_pk": w.preference.pk},
        {},
        AGENT_ACTION,
    ),
    "customer_note_add": (
        "POST",
        lambda w: {"pk": w.customer_a.pk},
        {"body": "a note"},
        AGENT_ACTION,
    ),
    "customer_tier": ("POST", lambda w: {"pk": w.customer_a.pk}, {"tier": "vip"}, AGENT_ACTION),
    "mail_raw": ("GET", lambda w: {"pk": w.inbound.pk}, {}, TEAM_X_PAGE),
    "portal": ("GET", None, {}, CUSTOMER_PAGE),
    "portal_conversation": ("GET", conv, {}, OWN_CUSTOMER_PAGE),
    "portal_reply": ("POST", conv, {"body": "thanks"}, OWN_CUSTOMER_ACTION),
    "livechat:embed": ("GET", None, {}, PUBLIC),
    "livechat:frame": ("GET", key, {}, PUBLIC),
    "livechat:sample": ("GET", key, {}, PUBLIC),
    "livechat:session": ("POST", key, {}, PUBLIC),
    "livechat:start": ("POST", key, {"text": "hi"}, (401,) * 6),
    "livechat:upload": ("POST", key, {}, (401,) * 6),
    "livechat:offline": ("POST", key, {"text": "hi"}, (400,) * 6),
    "livechat:transcript": ("POST", key, {"email": "a@example.com"}, (401,) * 6),
    "livechat:file": ("GET", foreign_file, {}, (404,) * 6),
    "livechat:chats": ("GET", None, {}, AGENT_PAGE),
    "livechat:suggest": ("GET", key, {}, PUBLIC),
    "livechat:panel": ("GET", chat, {}, TEAM_X_PAGE),
    "livechat:transfer": ("POST", chat, {"to": ""}, (302, 403, 403, 400, 404, 400)),
    "livechat:invite": ("POST", chat, {"agent": ""}, (302, 403, 403, 404, 404, 404)),
    "livechat:end": ("POST", chat, {}, TEAM_X_ACTION),
    "livechat:read": ("POST", chat, {"id": "1"}, (302, 403, 403, 204, 404, 204)),
    "canned_replies": ("GET", None, {}, AGENT_PAGE),
    # Macros: any agent uses a shared one on a conversation they see; only supervisors and
    # admins edit shared ones (agents manage their own).
    "canned_use": ("POST", shared_macro, {"conversation": "__conv_x2__"}, TEAM_X_PAGE),
    "macros": ("GET", None, {}, AGENT_PAGE),
    "macro_new": ("GET", None, {}, AGENT_PAGE),
    "macro_edit": ("GET", shared_macro, {}, (302, 403, 403, 404, 404, 200)),
    "macro_delete": ("POST", shared_macro, {}, (302, 403, 403, 404, 404, 302)),
    # The rules' test mode: supervisors and admins only.
    "rules_test": ("GET", None, {"c": "1"}, (302, 403, 403, 403, 403, 200)),
    "kb:help": ("GET", None, {}, PUBLIC),
    "kb:help_search": ("GET", None, {}, PUBLIC),
    "kb:help_suggest": ("GET", None, {}, PUBLIC),
    "kb:help_contact": ("GET", None, {}, PUBLIC),
    "kb:help_category": ("GET", lambda w: {"slug": kb_article(w) and "returns"}, {}, PUBLIC),
    "kb:help_article": ("GET", kb_article, {}, PUBLIC),
    "kb:help_attachment": ("GET", kb_attachment, {}, PUBLIC),
    "kb:help_feedback": (
        "POST",
        lambda w: {"pk": kb_article(w)["pk"]},
        {"helpful": "yes"},
        (302,) * 6,
    ),
    "kb:help_feedback_comment": ("POST", kb_feedback, {"comment": "ok"}, (302,) * 6),
    "kb:sitemap": ("GET", None, {}, PUBLIC),
    "kb:robots": ("GET", None, {}, PUBLIC),
    "kb:conversation_panel": ("GET", conv, {}, TEAM_X_PAGE),
    "kb:gaps": ("GET", None, {}, (302, 403, 403, 403, 403, 200)),  # writers and supervisors
    # The agents' knowledge base: every agent reads published articles; writing is for agents
    # with kb.change_article and for supervisors and admins (deleting: kb.delete_article).
    "kb:articles": ("GET", None, {}, AGENT_PAGE),
    "kb:article": ("GET", lambda w: {"pk": kb_article(w)["pk"]}, {}, AGENT_PAGE),
    "kb:article_new": ("GET", None, {}, KB_WRITER_PAGE),
    "kb:import": ("GET", None, {}, KB_WRITER_PAGE),
    "kb:export": ("GET", None, {}, KB_WRITER_PAGE),
    "kb:article_edit": ("GET", lambda w: {"pk": kb_article(w)["pk"]}, {}, KB_WRITER_PAGE),
    "kb:article_translate": (
        "GET",
        lambda w: {"pk": kb_article(w)["pk"], "language": "en"},
        {},
        KB_WRITER_PAGE,
    ),
    "kb:article_delete": ("POST", lambda w: {"pk": kb_article(w)["pk"]}, {}, KB_WRITER_ACTION),
    "kb:version": ("GET", lambda w: {"pk": kb_article(w)["pk"], "number": 1}, {}, KB_WRITER_PAGE),
    "kb:restore": (
        "POST",
        lambda w: {"pk": kb_article(w)["pk"], "number": 1},
        {},
        KB_WRITER_ACTION,
    ),
    "kb:article_attach": ("POST", lambda w: {"pk": kb_article(w)["pk"]}, {}, KB_WRITER_ACTION),
    "kb:article_file": ("GET", kb_attachment, {}, AGENT_PAGE),
    "kb:attachment_delete": ("POST", kb_attachment, {}, KB_WRITER_ACTION),
    "care:unsubscribe": ("POST", care_delivery_token, {}, PUBLIC),
    "care:survey": ("GET", care_survey_token, {}, PUBLIC),
    "care:opened": ("GET", care_opened_token, {}, PUBLIC),
    "care:campaigns": ("GET", None, {}, AGENT_PAGE),
    "care:campaign": ("GET", care_campaign, {}, AGENT_PAGE),
    "care:campaign_progress": ("GET", care_campaign, {}, AGENT_PAGE),
    "care:campaign_start": ("POST", care_campaign, {}, (302, 403, 403, 403, 403, 302)),
    "care:campaign_pause": ("POST", care_campaign, {}, (302, 403, 403, 403, 403, 302)),
    "care:campaign_test": ("POST", care_campaign, {}, AGENT_ACTION),
    "care:template_preview": ("GET", care_template, {}, AGENT_PAGE),
}


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> list[tuple[str, str]]:
    found = []
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = p.namespace or namespace
            found += _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace else (p.name or "")
            found.append((name, prefix + str(p.pattern)))
    return found


def all_routes() -> list[tuple[str, str]]:
    return _walk(get_resolver().url_patterns)


def test_every_route_is_in_the_table():
    names = {name for name, route in all_routes() if not route.startswith(("admin/", "api/"))}
    unnamed = [route for name, route in all_routes() if not name]
    assert not unnamed, f"routes without a name cannot be checked: {unnamed}"
    missing = names - set(ROUTES)
    assert not missing, f"add these routes to ROUTES with their expected statuses: {missing}"
    stale = set(ROUTES) - names
    assert not stale, f"these routes no longer exist: {stale}"


def _client(world: World, role: str, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    if world.users[role] is not None:
        client.force_login(world.users[role])
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(ROUTES))
def test_route_for_every_role(name):
    from django.urls import reverse

    method, kwargs_of, data, expected = ROUTES[name]
    got = {}
    for role in ROLES:
        world = build_world()
        url = reverse(name, kwargs=kwargs_of(world) if kwargs_of else None)
        payload = {k: (world.conv_x2.pk if v == "__conv_x2__" else v) for k, v in data.items()}
        client = _client(world, role)
        response = client.post(url, payload) if method == "POST" else client.get(url)
        got[role] = response.status_code
        assert response.status_code != 500
        # Clean slate for the next role.
        from django.contrib.auth import get_user_model

        from kefu.conversations.models import Conversation
        from kefu.customers.models import Customer
        from kefu.mail.models import InboundEmail

        Conversation.objects.all().delete()
        Customer.objects.all().delete()
        get_user_model().objects.all().delete()
        InboundEmail.objects.all().delete()
        from kefu.staff.models import Team

        Team.objects.all().delete()
    assert got == dict(zip(ROLES, expected, strict=True))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, (method, *_rest) in ROUTES.items()
        if method == "POST" and n not in WIDGET_ENDPOINTS
    ),
)
def test_state_changes_only_on_post_with_csrf(name):
    from django.urls import reverse

    _method, kwargs_of, data, expected = ROUTES[name]
    world = build_world()
    url = reverse(name, kwargs=kwargs_of(world) if kwargs_of else None)
    role = "admin" if expected[-1] != 403 else "customer_a"
    client = _client(world, role, csrf=True)
    assert client.get(url).status_code in (405, 302)
    payload = {k: (world.conv_x2.pk if v == "__conv_x2__" else v) for k, v in data.items()}
    assert client.post(url, payload).status_code == 403  # no CSRF token


@pytest.mark.django_db
def test_admin_is_for_staff_only():
    world = build_world()
    expected = dict(zip(ROLES, (302, 302, 302, 302, 302, 200), strict=True))
    got = {role: _client(world, role).get("/admin/").status_code for role in ROLES}
    assert got == expected


PUBLIC_API = {"api:openapi-json", "api:openapi-view", "api:api-root", "api:kb-search"}


@pytest.mark.django_db
def test_public_api_routes():
    client = Client()
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/docs").status_code == 200
    assert client.get("/api/").status_code == 404


@pytest.mark.django_db
def test_every_api_route_needs_a_token():
    """Anonymous requests to any API operation get 401, except the schema and its docs."""
    world = build_world()
    client = _client(world, "anonymous")
    checked = 0
    for name, route in all_routes():
        if not route.startswith("api/") or name in PUBLIC_API:
            continue
        path = "/" + route
        for param in ("<int:", "<str:", "<"):
            while param in path:
                start = path.index(param)
                path = path[:start] + str(world.conv_x.pk) + path[path.index(">", start) + 1 :]
        for method in ("get", "post"):
            status = getattr(client, method)(path, content_type="application/json").status_code
            assert status in (401, 405), f"{method.upper()} {path} → {status}"
        checked += 1
    assert checked >= 5
