"""The documented switch to several processes: two `kefu run --web-only` processes on one Redis.

An agent's websocket is connected to process A; a customer message is posted through the API
of process B; the agent receives it live. This only works through the Redis channel layer.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
import websockets

from tests.e2e.conftest import KEFU, kefu_server

pytestmark = pytest.mark.e2e

REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def login(base: str, username: str, password: str) -> str:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    opener.open(urllib.request.Request(base + "/login/", data=data, headers={"Referer": base}))
    cookies = {c.name: c.value for c in jar}
    assert "sessionid" in cookies, "login failed"
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def test_two_web_processes_share_realtime_through_redis(kefu_env):
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {REDIS_URL}")
    env = {**kefu_env, "KEFU_REDIS_URL": REDIS_URL, "KEFU_REDIS_PREFIX": f"kefu-test-{os.getpid()}"}
    token = subprocess.run(
        [*KEFU, "token", "create", "li.na"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    conversation_id = int(
        subprocess.run(
            [
                *KEFU,
                "shell",
                "-v0",
                "-c",
                "from kefu.conversations.models import Conversation;"
                "print(Conversation.objects.get().pk)",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    with (
        kefu_server(env, "--web-only", name="a") as base_a,
        kefu_server(env, "--web-only", name="b") as base_b,
    ):
        cookie = login(base_a, "li.na", "pw-li-na-123")

        async def scenario() -> dict:
            ws_url = base_a.replace("http", "ws") + f"/ws/workspace/?conversation={conversation_id}"
            async with websockets.connect(
                ws_url, additional_headers={"Cookie": cookie, "Origin": base_a}
            ) as ws:
                await asyncio.sleep(0.5)  # the subscription is in place once accepted

                def post() -> int:
                    request = urllib.request.Request(
                        f"{base_b}/api/conversations/{conversation_id}/messages",
                        data=json.dumps({"body": "从另一个进程发来的消息"}).encode(),
                        headers={
                            "Authorization": f"Bearer {token}",
                            "Content-Type": "application/json",
                        },
                    )
                    return urllib.request.urlopen(request).status

                assert await asyncio.to_thread(post) == 201
                while True:
                    payload = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
                    if payload.get("op") == "message":
                        return payload

        payload = asyncio.run(scenario())
        assert "从另一个进程发来的消息" in payload["html"]
