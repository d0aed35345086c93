"""Property tests: random and truncated MIME never crash ingestion and never lose the raw bytes;
and every real-world message of the shared corpus becomes a readable conversation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.conversations.models import Message
from kefu.mail.ingest import ingest
from kefu.mail.models import InboundEmail, Mailbox

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mail"
CORPUS_FILES = sorted(CORPUS.rglob("*.eml")) if CORPUS.exists() else []
# The replacement character is in these messages' own bytes (see test_corpus_parsing.py):
# the sender had already replaced the characters, or the quoted-printable is invalid.
BROKEN_AT_SOURCE = {"must_supply_encoding.eml", "mail_test_6.eml"}
HYPOTHESIS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


def _corpus_required():
    if not CORPUS_FILES:
        if os.environ.get("CI"):
            pytest.fail(f"the shared mail corpus is missing at {CORPUS}")
        pytest.skip(f"no mail corpus at {CORPUS}")


def _assert_kept(raw: bytes) -> InboundEmail:
    import hashlib

    record = InboundEmail.objects.get(sha256=hashlib.sha256(raw).hexdigest())
    with record.raw.open("rb") as f:
        assert f.read() == raw
    assert record.state in {"ingested", "duplicate", "ignored", "bounce", "failed"}
    return record


@pytest.mark.django_db
@HYPOTHESIS
@given(st.binary(max_size=4000))
def test_random_bytes_never_crash_and_are_kept(raw):
    ingest(raw, mailbox=None, source="pipe")
    _assert_kept(raw)


@pytest.mark.django_db
@HYPOTHESIS
@given(data=st.data())
def test_truncated_real_messages_never_crash_and_are_kept(data):
    _corpus_required()
    path = data.draw(st.sampled_from(CORPUS_FILES))
    full = path.read_bytes()
    cut = data.draw(st.integers(min_value=1, max_value=max(1, len(full))))
    raw = full[:cut]
    ingest(raw, mailbox=None, source="pipe")
    _assert_kept(raw)


@pytest.mark.django_db
def test_every_corpus_message_is_ingested_readably():
    _corpus_required()
    mailbox = Mailbox.objects.create(name="Support", address="support@kefu.test")
    problems = []
    for path in CORPUS_FILES:
        raw = path.read_bytes()
        record = ingest(raw, mailbox=mailbox, source="pipe")
        _assert_kept(raw)
        if record.state == "failed":
            problems.append(f"{path.name}: failed {record.detail}")
            continue
        if record.conversation_message is None:
            continue  # a bounce, a duplicate or our own address: kept, no conversation message
        message = Message.objects.get(pk=record.conversation_message_id)
        shown = f"{message.conversation.subject}\n{message.body_text}"
        if "\ufffd" in shown and path.name not in BROKEN_AT_SOURCE:
            problems.append(f"{path.name}: replacement characters")
    assert not problems, "\n".join(problems)
    assert InboundEmail.objects.count() == len({p.read_bytes() for p in CORPUS_FILES})


@pytest.mark.django_db
def test_chinese_corpus_decodes_to_clean_chinese():
    _corpus_required()
    expectations = {
        "gb2312_label_gbk_chars.eml": "镕",
        "outlook_reply_zh.eml": None,
        "big5_question.eml": None,
        "gbk_8bit_body.eml": None,
    }
    for name in expectations:
        path = CORPUS / "zh" / name
        if not path.exists():
            continue
        record = ingest(path.read_bytes(), mailbox=None)
        message = record.conversation_message
        text = f"{message.conversation.subject}{message.body_text}"
        assert any("\u4e00" <= ch <= "\u9fff" for ch in text), name
        if expectations[name]:
            assert expectations[name] in text, name
    outlook = CORPUS / "zh" / "outlook_reply_zh.eml"
    if outlook.exists():
        message = InboundEmail.objects.get(
            sha256=__import__("hashlib").sha256(outlook.read_bytes()).hexdigest()
        ).conversation_message
        assert "原始邮件" not in message.body_text
        assert message.metadata["quoted"]


@pytest.mark.django_db
def test_qq_vacation_reply_is_recognised_and_not_answered():
    _corpus_required()
    path = CORPUS / "zh" / "qq_autoreply_zh.eml"
    if not path.exists():
        pytest.skip("no QQ auto-reply sample")
    Mailbox.objects.create(name="Support", address="support@kefu.test")
    record = ingest(path.read_bytes(), mailbox=Mailbox.objects.get())
    assert record.detail, "the auto-reply was not recognised"
    from kefu.mail.models import OutboundEmail

    assert not OutboundEmail.objects.exists()
