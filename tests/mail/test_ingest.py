"""Inbound email through the one `ingest` door: storage first, threading, identity, loops."""

from __future__ import annotations

import io
import sys

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from kefu.conversations.models import Conversation, Message
from kefu.customers.models import ContactPoint
from kefu.mail import ingest as ingest_module
from kefu.mail.ingest import StorageError, ingest, process, reprocess_pending, store
from kefu.mail.models import InboundEmail, Mailbox, OutboundEmail, Participant
from tests.mail.builders import raw_email

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def mailbox(team_x):
    return Mailbox.objects.create(name="Support", address="support@kefu.test", team=team_x)


def acks():
    return OutboundEmail.objects.filter(kind="ack")


def test_new_email_becomes_a_conversation_with_one_acknowledgment(mailbox, team_x):
    raw = raw_email(cc="Li Lei <li.lei@example.cn>, support@kefu.test")
    record = ingest(raw, mailbox=mailbox, source="pipe")
    assert record.state == InboundEmail.State.INGESTED
    with record.raw.open("rb") as f:
        assert f.read() == raw  # the raw bytes are kept as they came
    conversation = record.conversation_message.conversation
    assert (conversation.channel, conversation.team, conversation.subject) == (
        "email",
        team_x,
        "订单还没到",
    )
    assert conversation.customer.name == "王芳"
    assert ContactPoint.objects.filter(
        customer=conversation.customer, value="wang.fang@example.cn"
    ).exists()
    assert conversation.language == "zh-hans"
    assert list(Participant.objects.values_list("email", flat=True)) == ["li.lei@example.cn"]
    ack = acks().get()
    assert ack.to == ["wang.fang@example.cn"]
    assert f"[#{conversation.pk}]" in ack.subject
    assert "已收到" in ack.body_text and f"#{conversation.pk}" in ack.body_text
    assert ack.in_reply_to == f"<{record.message_id}>"


def test_traditional_and_english_customers_get_their_language(mailbox):
    ingest(
        raw_email(
            sender="chan@example.hk",
            name="陳大文",
            subject="保固問題",
            body="請問這台機器的保固期是多久？謝謝。",
        ),
        mailbox=mailbox,
    )
    ingest(
        raw_email(
            sender="sam@example.com",
            name="Sam",
            subject="Warranty",
            body="How long is the warranty on my kettle?",
        ),
        mailbox=mailbox,
    )
    bodies = {a.to[0]: a.body_text for a in acks()}
    assert "來信" in bodies["chan@example.hk"]
    assert "We have received your message" in bodies["sam@example.com"]


def test_the_same_bytes_twice_are_one_message(mailbox):
    raw = raw_email()
    first = ingest(raw, mailbox=mailbox)
    second = ingest(raw, mailbox=mailbox)
    assert first.pk == second.pk
    assert Message.objects.count() == 1
    assert acks().count() == 1


def test_the_same_message_id_twice_is_one_message(mailbox):
    ingest(raw_email(message_id="<same@example.cn>"), mailbox=mailbox)
    again = ingest(
        raw_email(message_id="<same@example.cn>", headers={"Received": "from relay2"}),
        mailbox=mailbox,
    )
    assert again.state == InboundEmail.State.DUPLICATE
    assert Message.objects.count() == 1
    assert InboundEmail.objects.count() == 2  # both raw copies are kept


def test_a_reply_to_our_acknowledgment_threads_and_is_not_acknowledged(mailbox):
    first = ingest(raw_email(), mailbox=mailbox)
    conversation = first.conversation_message.conversation
    ack = acks().get()
    reply = ingest(
        raw_email(
            subject=f"Re: {ack.subject}",
            body="补充：订单号 KF-1001。\n\n在 2026年11月20日 写道：\n> 我们已收到",
            in_reply_to=ack.message_id,
            references=ack.message_id,
        ),
        mailbox=mailbox,
    )
    assert reply.conversation_message.conversation == conversation
    assert acks().count() == 1
    assert (
        reply.conversation_message.body_text == "补充：订单号 KF-1001。"
    )  # the quote is folded away
    assert "我们已收到" in reply.conversation_message.metadata["quoted"]


def test_a_reply_reopens_a_solved_conversation_and_a_closed_one_gets_a_follow_up(mailbox, agent_x):
    from kefu.conversations import actions

    first = ingest(raw_email(message_id="<a1@example.cn>"), mailbox=mailbox)
    conversation = first.conversation_message.conversation
    actions.set_status(conversation, actor=agent_x, status="solved")
    ingest(raw_email(in_reply_to="<a1@example.cn>", body="还是没到"), mailbox=mailbox)
    conversation.refresh_from_db()
    assert conversation.status == "open"
    actions.set_status(conversation, actor=agent_x, status="closed")
    later = ingest(raw_email(in_reply_to="<a1@example.cn>", body="又出问题了"), mailbox=mailbox)
    assert later.conversation_message.conversation != conversation


def test_subject_token_threads_only_for_the_conversations_own_people(mailbox):
    first = ingest(raw_email(cc="li.lei@example.cn"), mailbox=mailbox)
    conversation = first.conversation_message.conversation
    own = ingest(
        raw_email(subject=f"[#{conversation.pk}] 追问", body="怎么样了？"), mailbox=mailbox
    )
    copied = ingest(
        raw_email(
            sender="li.lei@example.cn",
            name="李雷",
            subject=f"Re: [#{conversation.pk}]",
            body="我是同事",
        ),
        mailbox=mailbox,
    )
    stranger = ingest(
        raw_email(
            sender="mallory@evil.example",
            name="Mallory",
            subject=f"Re: 订单还没到 [#{conversation.pk}]",
            body="给我看看",
        ),
        mailbox=mailbox,
    )
    assert own.conversation_message.conversation == conversation
    assert copied.conversation_message.conversation == conversation
    assert stranger.conversation_message.conversation != conversation
    assert stranger.conversation_message.conversation.customer != conversation.customer


def test_a_forged_reference_to_someone_elses_conversation_opens_a_new_one(mailbox):
    first = ingest(raw_email(message_id="<victim@example.cn>"), mailbox=mailbox)
    forged = ingest(
        raw_email(
            sender="mallory@evil.example",
            in_reply_to="<victim@example.cn>",
            references="<victim@example.cn>",
            body="reply-all from a stranger",
        ),
        mailbox=mailbox,
    )
    assert forged.conversation_message.conversation != first.conversation_message.conversation


def test_subject_threading_when_the_mailbox_allows_it(mailbox):
    mailbox.thread_by_subject_days = 7
    mailbox.save()
    first = ingest(raw_email(subject="发票"), mailbox=mailbox)
    second = ingest(raw_email(subject="回复：发票", body="再问一次"), mailbox=mailbox)
    other = ingest(raw_email(subject="另一件事"), mailbox=mailbox)
    assert second.conversation_message.conversation == first.conversation_message.conversation
    assert other.conversation_message.conversation != first.conversation_message.conversation


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"List-Id": "<news.example.cn>"},
        {"X-Auto-Response-Suppress": "All"},
    ],
)
def test_automatic_mail_is_kept_but_never_answered(mailbox, headers):
    record = ingest(raw_email(headers=headers), mailbox=mailbox)
    assert record.state == InboundEmail.State.INGESTED
    assert record.conversation_message is not None
    assert acks().count() == 0


def test_robot_senders_and_our_own_address_get_no_answer(mailbox):
    ingest(raw_email(sender="MAILER-DAEMON@example.cn", name=""), mailbox=mailbox)
    own = ingest(raw_email(sender="support@kefu.test", name="kefu"), mailbox=mailbox)
    assert own.state == InboundEmail.State.IGNORED
    assert acks().count() == 0


def test_a_loop_with_an_auto_responder_stops_at_the_first_message(mailbox):
    """kefu acknowledges a customer; the customer's auto-responder answers the acknowledgment
    (without references, as some do); kefu must not answer it back."""
    ingest(raw_email(sender="holiday@example.cn"), mailbox=mailbox)
    for _ in range(3):
        ingest(
            raw_email(
                sender="holiday@example.cn",
                subject="自动回复：我正在休假",
                body="您好，我正在休假，假期结束后回复。",
            ),
            mailbox=mailbox,
        )
    assert acks().count() == 1


def test_flood_of_new_mail_gets_at_most_the_hourly_acknowledgments(mailbox):
    mailbox.max_auto_replies_per_hour = 2
    mailbox.save()
    for i in range(5):
        ingest(raw_email(subject=f"问题 {i}"), mailbox=mailbox)
    assert Conversation.objects.count() == 5
    assert acks().count() == 2


def test_a_processing_failure_still_opens_a_conversation_with_the_raw_source(mailbox, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(ingest_module, "find_conversation", explode)
    raw = raw_email(subject="会出错的邮件")
    record = ingest(raw, mailbox=mailbox)
    assert record.state == InboundEmail.State.FAILED
    conversation = record.conversation_message.conversation
    attachment = record.conversation_message.attachments.get()
    with attachment.file.open("rb") as f:
        assert f.read() == raw
    assert conversation.messages.filter(direction="note", body_text__contains="parser bug").exists()


def test_a_crash_between_storing_and_processing_is_processed_exactly_once(mailbox):
    raw = raw_email()
    record, created = store(raw, mailbox=mailbox, source="imap")  # ...then the worker died
    assert created and record.state == InboundEmail.State.STORED
    assert reprocess_pending() == 1
    assert reprocess_pending() == 0
    process(record.pk)  # a late duplicate attempt changes nothing
    assert Conversation.objects.count() == 1
    assert ingest(raw, mailbox=mailbox).pk == record.pk
    assert Message.objects.count() == 1


def test_storage_failure_raises_and_records_nothing(mailbox, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(default_storage, "save", refuse)
    with pytest.raises(StorageError):
        ingest(raw_email(), mailbox=mailbox)
    assert InboundEmail.objects.count() == 0


class _Stdin:
    def __init__(self, data: bytes):
        self.buffer = io.BytesIO(data)


def test_pipe_command_stores_even_garbage_and_exits_75_when_it_cannot_store(mailbox, monkeypatch):
    monkeypatch.setattr(sys, "stdin", _Stdin(b"\x00\xff not an email at all \r\n\r\n\x80"))
    call_command("mail", "ingest", "--mailbox", "support@kefu.test", stdout=io.StringIO())
    assert InboundEmail.objects.count() == 1
    assert Conversation.objects.count() == 1

    def refuse(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(default_storage, "save", refuse)
    monkeypatch.setattr(sys, "stdin", _Stdin(raw_email()))
    with pytest.raises(SystemExit) as exit_info:
        call_command("mail", "ingest", stdout=io.StringIO(), stderr=io.StringIO())
    assert exit_info.value.code == 75


def test_a_bounce_marks_our_reply_failed(mailbox, agent_x):
    from kefu.conversations import actions

    record = ingest(raw_email(), mailbox=mailbox)
    ours = acks().get()
    dsn = (
        "From: MAILER-DAEMON@mx.example.cn\r\nTo: support@kefu.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.example.cn>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.cn\r\n\r\n"
        "Final-Recipient: rfc822; wang.fang@example.cn\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {ours.message_id}\r\nSubject: {ours.subject}\r\n\r\n--B--\r\n"
    ).encode()
    bounce = ingest(dsn, mailbox=mailbox)
    assert bounce.state == InboundEmail.State.BOUNCE
    ours.refresh_from_db()
    assert ours.state == "failed" and "5.1.1" in ours.last_error
    assert Conversation.objects.count() == 1  # a bounce is not a customer conversation
    assert record.conversation_message.conversation.messages.count() == 1
    del actions


def test_a_message_with_ten_thousand_parts_is_handled_with_a_notice(mailbox):
    parts = "".join(f"--B\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(10_000))
    raw = (
        "From: a@example.cn\r\nTo: support@kefu.test\r\nSubject: many parts\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
        f"{parts}--B--\r\n"
    ).encode()
    record = ingest(raw, mailbox=mailbox)
    assert record.state == InboundEmail.State.INGESTED
    notes = record.conversation_message.conversation.messages.filter(direction="note")
    assert notes.filter(body_text__icontains="part").exists()


def test_an_oversized_attachment_is_reported_not_dropped_silently(mailbox, settings):
    from email.message import EmailMessage

    settings.KEFU_MAX_ATTACHMENT_BYTES = 1000
    msg = EmailMessage()
    msg["From"] = "a@example.cn"
    msg["To"] = "support@kefu.test"
    msg["Subject"] = "big file"
    msg.set_content("see attached")
    msg.add_attachment(
        b"x" * 5000, maintype="application", subtype="octet-stream", filename="big.bin"
    )
    msg.add_attachment(b"small", maintype="text", subtype="plain", filename="small.txt")
    record = ingest(bytes(msg), mailbox=mailbox)
    message = record.conversation_message
    assert [a.filename for a in message.attachments.all()] == ["small.txt"]
    assert message.metadata["oversized"] == [{"filename": "big.bin", "size": 5000}]
    assert message.conversation.messages.filter(
        direction="note", body_text__contains="big.bin"
    ).exists()


def test_a_30_mb_message_is_stored_whole_and_read_within_the_memory_cap(mailbox, settings):
    import tracemalloc

    settings.KEFU_MAX_PARSE_BYTES = 5 * 1024 * 1024
    body = ("A" * 76 + "\r\n") * (30 * 1024 * 1024 // 78)
    raw = (
        "From: big@example.cn\r\nTo: support@kefu.test\r\nSubject: 大附件\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
    ).encode()
    tracemalloc.start()
    record = ingest(raw, mailbox=mailbox)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert record.state == InboundEmail.State.INGESTED
    assert record.size == len(raw)
    message = record.conversation_message
    assert "MB" in message.body_text and message.conversation.subject == "大附件"
    assert message.conversation.messages.filter(direction="note").exists()
    # Storing and hashing hold the raw message; parsing it whole would take several times more.
    assert peak < 4 * len(raw)


def test_a_forged_message_id_imitating_ours_gives_no_agent_rights(mailbox, agent_x):
    """Mail claiming to come from an agent, with a Message-ID in kefu's own format, is still
    a customer's inbound message: email never authenticates anyone as an agent."""
    agent_x.email = "agent.x@kefu.test"
    agent_x.save()
    record = ingest(
        raw_email(
            sender="agent.x@kefu.test",
            name="Agent X",
            message_id="<kefu.0123456789abcdef@kefu.test>",
            headers={"X-Kefu-Loop": "kefu.test"},
            body="把这个会话转给我",
        ),
        mailbox=mailbox,
    )
    message = record.conversation_message
    assert message.direction == Message.Direction.IN
    assert message.author_agent is None
    assert message.author_customer is not None
    assert acks().count() == 0  # and it looks like our own mail: no answer


def test_inline_cid_images_are_shown_from_their_attachment(mailbox, client, agent_x):
    from email.message import EmailMessage

    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00"
        b"\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05"
        b"\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    msg = EmailMessage()
    msg["From"] = "photo@example.cn"
    msg["To"] = "support@kefu.test"
    msg["Subject"] = "机器坏了，看图"
    msg.set_content("see the picture")
    msg.add_alternative('<p>坏在这里：<img src="cid:pic1@example.cn"></p>', subtype="html")
    msg.get_payload()[1].add_related(
        png, maintype="image", subtype="png", cid="<pic1@example.cn>", filename="broken.png"
    )
    record = ingest(bytes(msg), mailbox=mailbox)
    conversation = record.conversation_message.conversation
    client.force_login(agent_x)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    attachment = record.conversation_message.attachments.get(filename="broken.png")
    src = f"/c/{conversation.pk}/attachments/{attachment.pk}/?inline=1"
    assert f'src="{src}"' in page
    image = client.get(src)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == png
    download = client.get(src.replace("?inline=1", ""))
    assert download["Content-Type"] == "application/octet-stream"
    assert "attachment" in download["Content-Disposition"]


def test_the_same_bytes_again_leave_one_raw_file(mailbox, settings):
    raw = raw_email()
    first = ingest(raw, mailbox=mailbox)
    ingest(raw, mailbox=mailbox)
    folder = (settings.MEDIA_ROOT / first.raw.name).parent
    assert [p.name for p in folder.iterdir()] == [first.raw.name.rsplit("/", 1)[-1]]


def test_a_mailbox_added_is_one_of_our_own_addresses_at_once(mailbox):
    ingest(raw_email(sender="orders@kefu.test"), mailbox=mailbox)  # a customer, for now
    Mailbox.objects.create(name="Orders", address="orders@kefu.test")
    looped = ingest(raw_email(sender="orders@kefu.test", subject="again"), mailbox=mailbox)
    assert looped.state == InboundEmail.State.IGNORED


def test_with_the_database_queue_the_outbox_task_commits_with_the_outbox_row(mailbox, settings):
    from django.db import transaction
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    with pytest.raises(RuntimeError), transaction.atomic():
        ingest(raw_email(subject="rolled back"), mailbox=mailbox)
        assert DBTaskResult.objects.count() == 1  # written with the outbox row...
        raise RuntimeError
    assert not DBTaskResult.objects.exists()  # ...and gone with it
    ingest(raw_email(), mailbox=mailbox)
    task = DBTaskResult.objects.get()
    assert task.args_kwargs["args"] == [acks().get().pk]


def test_a_new_message_costs_a_bounded_number_of_queries(mailbox, django_assert_max_num_queries):
    ingest(raw_email(message_id="<warm@example.cn>"), mailbox=mailbox)  # caches warmed
    # 27 today, savepoints included: store, claim, Message-ID check, customer (look-up,
    # customer, contact point, timeline), conversation, message, timeline, first message id,
    # the row, acknowledgment (flood count, outbox, task, log, timeline). Catch creep early.
    with django_assert_max_num_queries(30):
        ingest(raw_email(sender="new@example.cn", cc=""), mailbox=mailbox)
