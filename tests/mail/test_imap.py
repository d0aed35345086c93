"""The IMAP poller against a real Dovecot (tests/mail/dovecot.py): nothing mocked on the IMAP
side; faults are injected into ingestion and storage only."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage
from django.db import transaction
from imapclient.exceptions import CapabilityError

from kefu.conversations.models import Conversation
from kefu.mail import imap
from kefu.mail.imap import (
    ImapConfigurationError,
    PollResult,
    connect,
    idle_loop,
    poll_all,
    poll_mailbox,
)
from kefu.mail.ingest import ingest as real_ingest
from kefu.mail.models import InboundEmail, Mailbox
from tests.mail.builders import raw_email
from tests.mail.conftest import make_imap_mailbox

ZH = Path(__file__).resolve().parents[3] / "shared" / "data" / "mail" / "zh"
PROCESSED = "$KefuProcessed"
QUARANTINED = "$KefuQuarantined"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


def zh_message(name: str) -> bytes:
    path = ZH / name
    if not path.exists():
        pytest.skip(f"the shared mail corpus is not beside the repository ({path})")
    return path.read_bytes()


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def subjects() -> set[str]:
    return set(Conversation.objects.values_list("subject", flat=True))


def test_poll_ingests_every_message_then_flags_it_and_a_second_poll_finds_nothing(
    imap_mailbox, imap_account
):
    gbk = zh_message("gbk_8bit_body.eml")  # 8-bit GBK body, RFC 2047 GBK subject
    uids = [
        imap_account.append(raw_email(subject="订单还没到", sender="wang@example.cn")),
        imap_account.append(gbk),
        imap_account.append(
            raw_email(
                subject="Invoice please",
                sender="bob@example.com",
                name="Bob",
                body="Please send the invoice.",
            )
        ),
    ]

    result = poll_mailbox(imap_mailbox)

    assert (result.fetched, result.ingested, result.duplicates, result.quarantined) == (3, 3, 0, 0)
    assert subjects() == {"订单还没到", "投诉:维修三次仍未修好", "Invoice please"}
    complaint = Conversation.objects.get(subject="投诉:维修三次仍未修好")
    assert "空调已经维修三次还是不制冷" in complaint.messages.order_by("id")[0].body_text
    assert complaint.channel == "email"
    assert set(InboundEmail.objects.values_list("source", flat=True)) == {"imap"}
    assert all(r.mailbox == imap_mailbox for r in InboundEmail.objects.all())
    flags = imap_account.flags()
    assert set(flags) == set(uids)
    for uid in uids:
        assert {PROCESSED, "\\Seen"} <= flags[uid]
        assert QUARANTINED not in flags[uid]

    again = poll_mailbox(imap_mailbox)
    assert (again.fetched, again.ingested) == (0, 0)
    assert Conversation.objects.count() == 3
    assert str(result) == ("fetched 3, ingested 3, duplicates 0, quarantined 0, deferred 0")


def test_nothing_is_marked_on_the_server_while_ingest_runs(imap_mailbox, imap_account, monkeypatch):
    imap_account.append(raw_email(subject="第一封"))
    imap_account.append(zh_message("gb2312_label_gbk_chars.eml"))
    seen_during_ingest: list[set[str]] = []

    def watching_ingest(raw: bytes, **kwargs):
        # Another connection sees the message unread and unflagged: BODY.PEEK, no early flag.
        seen_during_ingest.append(set().union(*imap_account.flags().values()))
        return real_ingest(raw, **kwargs)

    monkeypatch.setattr(imap, "ingest", watching_ingest)
    result = poll_mailbox(imap_mailbox)

    assert result.ingested == 2
    assert PROCESSED not in seen_during_ingest[0] and "\\Seen" not in seen_during_ingest[0]
    assert "保温杯" in Conversation.objects.get(subject__contains="保温杯").subject
    assert all(PROCESSED in f for f in imap_account.flags().values())


class WorkerKilled(BaseException):
    """The worker process dying (SIGKILL, OOM) right after ingest committed."""


def test_a_worker_killed_after_ingest_but_before_flagging_ingests_exactly_once(
    imap_mailbox, imap_account, monkeypatch
):
    uid = imap_account.append(raw_email(subject="保修卡丢了"))

    def ingest_then_die(raw: bytes, **kwargs):
        real_ingest(raw, **kwargs)  # stored and processed: its transaction committed
        raise WorkerKilled

    monkeypatch.setattr(imap, "ingest", ingest_then_die)
    with pytest.raises(WorkerKilled):
        poll_mailbox(imap_mailbox)
    # The database has it, but the server was not told: no flag before ingest returns.
    assert InboundEmail.objects.get().state == InboundEmail.State.INGESTED
    assert PROCESSED not in imap_account.flags()[uid]

    monkeypatch.setattr(imap, "ingest", real_ingest)  # the worker restarts
    result = poll_mailbox(imap_mailbox)
    assert (result.fetched, result.ingested, result.duplicates) == (1, 0, 1)
    assert InboundEmail.objects.count() == 1
    assert Conversation.objects.count() == 1
    assert PROCESSED in imap_account.flags()[uid]


def test_polling_inside_a_transaction_is_refused(imap_mailbox, imap_account):
    uid = imap_account.append(raw_email())
    with transaction.atomic(), pytest.raises(RuntimeError, match="outside a database"):
        poll_mailbox(imap_mailbox)  # flags would be set before the outer commit
    assert PROCESSED not in imap_account.flags()[uid]
    assert not InboundEmail.objects.exists()


def test_a_poison_message_is_quarantined_with_an_alert_and_the_others_go_through(
    imap_mailbox, imap_account, monkeypatch, caplog
):
    before = imap_account.append(raw_email(subject="之前"))
    poison = imap_account.append(raw_email(subject="POISON 毒"))
    after = imap_account.append(raw_email(subject="之后"))
    calls: list[bytes] = []

    def poisoned_ingest(raw: bytes, **kwargs):
        calls.append(raw)
        if b"POISON" in raw:
            raise ValueError("cannot digest this one")
        return real_ingest(raw, **kwargs)

    monkeypatch.setattr(imap, "ingest", poisoned_ingest)
    with caplog.at_level(logging.ERROR, logger="kefu.mail.imap"):
        result = poll_mailbox(imap_mailbox)

    assert (result.fetched, result.ingested, result.quarantined) == (3, 2, 1)
    assert subjects() == {"之前", "之后"}
    flags = imap_account.flags()
    assert {QUARANTINED, "\\Flagged"} <= flags[poison]
    assert PROCESSED not in flags[poison] and "\\Seen" not in flags[poison]
    assert PROCESSED in flags[before] and PROCESSED in flags[after]
    alerts = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(alerts) == 1
    text = alerts[0].getMessage()
    assert imap_mailbox.name in text and f"UID {poison}" in text and "quarantined" in text

    calls.clear()
    again = poll_mailbox(imap_mailbox)  # not retried forever
    assert again.fetched == 0 and calls == []


@pytest.fixture
def failing_storage(monkeypatch):
    """Make the file storage refuse to save raw messages that contain a marker (or all)."""
    original = FileSystemStorage.save
    state = {"marker": b"", "all": False}

    def refusing_save(self, name, content, *args, **kwargs):
        content.seek(0)
        data = content.read()
        content.seek(0)
        if state["all"] or (state["marker"] and state["marker"] in data):
            raise OSError(28, "No space left on device")
        return original(self, name, content, *args, **kwargs)

    monkeypatch.setattr(FileSystemStorage, "save", refusing_save)
    return state


def test_a_storage_failure_leaves_the_message_for_the_next_poll_which_ingests_it_once(
    imap_mailbox, imap_account, failing_storage
):
    first = imap_account.append(raw_email(subject="第一"))
    unlucky = imap_account.append(raw_email(subject="UNSTORABLE 存不下"))
    last = imap_account.append(raw_email(subject="最后"))
    failing_storage["marker"] = b"UNSTORABLE"

    result = poll_mailbox(imap_mailbox)

    assert (result.fetched, result.ingested, result.deferred, result.quarantined) == (3, 2, 1, 0)
    assert result.error == ""
    flags = imap_account.flags()
    assert PROCESSED not in flags[unlucky] and QUARANTINED not in flags[unlucky]
    assert "\\Seen" not in flags[unlucky]
    assert PROCESSED in flags[first] and PROCESSED in flags[last]
    assert InboundEmail.objects.count() == 2

    failing_storage["marker"] = b""  # the disk has room again
    again = poll_mailbox(imap_mailbox)
    assert (again.fetched, again.ingested, again.deferred) == (1, 1, 0)
    assert PROCESSED in imap_account.flags()[unlucky]
    assert Conversation.objects.filter(subject="UNSTORABLE 存不下").count() == 1
    assert poll_mailbox(imap_mailbox).fetched == 0


def test_storage_down_stops_the_poll_early_and_loses_nothing(
    imap_mailbox, imap_account, failing_storage, monkeypatch
):
    uids = [imap_account.append(raw_email(subject=f"消息 {n}")) for n in range(6)]
    failing_storage["all"] = True

    result = poll_mailbox(imap_mailbox)

    assert result.deferred == imap.MAX_STORAGE_FAILURES == result.fetched
    assert "storage failed" in result.error
    assert not any(PROCESSED in f for f in imap_account.flags().values())

    failing_storage["all"] = False
    result = poll_mailbox(imap_mailbox)
    assert (result.fetched, result.ingested) == (6, 6)
    assert {uid for uid, f in imap_account.flags().items() if PROCESSED in f} == set(uids)


def test_the_same_message_twice_in_the_mailbox_is_one_conversation(imap_mailbox, imap_account):
    raw = raw_email(subject="重复投递", message_id="<dup-1@mail.example.cn>")
    imap_account.append(raw)
    imap_account.append(raw)  # the very same bytes, delivered again
    imap_account.append(  # re-sent with other headers, same Message-ID
        raw_email(subject="重复投递", message_id="<dup-1@mail.example.cn>", body="again")
    )

    result = poll_mailbox(imap_mailbox)

    assert (result.fetched, result.ingested, result.duplicates) == (3, 1, 2)
    assert Conversation.objects.count() == 1
    assert all(PROCESSED in f for f in imap_account.flags().values())


def test_big_mailboxes_are_fetched_in_batches(imap_mailbox, imap_account, monkeypatch):
    uids = [imap_account.append(raw_email(subject=f"批量 {n}")) for n in range(7)]
    monkeypatch.setattr(imap, "BATCH_SIZE", 3)
    monkeypatch.setattr(imap, "BATCH_BYTES", 1)  # each message alone in its FETCH
    batches: list[list[int]] = []
    groups: list[list[int]] = []
    original_batch, original_by_size = imap._Poller._process_batch, imap._by_size

    def recording_batch(self, batch):
        batches.append(batch)
        return original_batch(self, batch)

    def recording_by_size(*args):
        for group in original_by_size(*args):
            groups.append(group)
            yield group

    monkeypatch.setattr(imap._Poller, "_process_batch", recording_batch)
    monkeypatch.setattr(imap, "_by_size", recording_by_size)
    result = poll_mailbox(imap_mailbox)

    assert (result.fetched, result.ingested) == (7, 7)
    assert batches == [uids[0:3], uids[3:6], uids[6:7]]
    assert groups == [[uid] for uid in uids]


@pytest.mark.django_db(transaction=False)
def test_fetch_groups_hold_a_bounded_number_of_bytes():
    sizes = {1: 10, 2: 10, 3: 100, 4: 5, 6: 1}
    assert list(imap._by_size([1, 2, 3, 4, 5, 6], sizes, 25)) == [[1, 2], [3], [4, 6]]
    assert list(imap._by_size([1, 2, 3], sizes, 1000)) == [[1, 2, 3]]


def test_processed_mail_is_moved_to_the_processed_folder(imap_account, transactional_db):
    mailbox = make_imap_mailbox(imap_account, imap_processed_folder="已处理/客服")
    poison = imap_account.append(raw_email(subject="POISON"))
    imap_account.append(raw_email(subject="搬走我"))
    imap_account.append(zh_message("gbk_8bit_body.eml"))

    def poisoned_ingest(raw: bytes, **kwargs):
        if b"POISON" in raw:
            raise ValueError("poison")
        return real_ingest(raw, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(imap, "ingest", poisoned_ingest)
        result = poll_mailbox(mailbox)

    assert (result.ingested, result.quarantined) == (2, 1)
    inbox = imap_account.flags()
    assert list(inbox) == [poison]  # the quarantined one stays, for a person to look at
    # "/" is written as the server's delimiter (Dovecot's Maildir++ uses ".")
    moved = imap_account.flags("已处理.客服")
    assert len(moved) == 2 and all(PROCESSED in f for f in moved.values())
    bodies = imap_account.bodies("已处理.客服").values()
    assert any(b"Subject: =?gbk?B?" in body for body in bodies)
    assert poll_mailbox(mailbox).fetched == 0


def test_moving_without_the_move_capability_copies_deletes_and_expunges(
    dovecot_basic, transactional_db
):
    account = dovecot_basic.new_account()
    mailbox = make_imap_mailbox(account, imap_processed_folder="Processed")
    with account.session() as client:
        assert not client.has_capability("MOVE") and not client.has_capability("IDLE")
    for n in range(3):
        account.append(raw_email(subject=f"no MOVE {n}"))

    result = poll_mailbox(mailbox)

    assert result.ingested == 3
    assert account.flags() == {}
    moved = account.flags("Processed")
    assert len(moved) == 3 and all(PROCESSED in f and "\\Deleted" not in f for f in moved.values())


def test_messages_flagged_but_not_moved_before_a_crash_are_moved_next_time(
    imap_account, transactional_db
):
    mailbox = make_imap_mailbox(imap_account, imap_processed_folder="Processed")
    imap_account.append(raw_email(subject="already done"), flags=[PROCESSED])
    result = poll_mailbox(mailbox)
    assert result.fetched == 0
    assert imap_account.flags() == {}
    assert len(imap_account.flags("Processed")) == 1
    assert not InboundEmail.objects.exists()


def test_poll_all_polls_every_active_imap_mailbox_and_survives_a_bad_one(dovecot, transactional_db):
    good_account, other_account = dovecot.new_account(), dovecot.new_account()
    good = make_imap_mailbox(good_account, name="Good")
    make_imap_mailbox(other_account, name="Wrong password", imap_password="wrong")
    make_imap_mailbox(other_account, name="Inactive", address="off@kefu.test", active=False)
    Mailbox.objects.create(name="Pipe only", address="pipe@kefu.test")
    good_account.append(raw_email(subject="好"))

    results = poll_all()

    assert set(results) == {"Good", "Wrong password"}
    assert results["Good"].ingested == 1
    assert results["Wrong password"].error and results["Wrong password"].fetched == 0
    assert InboundEmail.objects.get().mailbox == good


def test_plain_imap_is_refused_beyond_loopback(transactional_db):
    mailbox = Mailbox(
        name="Far",
        address="far@kefu.test",
        imap_host="imap.example.com",
        imap_port=143,
        imap_security="none",
    )
    with pytest.raises(ImapConfigurationError, match="loopback"):
        connect(mailbox)
    assert PollResult().error == ""


def test_starttls_is_never_skipped_when_the_server_does_not_offer_it(
    imap_account, transactional_db
):
    mailbox = make_imap_mailbox(imap_account, imap_security="starttls")
    imap_account.append(raw_email())
    with pytest.raises(CapabilityError, match="STARTTLS"):
        poll_mailbox(mailbox)  # the test server has no TLS: refuse, never fall back to plain
    assert not InboundEmail.objects.exists()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_encrypted_connections_verify_the_certificate(
    dovecot_tls, security, transactional_db, monkeypatch
):
    account = dovecot_tls.new_account()
    port = dovecot_tls.tls_port if security == "ssl" else dovecot_tls.port
    mailbox = make_imap_mailbox(account, imap_security=security, imap_port=port)
    account.append(raw_email(subject=f"加密 {security}"))

    with pytest.raises(ssl.SSLCertVerificationError):
        poll_mailbox(mailbox)  # a certificate nobody vouches for is refused
    assert not InboundEmail.objects.exists()

    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot_tls.ca_file))  # now the system trusts it
    result = poll_mailbox(mailbox)
    assert result.ingested == 1
    assert subjects() == {f"加密 {security}"}


def run_watcher(mailbox: Mailbox, **kwargs) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(
        target=idle_loop, args=(mailbox, stop), kwargs=kwargs, daemon=True, name="test-imap-idle"
    )
    thread.start()
    return thread, stop


def processed_on_server(account, uid: int) -> Callable[[], bool]:
    # Watch the server, not the database: with SQLite's shared in-memory test database a
    # reader in this thread would lock tables the watcher thread is writing.
    return lambda: PROCESSED in account.flags().get(uid, set())


def test_idle_loop_ingests_new_mail_within_seconds(imap_mailbox, imap_account):
    first = imap_account.append(raw_email(subject="启动前"))
    thread, stop = run_watcher(imap_mailbox, timeout=60)  # no periodic re-poll in this test
    try:
        assert wait_for(processed_on_server(imap_account, first))  # the poll on start
        time.sleep(0.3)  # the loop is in IDLE now
        started = time.monotonic()
        uid = imap_account.append(zh_message("gbk_8bit_body.eml"))
        assert wait_for(processed_on_server(imap_account, uid), 5)
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert subjects() == {"启动前", "投诉:维修三次仍未修好"}


def test_idle_loop_polls_where_the_server_has_no_idle(dovecot_basic, transactional_db):
    account = dovecot_basic.new_account()
    mailbox = make_imap_mailbox(account)
    thread, stop = run_watcher(mailbox, timeout=60, poll_interval=0.2)
    try:
        time.sleep(0.3)
        uid = account.append(raw_email(subject="轮询"))
        assert wait_for(processed_on_server(account, uid), 5)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert subjects() == {"轮询"}


def test_idle_loop_keeps_trying_an_unreachable_server_and_stops_when_told(
    imap_account, transactional_db, caplog
):
    from tests.mail.dovecot import free_port

    mailbox = make_imap_mailbox(imap_account, imap_port=free_port())  # nobody listens there
    with caplog.at_level(logging.ERROR, logger="kefu.mail.imap"):
        thread, stop = run_watcher(mailbox, timeout=5)
        assert wait_for(lambda: any("watching failed" in r.getMessage() for r in caplog.records), 5)
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_the_scheduler_process_watches_every_active_mailbox(imap_mailbox, imap_account):
    """`kefu run` / `kefu worker` start this watcher: mail added to a mailbox configured in the
    admin is ingested within seconds, and a mailbox switched off stops being watched."""
    from kefu.core.scheduler import watchers

    watch = watchers()["mail-imap"]
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(stop,), kwargs={"refresh": 0.3}, daemon=True)
    thread.start()
    try:
        uid = imap_account.append(raw_email(subject="调度进程"))
        assert wait_for(processed_on_server(imap_account, uid), 10)
        imap_mailbox.active = False
        imap_mailbox.save()
        time.sleep(1.5)  # the watcher notices and stops that mailbox's loop
        late = imap_account.append(raw_email(subject="停用之后"))
        time.sleep(1.5)
        assert not processed_on_server(imap_account, late)()
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert subjects() == {"调度进程"}
