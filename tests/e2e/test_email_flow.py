"""The email channel end to end, with real processes and real SMTP on both sides.

A customer's mail client sends to `kefu mail smtpd`; the conversation shows up in the
workspace (API) within seconds; the customer gets one acknowledgment; the agent's reply arrives
threaded; the customer's auto-responder answering the acknowledgment gets nothing back.
"""

from __future__ import annotations

import json
import smtplib
import subprocess
import time
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from tests.e2e.conftest import KEFU, free_port
from tests.mail.smtp_server import SmtpSink

pytestmark = pytest.mark.e2e

MAILBOX = (
    "from kefu.mail.models import Mailbox; from kefu.staff.models import Team;"
    "Mailbox.objects.create(name='客服中心', address='support@kefu.test',"
    " team=Team.objects.get(slug='aftersales'), answer_within_hours=4)"
)


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def api(base: str, token: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def send(port: int, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(msg)


def test_email_in_acknowledged_answered_threaded_and_no_loop(kefu_env):
    from tests.e2e.conftest import kefu_server

    with SmtpSink() as customer_mx:
        env = {
            **kefu_env,
            "KEFU_SMTP_URL": f"smtp://127.0.0.1:{customer_mx.port}?security=none",
            "KEFU_FROM_EMAIL": "support@kefu.test",
        }
        subprocess.run([*KEFU, "shell", "-v0", "-c", MAILBOX], env=env, check=True)
        token = subprocess.run(
            [*KEFU, "token", "create", "li.na"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        smtp_port = free_port()
        listener = subprocess.Popen(
            [*KEFU, "mail", "smtpd", "--port", str(smtp_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with kefu_server(env, name="mail") as base:
                wait_for(lambda: _accepts(smtp_port), what="the SMTP listener")

                question = EmailMessage()
                question["From"] = "刘洋 <liu.yang@example.cn>"
                question["To"] = "support@kefu.test"
                question["Subject"] = "空气净化器 P3 滤网报警"
                question["Message-ID"] = make_msgid(domain="example.cn")
                question.set_content("你好，滤网刚换过，还是一直报警。", charset="gb18030")
                send(smtp_port, question)

                found = wait_for(
                    lambda: api(base, token, "/api/conversations?channel=email")["items"],
                    what="the conversation in the workspace",
                )
                conversation_id = found[0]["id"]
                assert found[0]["subject"] == "空气净化器 P3 滤网报警"

                ack = wait_for(lambda: list(customer_mx.received), what="the acknowledgment")[0]
                ack_msg = ack.message()
                assert ack.rcpt_tos == ["liu.yang@example.cn"]
                assert ack_msg["Auto-Submitted"] == "auto-replied"
                assert ack_msg["In-Reply-To"] == question["Message-ID"]
                assert f"[#{conversation_id}]" in ack_msg["Subject"]
                assert "已收到" in ack_msg.get_body(("plain",)).get_content()

                api(
                    base,
                    token,
                    f"/api/conversations/{conversation_id}/reply",
                    {"body": "您好，请长按复位键 5 秒重置滤网提醒。"},
                )
                reply = wait_for(
                    lambda: customer_mx.received[1:] and customer_mx.received[1],
                    what="the agent's reply",
                )
                reply_msg = reply.message()
                assert reply_msg["In-Reply-To"] == question["Message-ID"]
                assert question["Message-ID"] in reply_msg["References"]
                assert f"[#{conversation_id}]" in reply_msg["Subject"]
                assert "复位键" in reply_msg.get_body(("plain",)).get_content()
                assert reply_msg.get_body(("html",)) is not None

                # The customer's auto-responder answers the acknowledgment: nothing goes back.
                vacation = EmailMessage()
                vacation["From"] = "liu.yang@example.cn"
                vacation["To"] = "support@kefu.test"
                vacation["Subject"] = "自动回复: " + ack_msg["Subject"]
                vacation["In-Reply-To"] = ack_msg["Message-ID"]
                vacation["Auto-Submitted"] = "auto-replied"
                vacation.set_content("我正在休假。")
                send(smtp_port, vacation)
                detail = wait_for(
                    lambda: [
                        m
                        for m in api(base, token, f"/api/conversations/{conversation_id}")[
                            "messages"
                        ]
                        if "休假" in m["body_text"]
                    ],
                    what="the auto-reply in the thread",
                )
                assert detail
                time.sleep(3)  # the worker runs every half second: give a loop time to show
                assert len(customer_mx.received) == 2
        finally:
            listener.terminate()
            listener.wait(timeout=10)


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
