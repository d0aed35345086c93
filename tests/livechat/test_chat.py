"""Live chat end to end below the browser: HTTP endpoints, the visitor websocket through
kefu.asgi.application, routing, and the agent's chat frames."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core import mail
from django.db import connection
from django.test import Client

from kefu.conversations import actions as conversation_actions
from kefu.conversations.models import Message, Status
from kefu.customers.models import ContactPoint, Customer, Tier
from kefu.livechat import actions
from kefu.livechat.identity import sign_identity, verify_identity
from kefu.livechat.models import ChatSession, Visitor, Widget
from kefu.mail.models import OutboundEmail
from kefu.service.models import CannedReply
from kefu.staff import actions as staff_actions
from kefu.staff.models import AgentProfile
from tests.conversations.test_consumers import communicator, drain, session_cookie
from tests.factories import make_agent

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "https://shop.example.com"


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    layer = get_channel_layer()
    async_to_sync(layer.flush)()
    yield
    async_to_sync(layer.flush)()


@pytest.fixture
def widget(team_x):
    return Widget.objects.create(name="Shop", team=team_x, allowed_origins=SITE)


def online(user, capacity: int = 3) -> None:
    staff_actions.update_profile(user.agent_profile, presence="online", capacity=capacity)


def post(path: str, data: dict[str, Any] | None = None, token: str = "") -> Any:
    headers = {"HTTP_X_KEFU_VISITOR": token} if token else {}
    return Client().post(path, json.dumps(data or {}), content_type="application/json", **headers)


def new_visitor(widget: Widget, identity: dict[str, Any] | None = None) -> dict[str, Any]:
    response = post(f"/chat/w/{widget.site_key}/session", {"identity": identity})
    assert response.status_code == 200, response.content
    return response.json()


def start(widget: Widget, token: str, text: str = "你好，我的订单还没到", **form: str) -> Any:
    form.setdefault("name", "王小明")
    form.setdefault("email", "wang@example.com")
    return post(f"/chat/w/{widget.site_key}/start", {"text": text, **form}, token)


def session_of(conversation_id: int) -> ChatSession:
    return ChatSession.objects.select_related("conversation", "visitor", "widget").get(
        conversation_id=conversation_id
    )


# Identity -----------------------------------------------------------------------------------


def test_signed_identity_is_verified_and_forgeries_are_anonymous(widget):
    good = sign_identity(widget.identity_secret, external_id="10023", email="z@example.com")
    assert verify_identity(widget, good).external_id == "10023"
    assert verify_identity(widget, {**good, "email": "boss@example.com"}) is None
    assert verify_identity(widget, {**good, "signature": "0" * 64}) is None
    assert verify_identity(widget, {k: v for k, v in good.items() if k != "signature"}) is None
    stale = sign_identity(widget.identity_secret, external_id="1", ts=int(time.time()) - 90_000)
    assert verify_identity(widget, stale) is None
    other = sign_identity("not-the-secret", external_id="10023", email="z@example.com")
    assert verify_identity(widget, other) is None
    assert verify_identity(widget, "garbage") is None


def test_verified_user_becomes_that_customer_and_a_forged_one_does_not(widget, customer):
    ContactPoint.objects.create(customer=customer, kind="email", value="zhang@example.com")
    good = sign_identity(widget.identity_secret, external_id="7", email="zhang@example.com")
    body = new_visitor(widget, good)
    assert body["verified"] is True
    assert Visitor.objects.get(uuid=body["visitor"]).customer == customer

    forged = {**good, "signature": "ab" * 32}
    body = new_visitor(widget, forged)
    assert body["verified"] is False
    assert Visitor.objects.get(uuid=body["visitor"]).customer is None


def test_same_token_same_visitor_but_a_new_login_gets_a_fresh_visitor(widget):
    first = new_visitor(widget, sign_identity(widget.identity_secret, external_id="1"))
    again = post(f"/chat/w/{widget.site_key}/session", {"identity": None}, first["token"]).json()
    assert again["visitor"] != first["visitor"]  # logged out: not the last user's chats
    anon = new_visitor(widget)
    same = post(f"/chat/w/{widget.site_key}/session", {}, anon["token"]).json()
    assert same["visitor"] == anon["visitor"]


def test_token_of_another_widget_is_not_accepted(widget, team_x):
    other = Widget.objects.create(name="Other", team=team_x)
    token = new_visitor(other)["token"]
    assert start(widget, token).status_code == 401


# Starting and routing -----------------------------------------------------------------------


def test_start_opens_a_chat_conversation_routed_to_the_least_busy_agent(widget, team_x, agent_x):
    busy = make_agent("busy", team_x)
    online(agent_x)
    online(busy)
    filler = new_visitor(widget)
    start(widget, filler["token"], text="first")
    first = session_of(ChatSession.objects.get().conversation_id)
    assert first.state == ChatSession.State.ACTIVE
    token = new_visitor(widget)["token"]
    response = start(widget, token)
    assert response.status_code == 200, response.content
    chat = session_of(response.json()["conversation"])
    assert chat.state == ChatSession.State.ACTIVE
    assert {chat.agent, first.agent} == {agent_x, busy}  # the idle one got the second chat
    conversation = chat.conversation
    assert conversation.channel == "chat"
    assert conversation.assignee == chat.agent
    assert conversation.customer.name == "王小明"
    assert conversation.messages.get().body_text == "你好，我的订单还没到"


def test_form_rules_are_enforced(widget):
    widget.ask_email = "required"
    widget.save()
    token = new_visitor(widget)["token"]
    assert start(widget, token, email="").json()["error"] == "invalid"
    assert start(widget, token, email="not-an-address").json()["error"] == "invalid"
    assert start(widget, token, text="").json()["error"] == "invalid"
    assert ChatSession.objects.count() == 0


def test_two_starts_make_one_chat(widget):
    token = new_visitor(widget)["token"]
    a, b = start(widget, token).json(), start(widget, token).json()
    assert a["conversation"] == b["conversation"]
    assert ChatSession.objects.count() == 1


@pytest.mark.skipif("sqlite" in connection.vendor, reason="row locks: PostgreSQL")
def test_two_simultaneous_starts_make_one_chat(widget):
    token = new_visitor(widget)["token"]
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def go():
        barrier.wait()
        try:
            results.append(start(widget, token).json()["conversation"])
        finally:
            connection.close()

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert ChatSession.objects.count() == 1


def test_capacity_queue_position_and_vip_jump(widget, agent_x):
    online(agent_x, capacity=1)
    tokens = [new_visitor(widget)["token"] for _ in range(3)]
    start(widget, tokens[0])  # takes the agent's only place
    second = start(widget, tokens[1], email="normal@example.com").json()
    assert second["state"] == "queued" and second["position"] == 1
    vip = Customer.objects.create(name="VIP", tier=Tier.VIP)
    ContactPoint.objects.create(customer=vip, kind="email", value="vip@example.com")
    third = start(widget, tokens[2], email="vip@example.com").json()
    assert third["position"] == 1  # ahead of the normal customer
    assert session_of(second["conversation"]).rank == 0

    # The agent ends the first chat: the VIP is served next, not the earlier normal customer.
    first = ChatSession.objects.filter(state="active").get()
    actions.end_chat(first, by="agent", actor=agent_x)
    assert session_of(third["conversation"]).state == "active"
    assert session_of(second["conversation"]).state == "queued"


def test_agent_coming_online_takes_the_queue(widget, agent_x):
    token = new_visitor(widget)["token"]
    body = start(widget, token).json()
    assert body["state"] == "queued"
    online(agent_x)
    assert session_of(body["conversation"]).agent == agent_x


def test_offline_message_becomes_a_conversation_answered_by_email(widget, agent_x):
    token = new_visitor(widget)["token"]
    assert new_visitor(widget)["online"] is False
    response = post(
        f"/chat/w/{widget.site_key}/offline",
        {"name": "李雷", "email": "lilei@example.com", "text": "晚上能送货吗？"},
        token,
    )
    assert response.status_code == 200, response.content
    conversation = conversation_actions.Conversation.objects.get(pk=response.json()["conversation"])
    assert conversation.channel == "chat"
    conversation_actions.send_reply(conversation, agent=agent_x, body_text="可以，晚上八点前。")
    sent = OutboundEmail.objects.get()
    assert "lilei@example.com" in json.dumps(sent.to)
    assert "可以，晚上八点前。" in sent.body_text
    bad = post(f"/chat/w/{widget.site_key}/offline", {"text": "hi"}, token)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid"


def test_transfer_to_colleague_and_to_team(widget, team_x, team_y, agent_x, agent_y):
    online(agent_x)
    token = new_visitor(widget)["token"]
    chat = session_of(start(widget, token).json()["conversation"])
    colleague = make_agent("colleague", team_x)
    actions.transfer(chat, actor=agent_x, to_agent=colleague)
    chat.refresh_from_db()
    assert chat.agent == colleague and chat.conversation.assignee == colleague
    actions.transfer(chat, actor=colleague, to_team=team_y)
    chat.refresh_from_db()
    assert chat.state == "queued" and chat.agent is None
    online(agent_y)
    chat.refresh_from_db()
    assert chat.agent == agent_y and chat.conversation.team == team_y


def test_solving_the_conversation_ends_the_chat_and_rating_is_kept(widget, agent_x):
    online(agent_x)
    token = new_visitor(widget)["token"]
    chat = session_of(start(widget, token).json()["conversation"])
    with pytest.raises(actions.ChatError):
        actions.rate_chat(chat, score=5)
    conversation_actions.set_status(chat.conversation, actor=agent_x, status=Status.SOLVED)
    chat.refresh_from_db()
    assert chat.state == "ended"
    actions.rate_chat(chat, score=4, comment="快")
    chat.refresh_from_db()
    assert chat.rating == 4 and chat.conversation.satisfaction == 4
    with pytest.raises(actions.ChatError):
        actions.rate_chat(chat, score=1)
    with pytest.raises(actions.ChatError):
        actions.visitor_message(chat, text="hello again")


def test_transcript_by_email_has_no_internal_notes(widget, agent_x, settings):
    online(agent_x)
    token = new_visitor(widget)["token"]
    chat = session_of(start(widget, token).json()["conversation"])
    conversation_actions.send_reply(chat.conversation, agent=agent_x, body_text="您好，请稍等")
    conversation_actions.add_note(chat.conversation, agent=agent_x, body_text="SECRET NOTE")
    response = post(f"/chat/w/{widget.site_key}/transcript", {"email": "w@example.com"}, token)
    assert response.status_code == 200, response.content
    sent = mail.outbox[-1]
    assert sent.to == ["w@example.com"]
    assert "您好，请稍等" in sent.body and "你好，我的订单还没到" in sent.body
    assert "SECRET NOTE" not in sent.body
    assert "SECRET NOTE" not in sent.alternatives[0][0]


def test_uploads_are_limited_in_size_and_type(widget, settings):
    settings.KEFU_CHAT_MAX_UPLOAD_BYTES = 1000
    token = new_visitor(widget)["token"]
    start(widget, token)
    url = f"/chat/w/{widget.site_key}/upload"
    client = Client(HTTP_X_KEFU_VISITOR=token)
    from django.core.files.uploadedfile import SimpleUploadedFile

    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    ok = client.post(url, {"file": SimpleUploadedFile("photo.png", png)})
    assert ok.status_code == 200, ok.content
    message = Message.objects.get(pk=ok.json()["id"])
    attachment = message.attachments.get()
    assert attachment.content_type == "image/png"
    big = client.post(url, {"file": SimpleUploadedFile("big.png", png + b"0" * 2000)})
    assert big.status_code == 413
    html = client.post(url, {"file": SimpleUploadedFile("x.html", b"<script>")})
    assert html.status_code == 415
    fake = client.post(url, {"file": SimpleUploadedFile("fake.png", b"<svg onload=alert(1)>")})
    assert fake.status_code == 415


def test_canned_replies_by_shortcut(client, agent_x, team_y):
    CannedReply.objects.create(
        shortcut="refund", title="退款流程", body="退款将在 3 个工作日内到账。"
    )
    CannedReply.objects.create(shortcut="secret", title="Y only", body="…", team=team_y)
    client.force_login(agent_x)
    found = client.get("/canned/?q=/ref").json()["replies"]
    assert [r["shortcut"] for r in found] == ["refund"]
    assert [r["shortcut"] for r in client.get("/canned/").json()["replies"]] == ["refund"]


# The visitor websocket ----------------------------------------------------------------------


def visitor_socket(widget: Widget, token: str, origin: str | None = SITE):
    return communicator(f"/ws/chat/{widget.site_key}/?token={token}", origin=origin)


def test_foreign_origin_and_bad_token_are_refused(widget):
    token = new_visitor(widget)["token"]

    async def run():
        results = []
        for origin, tok in (
            ("https://evil.example", token),
            (None, token),
            (SITE, "forged"),
        ):
            results.append((await visitor_socket(widget, tok, origin).connect(timeout=3))[0])
        results.append((await visitor_socket(widget, token).connect(timeout=3))[0])
        return results

    assert async_to_sync(run)() == [False, False, False, True]


def test_visitor_and_agent_talk_both_ways_and_notes_stay_private(widget, agent_x):
    online(agent_x)
    token = new_visitor(widget)["token"]
    conversation_id = start(widget, token).json()["conversation"]
    chat = session_of(conversation_id)
    cookie = session_cookie(agent_x)

    async def run():
        visitor = visitor_socket(widget, token)
        agent = communicator("/ws/workspace/", cookie)
        assert (await visitor.connect(timeout=3))[0]
        assert (await agent.connect(timeout=3))[0]
        await visitor.send_to(json.dumps({"op": "hello", "after": 0}))
        hello = await drain(visitor)
        await visitor.send_to(json.dumps({"op": "msg", "text": "有人吗？", "cid": "c1"}))
        await visitor.send_to(json.dumps({"op": "msg", "text": "有人吗？", "cid": "c1"}))  # resent
        got_visitor = await drain(visitor)
        got_agent = await drain(agent)
        await database_sync_to_async(conversation_actions.send_reply)(
            chat.conversation, agent=agent_x, body_text="在的，请问订单号？"
        )
        await database_sync_to_async(conversation_actions.add_note)(
            chat.conversation, agent=agent_x, body_text="内部备注"
        )
        reply = await drain(visitor)
        await visitor.disconnect()
        await agent.disconnect()
        return hello, got_visitor, got_agent, reply

    hello, got_visitor, got_agent, reply = async_to_sync(run)()
    history = next(f for f in hello if f["op"] == "history")["messages"]
    assert [m["text"] for m in history] == ["你好，我的订单还没到"]
    assert next(f for f in hello if f["op"] == "state")["state"] == "active"
    acks = [f for f in got_visitor if f["op"] == "ack"]
    assert len(acks) == 2 and acks[0]["id"] == acks[1]["id"]  # one message, acked twice
    assert (
        Message.objects.filter(conversation_id=conversation_id, body_text="有人吗？").count() == 1
    )
    chat_frames = [f for f in got_agent if f["op"] == "chat"]
    assert [f["message"]["text"] for f in chat_frames] == ["有人吗？"]
    texts = [f["message"]["text"] for f in reply if f["op"] == "msg"]
    assert texts == ["在的，请问订单号？"]
    assert reply[0]["message"]["from"] == "agent"


def test_reconnecting_visitor_gets_what_it_missed(widget, agent_x):
    online(agent_x)
    token = new_visitor(widget)["token"]
    chat = session_of(start(widget, token).json()["conversation"])
    first_id = chat.conversation.messages.get().pk
    conversation_actions.send_reply(chat.conversation, agent=agent_x, body_text="missed one")
    conversation_actions.send_reply(chat.conversation, agent=agent_x, body_text="missed two")

    async def run():
        visitor = visitor_socket(widget, token)
        assert (await visitor.connect(timeout=3))[0]
        await visitor.send_to(json.dumps({"op": "hello", "after": first_id}))
        frames = await drain(visitor)
        await visitor.disconnect()
        return frames

    history = next(f for f in async_to_sync(run)() if f["op"] == "history")["messages"]
    assert [m["text"] for m in history] == ["missed one", "missed two"]


def test_a_visitor_cannot_reach_another_chat(widget, agent_x):
    online(agent_x)
    mine = new_visitor(widget)["token"]
    theirs = new_visitor(widget)["token"]
    start(widget, theirs, text="their secret question", email="them@example.com")

    async def run():
        visitor = visitor_socket(widget, mine)
        assert (await visitor.connect(timeout=3))[0]
        await visitor.send_to(json.dumps({"op": "hello", "after": 0}))
        await visitor.send_to(json.dumps({"op": "msg", "text": "x", "cid": "1"}))
        frames = await drain(visitor)
        await visitor.disconnect()
        return frames

    frames = async_to_sync(run)()
    assert "their secret question" not in json.dumps(frames, ensure_ascii=False)
    assert {"op": "state", "state": "none"} in frames
    assert any(f["op"] == "error" and f["code"] == "no_chat" for f in frames)


def test_oversized_frames_bad_json_and_floods_get_clear_errors(widget, agent_x):
    online(agent_x)
    token = new_visitor(widget)["token"]
    chat = session_of(start(widget, token).json()["conversation"])

    async def run():
        visitor = visitor_socket(widget, token)
        assert (await visitor.connect(timeout=3))[0]
        await visitor.send_to("x" * 9000)
        await visitor.send_to("{not json")
        await visitor.send_to(json.dumps({"op": "msg", "text": "长" * 2001, "cid": "big"}))
        for i in range(45):
            await visitor.send_to(json.dumps({"op": "msg", "text": f"flood {i}", "cid": f"f{i}"}))
        # Every line is answered, acked once stored or refused (however long the store takes).
        frames = []
        while sum(f["op"] == "ack" or (f.get("cid") or "").startswith("f") for f in frames) < 45:
            frames.append(await visitor.receive_json_from(timeout=30))
        await visitor.disconnect()
        return frames

    frames = async_to_sync(run)()
    errors = [f["code"] for f in frames if f["op"] == "error"]
    assert errors[:3] == ["too_large", "bad_frame", "too_large"]
    acked = [f for f in frames if f["op"] == "ack"]
    refused = [f for f in frames if f["op"] == "error" and f["code"] == "rate_limited"]
    # 20 per 10-second window: 45 at once cross at most one window boundary.
    assert 20 <= len(acked) <= 40 and refused
    assert len(acked) + len(refused) == 45  # every line is either stored or refused aloud
    stored = chat.conversation.messages.filter(body_text__startswith="flood").count()
    assert stored == len(acked)


def test_visitor_ends_and_rates_over_the_socket(widget, agent_x):
    online(agent_x)
    token = new_visitor(widget)["token"]
    chat = session_of(start(widget, token).json()["conversation"])

    async def run():
        visitor = visitor_socket(widget, token)
        assert (await visitor.connect(timeout=3))[0]
        await visitor.send_to(json.dumps({"op": "hello", "after": 0}))
        await visitor.send_to(json.dumps({"op": "end"}))
        await visitor.send_to(json.dumps({"op": "rate", "score": 5, "comment": "很好"}))
        frames = []  # until the rating is confirmed, however long that takes
        while not any(f["op"] == "state" and f.get("rated") for f in frames):
            frames.append(await visitor.receive_json_from(timeout=30))
        frames += await drain(visitor)
        await visitor.disconnect()
        return frames

    frames = async_to_sync(run)()
    states = [f for f in frames if f["op"] == "state"]
    assert states[-1]["state"] == "ended" and states[-1]["rated"] is True
    chat.refresh_from_db()
    assert chat.rating == 5 and chat.conversation.status == Status.SOLVED
    agent_x.refresh_from_db()
    assert AgentProfile.objects.get(user=agent_x).presence == "online"


def test_suggestion_hook_serves_registered_suggesters(widget):
    from kefu.livechat import suggest

    url = f"/chat/w/{widget.site_key}/suggest?q=退款多久到账"
    assert Client().get(url).json() == {"articles": []}

    def faq(w, text, language):
        return [{"title": f"{language}: {text}", "url": "/help/refund", "excerpt": "3 天"}]

    suggest.register(faq)
    try:
        got = Client().get(url + "&lang=zh-hant").json()["articles"]
    finally:
        suggest._suggesters.remove(faq)
    assert got == [{"title": "zh-hant: 退款多久到账", "url": "/help/refund", "excerpt": "3 天"}]


def test_a_long_ended_chat_is_history_and_errors_speak_the_visitors_language(widget, agent_x):
    from datetime import timedelta

    from django.utils import timezone

    online(agent_x)
    body = post(f"/chat/w/{widget.site_key}/session", {"lang": "zh-hant"}).json()
    chat = session_of(start(widget, body["token"]).json()["conversation"])
    actions.end_chat(chat, by="visitor")
    assert actions.current_session(chat.visitor) is not None  # still there to rate
    ChatSession.objects.filter(pk=chat.pk).update(ended_at=timezone.now() - timedelta(days=1))
    assert actions.current_session(chat.visitor) is None  # the widget starts afresh
    bad = start(widget, body["token"], email="not-an-address").json()
    assert bad["error"] == "invalid" and bad["message"] == "這不是有效的電子郵件地址。"


def test_panel_of_an_offline_message_says_replies_go_by_email(widget, agent_x):
    token = new_visitor(widget)["token"]
    body = {"name": "李雷", "email": "lilei@example.com", "text": "晚上能送货吗？"}
    conversation_id = post(f"/chat/w/{widget.site_key}/offline", body, token).json()["conversation"]
    client = Client()
    client.force_login(agent_x)
    response = client.get(f"/c/{conversation_id}/chat/")
    assert response.status_code == 200
    assert b"email" in response.content or "邮件".encode() in response.content
