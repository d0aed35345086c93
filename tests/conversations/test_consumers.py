"""The agent workspace websocket, end to end through kefu.asgi.application.

pytest-asyncio is not installed: each test body is an ``async def`` run with ``async_to_sync``.
The tests use real transactions so that actions' on-commit events fire.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.test import Client

from kefu.asgi import application
from kefu.conversations import actions
from tests.factories import make_conversation

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = "http://localhost"


class WebsocketCommunicator(ApplicationCommunicator):
    """The part of channels' WebsocketCommunicator these tests use. (Importing
    ``channels.testing`` needs daphne, which kefu does not install.)"""

    def __init__(self, app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        parsed = urlparse(path)
        super().__init__(
            app,
            {
                "type": "websocket",
                "path": parsed.path,
                "query_string": parsed.query.encode(),
                "headers": headers,
                "subprotocols": [],
            },
        )

    async def connect(self, timeout: float = 1) -> tuple[bool, Any]:
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept"
        return True, response.get("subprotocol")

    async def send_to(self, text_data: str) -> None:
        await self.send_input({"type": "websocket.receive", "text": text_data})

    async def receive_json_from(self, timeout: float = 1) -> Any:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 1) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    layer = get_channel_layer()
    async_to_sync(layer.flush)()
    yield
    async_to_sync(layer.flush)()


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def communicator(
    path: str, cookie: str | None = None, origin: str | None = ORIGIN, language: str = ""
):
    headers = []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        extra = f"; django_language={language}" if language else ""
        headers.append((b"cookie", f"sessionid={cookie}{extra}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def drain(comm: WebsocketCommunicator, quiet: float = 0.5) -> list[dict[str, Any]]:
    """Everything the socket sent until it stays quiet for ``quiet`` seconds.

    (Waiting with ``receive_json_from`` past its timeout would cancel the application.)
    """
    payloads = []
    while not await comm.receive_nothing(timeout=quiet):
        payloads.append(await comm.receive_json_from(timeout=2))
    return payloads


@pytest.fixture
def cx(team_x):
    return make_conversation(team=team_x, subject="Kettle leaks", body="It leaks.")


def test_agent_of_the_team_receives_new_messages_live(agent_x, cx):
    cookie = session_cookie(agent_x)

    async def run():
        comm = communicator(f"/ws/workspace/?conversation={cx.pk}", cookie)
        connected, _ = await comm.connect(timeout=3)
        assert connected
        await comm.send_to(text_data="ping")
        assert await comm.receive_json_from(timeout=2) == {"op": "pong"}
        message = await database_sync_to_async(actions.receive_message)(
            cx, body_text="The kettle still leaks <badly>"
        )
        payloads = await drain(comm)
        await comm.disconnect()
        return message, payloads

    message, payloads = async_to_sync(run)()
    messages = [p for p in payloads if p["op"] == "message"]
    assert messages, payloads
    assert {p["id"] for p in messages} == {f"msg-{message.pk}"}
    html = messages[0]["html"]
    assert f'id="msg-{message.pk}"' in html
    assert "The kettle still leaks &lt;badly&gt;" in html
    assert "<badly>" not in html
    assert {"op": "inbox"} in payloads
    toasts = [p for p in payloads if p["op"] == "toast"]
    assert toasts and toasts[0]["href"] == f"/c/{cx.pk}/"


def test_agent_of_another_team_is_refused_the_conversation(agent_y, cx):
    cookie = session_cookie(agent_y)

    async def run():
        comm = communicator(f"/ws/workspace/?conversation={cx.pk}", cookie)
        result = await comm.connect(timeout=3)
        await comm.wait(timeout=1)
        return result

    assert async_to_sync(run)() == (False, 4403)


def test_unknown_conversation_is_refused(agent_x, cx):
    cookie = session_cookie(agent_x)

    async def run():
        comm = communicator("/ws/workspace/?conversation=999999", cookie)
        return await comm.connect(timeout=3)

    assert async_to_sync(run)() == (False, 4403)


def test_anonymous_is_refused(cx):
    async def run():
        return await communicator("/ws/workspace/").connect(timeout=3)

    assert async_to_sync(run)() == (False, 4403)


def test_customer_principal_is_refused(customer_user_factory):
    user, _ = customer_user_factory("portal")
    cookie = session_cookie(user)

    async def run():
        return await communicator("/ws/workspace/", cookie).connect(timeout=3)

    assert async_to_sync(run)() == (False, 4403)


@pytest.mark.parametrize("origin", ["https://evil.example", None])
def test_foreign_or_missing_origin_is_refused(agent_x, origin):
    cookie = session_cookie(agent_x)

    async def run():
        comm = communicator("/ws/workspace/", cookie, origin=origin)
        connected, _ = await comm.connect(timeout=3)
        return connected

    assert async_to_sync(run)() is False


def test_other_team_gets_nothing_of_a_conversation_it_cannot_see(agent_x, agent_y, cx):
    cookie_x, cookie_y = session_cookie(agent_x), session_cookie(agent_y)

    async def run():
        comm_x = communicator("/ws/workspace/", cookie_x)
        comm_y = communicator("/ws/workspace/", cookie_y)
        assert (await comm_x.connect(timeout=3))[0]
        assert (await comm_y.connect(timeout=3))[0]
        await database_sync_to_async(actions.receive_message)(cx, body_text="Secret of team X")
        got_x, got_y = await drain(comm_x), await drain(comm_y)
        await comm_x.disconnect()
        await comm_y.disconnect()
        return got_x, got_y

    got_x, got_y = async_to_sync(run)()
    assert got_y == []
    # the same event did reach team X's socket: the silence above is not a broken pipe
    assert {"op": "inbox"} in got_x
    assert not [p for p in got_x if p["op"] == "message"]  # not viewing the conversation


def test_each_event_reaches_a_socket_once(agent_x, cx):
    """Regression: the socket is in team.<x> and agent.<x>, both groups of the event."""
    cookie = session_cookie(agent_x)
    actions.assign(cx, actor=agent_x, assignee=agent_x, team=cx.team)

    async def run():
        comm = communicator("/ws/workspace/", cookie)
        assert (await comm.connect(timeout=3))[0]
        await database_sync_to_async(actions.receive_message)(cx, body_text="Hello again")
        payloads = await drain(comm)
        await comm.disconnect()
        return payloads

    payloads = async_to_sync(run)()
    assert [p["op"] for p in payloads].count("toast") == 1, payloads


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh-hans", "更改了状态"), ("zh-hant", "更改了狀態"), ("en", "changed the status")],
)
def test_events_render_in_the_browsers_language_when_the_profile_has_none(
    agent_x, cx, language, expected
):
    """As the pages do (LocaleMiddleware): the language cookie of the agent's browser."""
    assert agent_x.agent_profile.language == ""
    cookie = session_cookie(agent_x)

    async def run():
        comm = communicator(f"/ws/workspace/?conversation={cx.pk}", cookie, language=language)
        assert (await comm.connect(timeout=3))[0]
        await database_sync_to_async(actions.set_status)(cx, actor=agent_x, status="open")
        payloads = await drain(comm)
        await comm.disconnect()
        return payloads

    events = [p["html"] for p in async_to_sync(run)() if p["op"] == "message"]
    assert events and expected in events[0], events
