"""The chat writer process (kefu.livechat.writer_process), for real: a child process stores a
web process's lines through its own database connection, answers each line's outcome, and
hands the commit's publishes back to the parent's channel layer; a child that died is
replaced by the next batch."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import get_channel_layer

from kefu.core import realtime
from kefu.livechat.actions import ChatError, Line
from kefu.livechat.lines import WriterProcess
from kefu.livechat.writer_process import Stored
from tests.e2e.conftest import KEFU, kefu_environment

CHAT = """
import json
from kefu.livechat import actions
from kefu.livechat.models import ChatSession, Widget
from kefu.staff.models import Team

widget = Widget.objects.create(
    name="Shop", team=Team.objects.get(slug="aftersales"), allowed_origins="https://shop.example"
)
visitor = actions.visitor_for(widget, None, None)
chat = actions.start_chat(widget, visitor, name="王", email="wang@example.com", text="你好")
ended = actions.start_chat(
    widget, actions.visitor_for(widget, None, None), name="李", email="li@example.com", text="在吗"
)
actions.end_chat(ended, by="visitor")
print(json.dumps([[c.pk, c.conversation_id, c.visitor_id] for c in (chat, ended)]))
"""


@pytest.fixture(scope="module")
def chats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Any]]:
    """A migrated database of its own (the child cannot see the tests' one), with an open
    chat and an ended one."""
    with kefu_environment(tmp_path_factory.mktemp("chat-writer")) as env:
        out = subprocess.run(
            [*KEFU, "shell", "-v0", "-c", CHAT], env=env, check=True, capture_output=True, text=True
        ).stdout
        yield env, json.loads(out.strip().splitlines()[-1])


def line(chat: list[int], text: str, cid: str) -> Line:
    session_id, conversation_id, visitor_id = chat
    return Line(
        session_id=session_id,
        conversation_id=conversation_id,
        visitor_id=visitor_id,
        text=text,
        cid=cid,
        language="zh-hans",
    )


def test_the_child_stores_answers_and_forwards_what_its_listeners_publish(chats):
    env, (chat, ended) = chats

    async def run() -> tuple[list[Any], list[Any], list[dict[str, Any]], int, int]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(realtime.conversation_group(chat[1]), channel)
        writer = WriterProcess(asyncio.get_running_loop(), env)
        try:
            first = await writer.store(
                [
                    line(chat, "订单 1001", "a1"),
                    line(ended, "喂？", "e1"),
                    line(chat, "还没到", "a2"),
                    line(chat, "订单 1001", "a1"),  # the same cid twice in one batch
                ]
            )
            heard = [await asyncio.wait_for(layer.receive(channel), 10) for _ in range(2)]
            assert writer.process is not None
            pid = writer.process.pid
            writer.process.kill()
            await writer.process.wait()
            again = await writer.store([line(chat, "订单 1001", "a1"), line(chat, "谢谢", "a3")])
            assert writer.process is not None
            return first, again, heard, pid, writer.process.pid
        finally:
            await writer.close()

    first, again, heard, pid, new_pid = asyncio.run(run())

    a1, e1, a2, a1_again = first
    assert isinstance(a1, Stored) and isinstance(a2, Stored) and a1.id < a2.id
    assert a1.message["text"] == "订单 1001" and a1.message["cid"] == "a1"
    assert a1.message["from"] == "visitor" and a1.message["id"] == a1.id
    assert a1_again == a1.id
    assert isinstance(e1, ChatError) and e1.code == "closed"
    assert [(h["type"], h["message_id"]) for h in heard] == [
        ("conversation.event", a1.id),
        ("conversation.event", a2.id),
    ]
    # A new child after the first died; what the first stored is known to it.
    assert new_pid != pid
    assert again[0] == a1.id
    assert isinstance(again[1], Stored) and again[1].id > a2.id
