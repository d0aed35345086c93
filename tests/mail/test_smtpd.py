"""kefu's SMTP listener, spoken to with a real SMTP client (smtplib) over a real socket."""

from __future__ import annotations

import hashlib
import smtplib
import threading
import time
from email.header import Header

import pytest

from kefu.mail import batch as batch_module
from kefu.mail.ingest import IngestError, StorageError
from kefu.mail.models import InboundEmail, Mailbox
from kefu.mail.smtpd import make_controller, serve
from tests.mail.smtp_server import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def mailbox(db):
    return Mailbox.objects.create(name="客服", address="support@kefu.test", auto_acknowledge=False)


@pytest.fixture
def listener(mailbox):
    """kefu's listener on a free loopback port; yields the port."""
    port = free_port()
    controller = make_controller("127.0.0.1", port)
    controller.start()
    yield port
    controller.stop()


@pytest.fixture
def calls(monkeypatch):
    """Replace the listener's door (store, then the worker processes) by a recorder (fault
    injection: set ``calls.error``)."""

    class Calls(list):
        error: Exception | None = None

    recorded = Calls()

    def fake_ingest(raw, *, mailbox=None, source="pipe"):
        recorded.append((raw, mailbox, source))
        if recorded.error is not None:
            raise recorded.error
        return InboundEmail(sha256="x")

    monkeypatch.setattr(batch_module, "accept", fake_ingest)
    return recorded


def chinese_email(to: str = "support@kefu.test") -> bytes:
    """What a Chinese mail client sends: a GBK subject (RFC 2047) and an 8-bit GBK body."""
    subject = Header("订单还没到", "gbk").encode()
    name = Header("王芳", "gbk").encode()
    head = (
        f"From: {name} <wang.fang@example.cn>\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject}\r\n"
        "Date: Fri, 20 Nov 2026 09:30:00 +0800\r\n"
        "Message-ID: <20261120093000.1234@mail.example.cn>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=GBK\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode("ascii") + "你好，我的订单 KF-1001 一周了还没到。\r\n".encode("gbk")


def send(port: int, raw: bytes, rcpts: list[str]) -> tuple[int, bytes]:
    """One SMTP transaction; returns the server's reply to DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("mx.example.cn")
        code, reply = client.mail("wang.fang@example.cn")
        assert code == 250, reply
        for rcpt in rcpts:
            code, reply = client.rcpt(rcpt)
            assert code == 250, reply
        return client.data(raw)


def test_a_real_client_delivers_a_chinese_message(listener):
    raw = chinese_email()
    code, reply = send(listener, raw, ["Support@Kefu.Test"])
    assert (code, reply) == (250, b"Message accepted")
    record = InboundEmail.objects.get()
    assert (record.source, record.mailbox.address) == ("smtp", "support@kefu.test")
    assert record.sha256 == hashlib.sha256(raw).hexdigest()
    with record.raw.open("rb") as handle:
        assert handle.read() == raw  # stored byte for byte
    assert record.state == InboundEmail.State.INGESTED
    conversation = record.conversation_message.conversation
    assert (conversation.channel, conversation.subject) == ("email", "订单还没到")
    assert "一周了还没到" in record.conversation_message.body_text


def test_ingest_gets_the_raw_bytes_and_the_addressed_mailbox(listener, calls, mailbox):
    sales = Mailbox.objects.create(name="Sales", address="sales@kefu.test")
    raw = chinese_email(to="sales@kefu.test")
    assert send(listener, raw, ["sales@kefu.test"])[0] == 250
    assert calls == [(raw, sales, "smtp")]


def test_strangers_are_refused_no_open_relay(listener, calls, mailbox):
    Mailbox.objects.create(name="Old", address="old@kefu.test", active=False)
    with smtplib.SMTP("127.0.0.1", listener, timeout=30) as client:
        client.ehlo("mx.example.cn")
        client.mail("spammer@example.net")
        for stranger in ("victim@gmail.example", "old@kefu.test", "support@kefu.test.evil.cn"):
            code, reply = client.rcpt(stranger)
            assert code == 550, (stranger, reply)
        assert client.rcpt("support@kefu.test")[0] == 250
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        smtplib.SMTP("127.0.0.1", listener, timeout=30).sendmail(
            "spammer@example.net", ["victim@gmail.example"], chinese_email()
        )
    assert calls == []


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (StorageError("disk full"), 451),  # the sender's server keeps it and retries
        (RuntimeError("bug"), 451),
        (IngestError("quarantined"), 250),  # stored; a retry would not help
    ],
)
def test_a_storage_failure_asks_the_sender_to_retry(listener, calls, error, expected):
    calls.error = error
    code, reply = send(listener, chinese_email(), ["support@kefu.test"])
    assert code == expected
    if expected == 451:
        assert reply == b"4.3.0 Temporary failure, try again"
    assert len(calls) == 1


def test_oversized_messages_are_refused_and_long_lines_taken(settings, mailbox, calls):
    settings.KEFU_MAX_EMAIL_BYTES = 20_000
    port = free_port()
    controller = make_controller("127.0.0.1", port)
    controller.start()
    try:
        big = chinese_email() + b"x" * 76 + b"\r\n" * 400
        big += (b"y" * 76 + b"\r\n") * 300
        assert send(port, big, ["support@kefu.test"])[0] == 552
        long_line = chinese_email() + b"<p>" + b"z" * 5000 + b"</p>\r\n"
        assert send(port, long_line, ["support@kefu.test"])[0] == 250
    finally:
        controller.stop()
    assert [raw for raw, _, _ in calls] == [long_line]


def test_serve_runs_until_stopped(mailbox, calls):
    port, stop = free_port(), threading.Event()
    thread = threading.Thread(target=serve, args=("127.0.0.1", port), kwargs={"stop": stop})
    thread.start()
    try:
        for _ in range(100):
            try:
                assert send(port, chinese_email(), ["support@kefu.test"])[0] == 250
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive() and len(calls) == 1
