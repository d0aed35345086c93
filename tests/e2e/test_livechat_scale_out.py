"""Live chat across two `kefu run --web-only` processes on one Redis: a visitor connected to
process B and an agent connected to process A talk both ways, in real time."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.request
import uuid
from typing import Any

import pytest
import websockets

from tests.e2e.conftest import KEFU, kefu_server
from tests.e2e.test_scale_out import REDIS_URL, login

pytestmark = pytest.mark.e2e

SETUP = """
from kefu.livechat.models import Widget
from kefu.staff.actions import update_profile
from kefu.staff.models import AgentProfile, Team
Widget.objects.get_or_create(site_key="scale-test", defaults={
    "name": "Shop", "team": Team.objects.get(slug="aftersales"),
    "allowed_origins": "https://shop.example.com"})
update_profile(AgentProfile.objects.get(user__username="li.na"), presence="online")
"""


def post_json(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


async def next_frame(ws: Any, op: str, **match: Any) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
        if frame.get("op") == op and all(frame.get(k) == v for k, v in match.items()):
            return frame


def test_visitor_on_one_process_agent_on_another(kefu_env):
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {REDIS_URL}")
    env = {
        **kefu_env,
        "KEFU_REDIS_URL": REDIS_URL,
        "KEFU_REDIS_PREFIX": f"kefu-chat-test-{uuid.uuid4().hex[:8]}",
    }
    subprocess.run([*KEFU, "shell", "-v0", "-c", SETUP], env=env, check=True)
    api_token = subprocess.run(
        [*KEFU, "token", "create", "li.na"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    with (
        kefu_server(env, "--web-only", name="agent-side") as base_a,
        kefu_server(env, "--web-only", name="visitor-side") as base_b,
    ):
        cookie = login(base_a, "li.na", "pw-li-na-123")
        session = post_json(f"{base_b}/chat/w/scale-test/session", {})
        token = session["token"]
        started = post_json(
            f"{base_b}/chat/w/scale-test/start",
            {"name": "王小明", "email": "wang@example.com", "text": "你好"},
            {"X-Kefu-Visitor": token},
        )
        conversation_id = started["conversation"]
        assert started["state"] == "active"  # li.na is online with room

        async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
            agent_url = base_a.replace("http", "ws") + "/ws/workspace/"
            visitor_url = base_b.replace("http", "ws") + f"/ws/chat/scale-test/?token={token}"
            async with (
                websockets.connect(
                    agent_url, additional_headers={"Cookie": cookie, "Origin": base_a}
                ) as agent,
                websockets.connect(
                    visitor_url, additional_headers={"Origin": "https://shop.example.com"}
                ) as visitor,
            ):
                await visitor.send(json.dumps({"op": "hello", "after": 0}))
                await next_frame(visitor, "history")
                await asyncio.sleep(0.5)  # both subscriptions are in place
                await visitor.send(
                    json.dumps({"op": "msg", "text": "订单 8812 还没到", "cid": "a1"})
                )
                at_agent = await next_frame(agent, "chat", conversation=conversation_id)

                def reply() -> Any:
                    return post_json(
                        f"{base_a}/api/conversations/{conversation_id}/reply",
                        {"body": "已为您查询，明天送达。"},
                        {"Authorization": f"Bearer {api_token}"},
                    )

                await asyncio.to_thread(reply)
                while True:  # the visitor's own line comes back first
                    at_visitor = await next_frame(visitor, "msg")
                    if at_visitor["message"]["from"] == "agent":
                        return at_agent, at_visitor

        at_agent, at_visitor = asyncio.run(scenario())
        assert at_agent["message"]["text"] == "订单 8812 还没到"
        assert at_agent["message"]["from"] == "visitor"
        assert at_visitor["message"]["text"] == "已为您查询，明天送达。"
        assert at_visitor["message"]["author"] == "李娜"
