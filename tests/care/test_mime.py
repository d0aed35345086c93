"""The raw-bytes builder says what Django's email package would say, header for header."""

from __future__ import annotations

import email
from email import policy

import pytest

from kefu.care import mime
from kefu.care.models import Delivery
from kefu.care.rendering import Rendered
from kefu.care.sending import build_email, parts
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

SUBJECTS = [
    "Hi",
    "客户一号，春季新品：龙井茶已上架",
    "A long English subject line that goes on and on well past the seventy-eight columns",
    "混合 mixed 文字 " * 12,
    "=?utf-8?b?not-an-encoded-word?= literally",
    "emoji 🍵 and\r\nInjected: header",
]


def _row(address: str = "c1@example.com") -> Delivery:
    customer = CustomerFactory(consent_marketing=True)
    return Delivery.objects.create(
        key=f"t:{customer.pk}",
        kind=Delivery.Kind.CAMPAIGN,
        purpose="marketing",
        customer=customer,
        address=address,
        message_id="<care.abc@example.com>",
    )


def _raw(row: Delivery, rendered: Rendered) -> bytes:
    p = parts(row, rendered)
    _sender, data = mime.build(
        from_email="客服中心 <care@example.com>",
        to=p.to,
        subject=p.subject,
        message_id=row.message_id,
        text=p.text,
        html=p.html,
        unsubscribe_url=p.unsubscribe_url,
        constant=p.headers,
    )
    return data


@pytest.mark.parametrize("subject", SUBJECTS)
def test_raw_message_reads_back_like_djangos(subject, settings):
    settings.DEFAULT_FROM_EMAIL = "客服中心 <care@example.com>"
    row = _row()
    rendered = Rendered(
        subject=subject,
        text="王先生您好，\n.\n龙井茶已上架。" + "长" * 2000,
        html="<p>王先生您好，<b>龙井茶</b>已上架。</p>",
        language="zh-hans",
    )
    data = _raw(row, rendered)
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    ours = email.message_from_bytes(data, policy=policy.default)
    theirs = email.message_from_bytes(
        build_email(row, rendered).message().as_bytes(), policy=policy.default
    )
    # Ours encodes a subject that only looks like an encoded word (Django sends it as it is,
    # and readers then decode it into something else).
    assert str(ours["Subject"]) == " ".join(subject.split())
    for name in (
        "From",
        "To",
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Auto-Submitted",
        "X-Kefu-Loop",
        "Precedence",
        "MIME-Version",
    ):
        assert str(ours[name]).strip() == str(theirs[name]).strip(), name
    assert ours["Injected"] is None
    assert ours["Date"] and not ours.defects
    for kind in ("plain", "html"):
        assert ours.get_body((kind,)).get_content() == theirs.get_body((kind,)).get_content()
    assert ours.get_content_type() == "multipart/alternative"


def test_plain_text_only_message():
    row = _row()
    data = _raw(row, Rendered(subject="Hi", text="Hello", html="", language="en"))
    message = email.message_from_bytes(data, policy=policy.default)
    assert message.get_content_type() == "text/plain"
    assert message.get_content().startswith("Hello\n\n--\nUnsubscribe: http")


@pytest.mark.parametrize(
    "address",
    ["王@example.com", "a@b.com\r\nBcc: x@y.z", "a b@example.com", "", "<a@b.com>", "a@例子.中国"],
)
def test_addresses_that_are_not_plain_never_take_the_raw_path(address):
    assert not mime.plain_address(address)
    with pytest.raises(ValueError):
        mime.build(
            from_email="care@example.com",
            to=address,
            subject="x",
            message_id="<x@y>",
            text="x",
            html="",
            unsubscribe_url="https://example.com/u",
            constant=(),
        )


def test_encoded_words_split_between_characters():
    value = mime.encode_words("龙" * 40 + "🍵" * 5)
    words = value.split("\r\n ")
    assert len(words) > 1 and all(len(w) <= 75 for w in words)
    decoded = str(
        email.message_from_string(f"Subject: {value}\n\n", policy=policy.default)["Subject"]
    )
    assert decoded == "龙" * 40 + "🍵" * 5
