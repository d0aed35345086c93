"""Live chat when the channel layer fails: Redis restarted in the middle of a chat loses no
line, because the database is the source of truth and a reconnecting widget asks for the gap.

The test runs its own throwaway redis-server on a free port, so restarting it disturbs nobody.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import websockets

from tests.e2e.conftest import KEFU, free_port, kefu_server
from tests.e2e.test_livechat_scale_out import SETUP, post_json

pytestmark = pytest.mark.e2e

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@contextmanager
def private_redis(port: int) -> Iterator[None]:
    process = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_restarting_redis_mid_chat_loses_no_line(kefu_env):
    """Redis dies mid-chat: sockets drop, the agent answers meanwhile (stored), the visitor's
    unacknowledged lines wait in the widget; Redis returns, the widget reconnects, re-sends
    them with the same client ids and asks for the gap. Every line arrives exactly once."""
    import os

    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server is not installed")
    port = free_port()
    env = {**kefu_env, "KEFU_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    subprocess.run([*KEFU, "shell", "-v0", "-c", SETUP], env=env, check=True)
    api_token = subprocess.run(
        [*KEFU, "token", "create", "li.na"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    first_redis = private_redis(port)
    first_redis.__enter__()
    with kefu_server(env, "--web-only", name="chat") as base:
        token = post_json(f"{base}/chat/w/scale-test/session", {})["token"]
        conversation_id = post_json(
            f"{base}/chat/w/scale-test/start",
            {"name": "断线测试", "email": "redis@example.com", "text": "开始"},
            {"X-Kefu-Visitor": token},
        )["conversation"]
        url = base.replace("http", "ws") + f"/ws/chat/scale-test/?token={token}"
        origin = {"Origin": "https://shop.example.com"}
        unacked = {f"during{i}": f"during {i}" for i in range(3)}

        async def before_the_outage() -> int:
            async with websockets.connect(url, additional_headers=origin) as ws:
                for i in range(3):
                    await ws.send(json.dumps({"op": "msg", "text": f"before {i}", "cid": f"b{i}"}))
                acks = []
                while len(acks) < 3:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                    if frame["op"] == "ack":
                        acks.append(frame["id"])
                return max(acks)

        last_seen = asyncio.run(before_the_outage())
        first_redis.__exit__(None, None, None)  # Redis dies
        post_json(  # the agent answers during the outage: stored, not pushed
            f"{base}/api/conversations/{conversation_id}/reply",
            {"body": "断线期间的回复"},
            {"Authorization": f"Bearer {api_token}"},
        )
        with private_redis(port):  # Redis is back

            async def reconnect() -> tuple[list[str], list[str]]:
                for _ in range(60):  # the widget retries with backoff; here every 0.5 s
                    try:
                        ws = await websockets.connect(url, additional_headers=origin)
                        break
                    except (OSError, websockets.exceptions.InvalidStatus):
                        await asyncio.sleep(0.5)
                async with ws:
                    for cid, text in unacked.items():
                        await ws.send(json.dumps({"op": "msg", "text": text, "cid": cid}))
                    await ws.send(json.dumps({"op": "hello", "after": last_seen}))
                    acked, gap = [], None
                    while gap is None or len(acked) < len(unacked):
                        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                        if frame["op"] == "ack":
                            acked.append(frame["cid"])
                        elif frame["op"] == "history":
                            gap = [m["text"] for m in frame["messages"]]
                    # Sent again on purpose: the same cids must not make new messages.
                    for cid, text in unacked.items():
                        await ws.send(json.dumps({"op": "msg", "text": text, "cid": cid}))
                    await ws.send(json.dumps({"op": "hello", "after": 0}))
                    while True:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                        if frame["op"] == "history":
                            return gap, [m["text"] for m in frame["messages"]]

            gap, everything = asyncio.run(reconnect())
    assert "断线期间的回复" in gap
    assert sorted(everything) == sorted(
        ["开始", *(f"before {i}" for i in range(3)), "断线期间的回复", *unacked.values()]
    )
