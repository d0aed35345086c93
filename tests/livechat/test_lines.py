"""Visitor lines at socket speed (kefu.livechat.lines): relayed to the agent at once, stored by
group commit, acknowledged after the commit; refused lines retracted; a batch's lines stored
once each, in order, with their events."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from kefu.conversations import actions as conversation_actions
from kefu.conversations.models import Message, Status
from kefu.core import events
from kefu.core.events import MessageAdded, StatusChanged
from kefu.livechat import actions
from kefu.livechat.actions import ChatError, Line
from kefu.livechat.models import ChatSession, Widget
from tests.conversations.test_consumers import communicator, drain, session_cookie
from tests.livechat.test_chat import SITE, new_visitor, online, session_of, start, visitor_socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    layer = get_channel_layer()
    async_to_sync(layer.flush)()
    yield
    async_to_sync(layer.flush)()


@pytest.fixture
def widget(team_x):
    return Widget.objects.create(name="Shop", team=team_x, allowed_origins=SITE)


@pytest.fixture
def heard():
    """The events listeners receive while the test runs."""
    got: list[events.Event] = []

    def listener(event: events.Event) -> None:
        got.append(event)

    events._listeners[events.Event].append(listener)
    yield got
    events._listeners[events.Event].remove(listener)


def open_chat(widget, email: str) -> tuple[str, ChatSession]:
    token = new_visitor(widget)["token"]
    chat = session_of(start(widget, token, email=email).json()["conversation"])
    return token, chat


def line(chat: ChatSession, text: str, cid: str) -> Line:
    return Line(
        session_id=chat.pk,
        conversation_id=chat.conversation_id,
        visitor_id=chat.visitor_id,
        text=text,
        cid=cid,
    )


def test_a_line_reaches_the_agent_at_once_and_again_with_its_id_once_stored(widget, agent_x):
    online(agent_x)
    token, chat = open_chat(widget, "wang@example.com")
    cookie = session_cookie(agent_x)

    async def run():
        visitor = visitor_socket(widget, token)
        agent = communicator("/ws/workspace/", cookie)
        assert (await visitor.connect(timeout=3))[0]
        assert (await agent.connect(timeout=3))[0]
        await visitor.send_to(json.dumps({"op": "hello", "after": 0}))
        await drain(visitor)
        for i in range(3):
            await visitor.send_to(json.dumps({"op": "msg", "text": f"第{i}句", "cid": f"c{i}"}))
        got_visitor = await drain(visitor)
        got_agent = await drain(agent)
        await visitor.disconnect()
        await agent.disconnect()
        return got_visitor, got_agent

    got_visitor, got_agent = async_to_sync(run)()
    stored = list(
        Message.objects.filter(conversation=chat.conversation, body_text__startswith="第")
        .order_by("pk")
        .values_list("pk", "body_text", "metadata")
    )
    assert [(text, meta["cid"]) for _, text, meta in stored] == [
        ("第0句", "c0"),
        ("第1句", "c1"),
        ("第2句", "c2"),
    ]
    ids = {meta["cid"]: pk for pk, _, meta in stored}
    frames = [f for f in got_agent if f["op"] in ("chat.line", "chat")]
    for cid, pk in ids.items():
        mine = [f for f in frames if f["message"]["cid"] == cid]
        assert [f["op"] for f in mine] == ["chat.line", "chat"]
        assert mine[0]["message"]["id"] is None and mine[0]["conversation"] == chat.conversation_id
        assert mine[1]["message"]["id"] == pk and mine[1]["relayed"] is True
    relayed = [f["message"]["cid"] for f in frames if f["op"] == "chat.line"]
    assert relayed == ["c0", "c1", "c2"]  # in the order said
    acks = {f["cid"]: f["id"] for f in got_visitor if f["op"] == "ack"}
    assert acks == ids
    echoed = [f["message"]["id"] for f in got_visitor if f["op"] == "msg"]
    assert sorted(echoed) == sorted(ids.values())


def test_a_line_refused_after_it_was_relayed_is_retracted(widget, agent_x):
    online(agent_x)
    token, chat = open_chat(widget, "wang@example.com")
    cookie = session_cookie(agent_x)

    async def run():
        visitor = visitor_socket(widget, token)
        agent = communicator("/ws/workspace/", cookie)
        assert (await visitor.connect(timeout=3))[0]
        assert (await agent.connect(timeout=3))[0]
        await visitor.send_to(json.dumps({"op": "hello", "after": 0}))
        await drain(visitor)
        # The chat ends behind the socket's back (no state frame reaches it).
        await ChatSession.objects.filter(pk=chat.pk).aupdate(state=ChatSession.State.ENDED)
        await visitor.send_to(json.dumps({"op": "msg", "text": "还在吗", "cid": "late"}))
        got_visitor = await drain(visitor)
        got_agent = await drain(agent)
        await visitor.disconnect()
        await agent.disconnect()
        return got_visitor, got_agent

    got_visitor, got_agent = async_to_sync(run)()
    assert not Message.objects.filter(body_text="还在吗").exists()
    ops = [(f["op"], f.get("cid") or f.get("message", {}).get("cid")) for f in got_agent]
    assert ("chat.line", "late") in ops and ("chat.retract", "late") in ops
    assert ("chat", "late") not in ops
    errors = [f for f in got_visitor if f["op"] == "error"]
    assert [(f["code"], f["cid"]) for f in errors] == [("closed", "late")]
    assert not [f for f in got_visitor if f["op"] == "ack"]


def test_a_batch_is_stored_once_each_in_order_with_its_events(widget, agent_x, heard):
    online(agent_x, capacity=5)
    _, one = open_chat(widget, "one@example.com")
    _, two = open_chat(widget, "two@example.com")
    _, ended = open_chat(widget, "ended@example.com")
    actions.end_chat(ended, by="visitor")
    conversation_actions.send_reply(
        two.conversation, agent=agent_x, body_text="请稍等", status=Status.PENDING
    )
    first = actions.store_lines([line(one, "早", "a1")])[0]
    assert isinstance(first, Message)
    heard.clear()

    outcomes = actions.store_lines(
        [
            line(one, "早", "a1"),  # sent again after a reconnect
            line(one, "订单 1001", "a2"),
            line(two, "还没到", "b1"),
            line(ended, "喂？", "e1"),
            line(one, "订单 1001", "a2"),  # the same cid twice in one batch
            line(one, "谢谢", "a3"),
        ]
    )

    assert outcomes[0] == first.pk
    a2, b1, e1, a2_again, a3 = outcomes[1:]
    assert isinstance(a2, Message) and isinstance(b1, Message) and isinstance(a3, Message)
    assert a2_again == a2.pk
    assert isinstance(e1, ChatError) and e1.code == "closed"
    assert a2.pk < a3.pk
    lines = Message.objects.filter(conversation=one.conversation, direction="in")
    assert list(lines.order_by("pk").values_list("body_text", flat=True)) == [
        "你好，我的订单还没到",
        "早",
        "订单 1001",
        "谢谢",
    ]
    assert not Message.objects.filter(conversation=ended.conversation, body_text="喂？").exists()
    two.conversation.refresh_from_db()
    assert two.conversation.status == Status.OPEN  # the customer wrote: reopened
    added = [e.message_id for e in heard if isinstance(e, MessageAdded)]
    assert sorted(added) == sorted([a2.pk, b1.pk, a3.pk])
    assert [(e.conversation_id, e.old, e.new) for e in heard if isinstance(e, StatusChanged)] == [
        (two.conversation_id, Status.PENDING, Status.OPEN)
    ]
    timeline = one.conversation.customer.timeline.filter(kind="message_received")
    assert not timeline.exists()  # a chat's lines stay out of the customer's timeline


def test_a_closed_conversation_in_a_batch_refuses_only_its_own_line(widget, agent_x):
    online(agent_x, capacity=5)
    _, one = open_chat(widget, "one@example.com")
    _, two = open_chat(widget, "two@example.com")
    conversation_actions.set_status(two.conversation, actor=agent_x, status=Status.CLOSED)
    ChatSession.objects.filter(pk=two.pk).update(state=ChatSession.State.ACTIVE)  # stale chat

    ok, refused = actions.store_lines([line(one, "在吗", "x1"), line(two, "在吗", "y1")])

    assert isinstance(ok, Message) and ok.conversation_id == one.conversation_id
    assert isinstance(refused, ChatError) and refused.code == "closed"
    assert not Message.objects.filter(conversation=two.conversation, body_text="在吗").exists()
