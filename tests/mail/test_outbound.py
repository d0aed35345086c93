"""Agents' replies by email, delivered to a real SMTP server: threading headers, signature,
attachments, retries with backoff, at-most-once delivery, bounces and header injection."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.test import override_settings
from django.utils import timezone

from kefu.conversations import actions
from kefu.conversations.models import Conversation, Message
from kefu.customers.models import ContactPoint, Customer
from kefu.mail import outbound
from kefu.mail.models import InboundEmail, Mailbox, OutboundEmail, Participant
from kefu.mail.smtp_url import parse_smtp_url
from kefu.mail.tasks import retry_outbox
from kefu.staff.models import AgentProfile
from tests.factories import CustomerFactory, make_agent
from tests.mail.smtp_server import SmtpSink, free_port

pytestmark = pytest.mark.django_db

SIGNATURE = "王小明\n客服部 · 400-123-4567"


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server in the test, with Django's SMTP backend pointed at it."""
    with (
        SmtpSink() as sink,
        override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=sink.port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_TIMEOUT=5,
        ),
    ):
        yield sink


@pytest.fixture
def mailbox(db):
    return Mailbox.objects.create(name="客服中心", address="support@kefu.test")


@pytest.fixture
def agent(team_x):
    user = make_agent("xiaoming", team_x)
    AgentProfile.objects.filter(user=user).update(signature=SIGNATURE)
    return user


@pytest.fixture
def conversation(mailbox, team_x):
    customer = CustomerFactory(name="王芳", email="wang.fang@example.cn")
    conversation = actions.open_conversation(
        customer=customer,
        channel="email",
        subject="订单还没到",
        body_text="你好，我的订单一周了还没到。",
        team=team_x,
        external_id="<m2@mail.example.cn>",
        metadata={"from": "wang.fang@example.cn", "references": ["m1@mail.example.cn"]},
    )
    Participant.objects.create(conversation=conversation, email="li.lei@example.cn", name="李雷")
    return conversation


@pytest.fixture
def reply(agent, django_capture_on_commit_callbacks):
    """``reply(conversation, text)``: an agent's answer, with everything that runs on commit
    (the listener, then the send task) run as a real commit would."""

    def send(conversation, text="您好，已经发货了，单号 SF123。", **kw):
        with django_capture_on_commit_callbacks(execute=True):
            return actions.send_reply(conversation, agent=agent, body_text=text, **kw)

    return send


@pytest.fixture
def hold(monkeypatch):
    """Keep queued mail in the outbox (as if no worker ran); the ids it would have sent."""
    held: list[int] = []
    monkeypatch.setattr(outbound, "_enqueue", held.append)
    return held


def row(message: Message) -> OutboundEmail:
    return OutboundEmail.objects.get(conversation_message=message)


def make_due(outbox: OutboundEmail) -> None:
    OutboundEmail.objects.filter(pk=outbox.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_reply_arrives_threaded_with_signature_and_attachment(conversation, reply, smtp_sink):
    message = reply(
        conversation,
        attachments=[actions.NewAttachment("发票.pdf", b"%PDF-1.4 invoice", "application/pdf")],
    )
    message.refresh_from_db()
    outbox = row(message)
    assert (outbox.state, outbox.attempts, message.delivery) == ("sent", 1, "sent")
    assert outbox.sent_at is not None

    [received] = smtp_sink.received
    assert received.mail_from == "support@kefu.test"
    assert received.rcpt_tos == ["wang.fang@example.cn", "li.lei@example.cn"]
    email = received.message()
    assert email["To"] == "王芳 <wang.fang@example.cn>"
    assert email["Cc"] == "李雷 <li.lei@example.cn>"
    assert email["From"] == "客服中心 <support@kefu.test>"
    assert email["Subject"] == f"Re: 订单还没到 [#{conversation.pk}]"
    assert email["Message-ID"] == outbox.message_id
    assert outbox.message_id.startswith("<kefu.") and outbox.message_id.endswith("@kefu.test>")
    assert email["In-Reply-To"] == "<m2@mail.example.cn>"
    assert email["References"] == "<m1@mail.example.cn> <m2@mail.example.cn>"
    assert email["X-Kefu-Loop"] == "kefu.test"
    assert email["Auto-Submitted"] is None  # a person wrote this one

    assert email.get_content_type() == "multipart/mixed"
    alternative = next(p for p in email.iter_parts() if p.get_content_type().startswith("multi"))
    assert alternative.get_content_type() == "multipart/alternative"
    plain = email.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    html = email.get_body(preferencelist=("html",)).get_content()
    assert "已经发货了，单号 SF123。" in plain and "\n-- \n王小明\n客服部 · 400-123-4567" in plain
    assert "已经发货了" in html and "王小明" in html and "客服部" in html
    [attachment] = list(email.iter_attachments())
    assert attachment.get_filename() == "发票.pdf"
    assert attachment.get_content() == b"%PDF-1.4 invoice"


def test_the_reply_is_queued_first_then_sent(conversation, reply, smtp_sink, hold):
    message = reply(conversation)
    message.refresh_from_db()
    outbox = row(message)
    assert (message.delivery, outbox.state, hold) == ("queued", "queued", [outbox.pk])
    assert smtp_sink.received == []
    assert outbound.deliver(outbox.pk) == "sent"
    message.refresh_from_db()
    assert message.delivery == "sent" and len(smtp_sink.received) == 1
    assert outbound.deliver(outbox.pk) == "sent"  # a duplicate task changes nothing
    assert len(smtp_sink.received) == 1


def test_the_token_appears_once_and_prefixes_are_not_stacked(conversation, reply, smtp_sink):
    Conversation.objects.filter(pk=conversation.pk).update(
        subject=f"回复: RE: 订单还没到 [#{conversation.pk}] [#99]"
    )
    reply(conversation)
    subject = smtp_sink.received[0].message()["Subject"]
    assert subject == f"Re: 订单还没到 [#{conversation.pk}]"
    assert subject.count("[#") == 1


def test_reply_goes_to_the_address_the_customer_used_last(conversation, reply, smtp_sink):
    ContactPoint.objects.create(
        customer=conversation.customer, kind="email", value="wf@home.example.cn"
    )
    actions.receive_message(
        conversation,
        body_text="我换了个邮箱",
        channel="email",
        external_id="m3@mail.example.cn",
        metadata={
            "from": "wf@home.example.cn",
            "references": ["m1@mail.example.cn", "m2@mail.example.cn"],
        },
    )
    reply(conversation)
    email = smtp_sink.received[0].message()
    assert email["To"] == "王芳 <wf@home.example.cn>"
    assert email["In-Reply-To"] == "<m3@mail.example.cn>"
    assert email["References"] == ("<m1@mail.example.cn> <m2@mail.example.cn> <m3@mail.example.cn>")
    # A copied colleague writes last: the answer still goes to the customer, threaded on it.
    actions.receive_message(
        conversation,
        body_text="我是她同事",
        channel="email",
        external_id="m4@mail.example.cn",
        metadata={"from": "li.lei@example.cn", "references": ["m3@mail.example.cn"]},
    )
    reply(conversation)
    email = smtp_sink.received[1].message()
    assert (email["To"], email["Cc"]) == ("王芳 <wf@home.example.cn>", "李雷 <li.lei@example.cn>")
    assert email["In-Reply-To"] == "<m4@mail.example.cn>"


def test_reply_comes_from_the_mailbox_the_conversation_came_through(conversation, reply, smtp_sink):
    sales = Mailbox.objects.create(name="Sales", address="sales@kefu.test")
    InboundEmail.objects.create(
        sha256="0" * 64, mailbox=sales, conversation_message=conversation.messages.first()
    )
    message = reply(conversation)
    assert row(message).mailbox == sales
    assert smtp_sink.received[0].mail_from == "sales@kefu.test"
    assert smtp_sink.received[0].message()["X-Kefu-Loop"] == "kefu.test"


def test_chat_replies_are_not_emailed(customer, reply, smtp_sink, mailbox):
    chat = actions.open_conversation(
        customer=customer, channel="chat", subject="hi", body_text="在吗"
    )
    message = reply(chat)
    message.refresh_from_db()
    assert message.delivery == "" and not OutboundEmail.objects.exists()
    assert smtp_sink.received == []


def test_a_customer_without_an_address_is_reported_not_lost(reply, smtp_sink, mailbox):
    nobody = Customer.objects.create(name="无名")
    conversation = actions.open_conversation(
        customer=nobody, channel="email", subject="?", body_text="(unreadable)"
    )
    message = reply(conversation)
    message.refresh_from_db()
    assert message.delivery == "failed"
    assert "no email address" in message.delivery_error
    assert smtp_sink.received == []


def test_a_temporary_refusal_keeps_it_queued_and_a_retry_sends_it_once(
    conversation, reply, smtp_sink
):
    smtp_sink.refuse("451 4.3.0 Try again later")
    before = timezone.now()
    message = reply(conversation)
    message.refresh_from_db()
    outbox = row(message)
    assert (outbox.state, outbox.attempts, message.delivery) == ("queued", 1, "queued")
    assert "451" in outbox.last_error and "451" in message.delivery_error
    assert before + timedelta(seconds=29) < outbox.next_attempt_at
    assert outbox.next_attempt_at < timezone.now() + timedelta(seconds=31)
    assert smtp_sink.received == []

    smtp_sink.accept()
    assert outbound.deliver(outbox.pk) == "queued"  # not due yet: nothing happens
    assert outbound.due_ids() == [] and smtp_sink.attempts == 1

    make_due(outbox)
    assert retry_outbox.enqueue().return_value == 1  # the periodic job picks it up
    outbox.refresh_from_db()
    message.refresh_from_db()
    assert (outbox.state, outbox.attempts, message.delivery) == ("sent", 2, "sent")
    assert message.delivery_error == "" and outbox.last_error == ""
    assert len(smtp_sink.received) == 1
    retry_outbox.enqueue()
    outbound.deliver(outbox.pk)
    assert len(smtp_sink.received) == 1


def test_a_dropped_connection_keeps_it_queued_and_it_is_retried(conversation, reply, smtp_sink):
    smtp_sink.drop_connection(times=1)
    message = reply(conversation)
    outbox = row(message)
    assert outbox.state == "queued" and "Disconnected" in outbox.last_error
    make_due(outbox)
    assert outbound.deliver(outbox.pk) == "sent"
    assert (smtp_sink.attempts, len(smtp_sink.received)) == (2, 1)


def test_an_unreachable_server_keeps_it_queued(conversation, reply, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    outbox = row(reply(conversation))
    assert outbox.state == "queued" and "Connection" in outbox.last_error


def test_backoff_grows_and_it_gives_up_after_six_attempts(conversation, reply, smtp_sink):
    smtp_sink.refuse("421 4.7.0 Too busy")
    message = reply(conversation)
    outbox = row(message)
    delays = []
    for _ in range(5):
        outbox.refresh_from_db()
        assert outbox.state == "queued"
        delays.append(round((outbox.next_attempt_at - timezone.now()).total_seconds() / 60, 1))
        make_due(outbox)
        outbound.deliver(outbox.pk)
    assert delays == [0.5, 2.0, 10.0, 30.0, 120.0]
    outbox.refresh_from_db()
    message.refresh_from_db()
    assert (outbox.state, outbox.attempts) == ("failed", 6)
    assert "gave up after 6 attempts" in outbox.last_error and "421" in outbox.last_error
    assert message.delivery == "failed" and "421" in message.delivery_error
    assert smtp_sink.attempts == 6 and smtp_sink.received == []


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("data", "554 5.7.1 Message rejected as spam"),
        ("rcpt", "550 5.1.1 No such user"),
    ],
)
def test_a_permanent_refusal_fails_at_once_with_the_reason(
    conversation, reply, smtp_sink, fault, reason
):
    if fault == "data":
        smtp_sink.refuse(reason)
    else:
        smtp_sink.refuse_recipients(reason)
    message = reply(conversation)
    message.refresh_from_db()
    outbox = row(message)
    assert (outbox.state, outbox.attempts) == ("failed", 1)
    assert reason in outbox.last_error and reason in message.delivery_error
    assert message.delivery == "failed"
    assert outbound.due_ids() == []


def test_a_crash_after_the_server_accepted_never_sends_twice(
    conversation, reply, smtp_sink, monkeypatch
):
    real = outbound._record_sent

    def crash(row: OutboundEmail) -> None:
        monkeypatch.setattr(outbound, "_record_sent", real)  # fail once
        raise DatabaseError("database went away")

    monkeypatch.setattr(outbound, "_record_sent", crash)
    message = reply(conversation)
    outbox = row(message)
    assert outbox.state == "sending" and len(smtp_sink.received) == 1

    assert outbound.due_ids() == []  # a worker may still be busy with it
    OutboundEmail.objects.filter(pk=outbox.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    retry_outbox.enqueue()
    outbox.refresh_from_db()
    message.refresh_from_db()
    assert outbox.state == "failed" and outbox.last_error == outbound.UNCERTAIN
    assert message.delivery == "failed" and "check before resending" in message.delivery_error
    outbound.deliver(outbox.pk)
    retry_outbox.enqueue()
    assert len(smtp_sink.received) == 1


def test_a_lost_enqueue_is_picked_up_by_the_retry_job(conversation, reply, smtp_sink, hold):
    outbox = row(reply(conversation))
    assert outbound.due_ids() == []  # just queued: its own task is on its way
    OutboundEmail.objects.filter(pk=outbox.pk).update(
        created_at=timezone.now() - timedelta(minutes=2)
    )
    assert retry_outbox.enqueue().return_value == 1
    assert len(smtp_sink.received) == 1


def test_cr_lf_in_names_and_subjects_injects_no_header(conversation, reply, smtp_sink):
    evil = "\r\nBcc: evil@attacker.example\r\nX-Injected: yes"
    Customer.objects.filter(pk=conversation.customer_id).update(name=f"王芳{evil}")
    Participant.objects.filter(conversation=conversation).update(name=f"李雷{evil}")
    Conversation.objects.filter(pk=conversation.pk).update(subject=f"订单{evil}")
    reply(conversation)
    outbound.queue_email(
        conversation=conversation,
        kind="reply",
        to=[(f"x{evil}", "wang.fang@example.cn")],
        subject=f"hello{evil}\nX-Other: 1",
        body_text="hi",
        in_reply_to=f"<a@b>{evil}",
        references=f"<a@b>{evil}",
    )
    outbound.deliver(OutboundEmail.objects.latest("id").pk)
    assert len(smtp_sink.received) == 2
    for received in smtp_sink.received:
        assert "evil@attacker.example" not in received.rcpt_tos
        head = received.content.split(b"\r\n\r\n", 1)[0]
        lines = head.split(b"\r\n")
        assert not any(
            line.lower().startswith((b"bcc:", b"x-injected", b"x-other")) for line in lines
        )
        email = received.message()
        assert email["Bcc"] is None and email["X-Injected"] is None
    assert "Bcc: evil@attacker.example" in smtp_sink.received[0].message()["Subject"]


def test_acknowledgments_are_marked_auto_submitted(conversation, smtp_sink, mailbox):
    outbox = outbound.queue_email(
        conversation=conversation,
        kind="ack",
        to=["wang.fang@example.cn"],
        subject="已收到 [#1]",
        body_text="我们已收到您的邮件。",
        mailbox=mailbox,
        auto_reply=True,
        in_reply_to="m2@mail.example.cn",
    )
    assert outbox.to == ["wang.fang@example.cn"] and outbox.in_reply_to == "<m2@mail.example.cn>"
    assert outbound.deliver(outbox.pk) == "sent"
    email = smtp_sink.received[0].message()
    assert email["Auto-Submitted"] == "auto-replied"
    assert email["X-Kefu-Loop"] == "kefu.test"
    assert email.get_content_type() == "text/plain"
    with pytest.raises(ValueError, match="acknowledgments"):
        outbound.queue_email(
            conversation=conversation,
            kind="reply",
            to=["a@b.cn"],
            subject="x",
            body_text="x",
            auto_reply=True,
        )
    with pytest.raises(ValueError, match="recipient"):
        outbound.queue_email(
            conversation=conversation,
            kind="reply",
            to=["not an address"],
            subject="x",
            body_text="x",
        )


def test_a_bounce_marks_our_message_failed(conversation, reply, smtp_sink):
    message = reply(conversation)
    outbox = row(message)
    bare = outbox.message_id.strip("<>")
    assert outbound.mark_bounced(bare, "5.1.1 wang.fang@example.cn: user unknown") is True
    outbox.refresh_from_db()
    message.refresh_from_db()
    assert outbox.state == "failed" and "user unknown" in outbox.last_error
    assert message.delivery == "failed" and "bounced: 5.1.1" in message.delivery_error
    assert outbound.mark_bounced("<someone-else@example.cn>", "x") is False
    assert outbound.mark_bounced("", "x") is False


# KEFU_SMTP_URL -------------------------------------------------------------------------------


def test_smtp_url_is_parsed_into_django_settings():
    parsed = parse_smtp_url("smtp://kefu%40corp.cn:p%40ss%3Aw0rd@smtp.corp.cn:2587?timeout=12")
    assert parsed.as_django_settings() == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "smtp.corp.cn",
        "EMAIL_PORT": 2587,
        "EMAIL_HOST_USER": "kefu@corp.cn",
        "EMAIL_HOST_PASSWORD": "p@ss:w0rd",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
        "EMAIL_TIMEOUT": 12.0,
    }
    assert parse_smtp_url("smtps://u:p@mail.example.com").port == 465
    relay = parse_smtp_url("smtp://127.0.0.1?security=none")
    assert (relay.port, relay.security, relay.user, relay.timeout) == (25, "none", "", 30.0)
    assert parse_smtp_url("smtp://h?security=ssl").port == 465


@pytest.mark.parametrize(
    "url",
    [
        "http://smtp.example.com",
        "smtp://",
        "smtp://u:secret@host:notaport",
        "smtp://host?security=tls",
        "smtp://host?timeout=soon",
        "smtp://host?timeout=0",
        "smtp://host?sercurity=none",
        "smtp://host/path",
        "smtps://host?security=starttls",
        "smtp://:secret@host",
    ],
)
def test_a_malformed_smtp_url_is_a_clear_configuration_error(url):
    with pytest.raises(ImproperlyConfigured, match="KEFU_SMTP_URL is not valid") as info:
        parse_smtp_url(url)
    assert "secret" not in str(info.value)


def _settings_in_a_fresh_process(tmp_path, smtp_url: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'kefu.settings'; "
        "django.setup(); from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, "
        "s.EMAIL_HOST_PASSWORD, s.EMAIL_USE_TLS, s.EMAIL_USE_SSL, s.EMAIL_TIMEOUT)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "PYTEST", "DJANGO_"))}
    env.update(
        KEFU_DEBUG="1",
        KEFU_DATA_DIR=str(tmp_path),
        KEFU_SMTP_URL=smtp_url,
        PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"),
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_settings_take_the_smtp_url(tmp_path):
    result = _settings_in_a_fresh_process(
        tmp_path, "smtp://kefu:s%3Acret@mail.example.com:2525?security=none&timeout=7"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "mail.example.com",
        "2525",
        "kefu",
        "s:cret",
        "False",
        "False",
        "7.0",
    ]


def test_settings_refuse_a_malformed_smtp_url_without_showing_the_password(tmp_path):
    result = _settings_in_a_fresh_process(tmp_path, "smtp://kefu:hunter2@mail.example.com:99999")
    assert result.returncode != 0
    assert "KEFU_SMTP_URL is not valid" in result.stderr and "hunter2" not in result.stderr
