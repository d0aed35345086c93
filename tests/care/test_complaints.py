"""A "this is spam" feedback report (ARF, RFC 5965) about a campaign email, arriving through
the mail channel like any inbound email, suppresses the address and withdraws consent."""

from __future__ import annotations

import pytest

from kefu.care import campaigns
from kefu.care.complaints import read_report
from kefu.care.models import Campaign, Consent, Suppression
from kefu.conversations.models import Conversation
from kefu.mail.ingest import ingest
from kefu.mail.models import InboundEmail
from tests.care.conftest import make_campaign
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def arf(message_id: str, *, feedback_type: str = "abuse", headers_only: bool = False) -> bytes:
    original = (
        "From: shop@example.com\r\n"
        "To: someone@example.com\r\n"
        "Subject: Spring\r\n"
        f"Message-ID: {message_id}\r\n"
    )
    kind = "text/rfc822-headers" if headers_only else "message/rfc822"
    return (
        "From: fbl@isp.example\r\n"
        "To: bounces@example.com\r\n"
        "Subject: Abuse report\r\n"
        "Message-ID: <report-1@isp.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "This is an email abuse report.\r\n"
        "--b1\r\n"
        "Content-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: {feedback_type}\r\n"
        "User-Agent: FBL/1.0\r\n"
        "Version: 1\r\n"
        "Original-Rcpt-To: <someone@example.com>\r\n"
        "\r\n"
        "--b1\r\n"
        f"Content-Type: {kind}\r\n\r\n"
        f"{original}\r\nHello\r\n"
        "--b1--\r\n"
    ).encode()


def test_read_report_both_ways_of_quoting_the_original():
    for headers_only in (False, True):
        report = read_report(arf("<care.1@example.com>", headers_only=headers_only))
        assert report is not None
        assert report["feedback-type"] == "abuse"
        assert report["original-message-id"] == "<care.1@example.com>"
    assert read_report(b"From: a@b.c\r\nSubject: hi\r\n\r\nhello\r\n") is None


def test_complaint_report_suppresses_and_counts(smtp_sink):
    customer = CustomerFactory(consent_marketing=True, consent_email=True)
    campaign = make_campaign()
    campaigns.start(campaign)
    campaigns.run(campaign.pk)
    message_id = smtp_sink.received[0].message()["Message-ID"]

    record = ingest(arf(message_id))
    record.refresh_from_db()
    assert record.state == InboundEmail.State.BOUNCE and "complaint" in record.detail
    suppression = Suppression.objects.get(address=f"customer{customer.pk}@example.com")
    assert suppression.reason == Suppression.Reason.COMPLAINT
    customer.refresh_from_db()
    assert not customer.consent_marketing and customer.consent_email
    assert Consent.objects.get(customer=customer).source.startswith("complaint:")
    assert campaigns.progress(campaign)["complaints"] == 1
    assert not Conversation.objects.exists()  # a report is not a customer's email

    # The next campaign leaves the address out, even for a purpose with consent.
    again = make_campaign(purpose="service")
    campaigns.start(again)
    campaigns.run(again.pk)
    assert len(smtp_sink.received) == 1
    assert Campaign.objects.get(pk=again.pk).status == "done"


def test_made_up_or_not_spam_reports_suppress_nobody(smtp_sink):
    customer = CustomerFactory(consent_marketing=True)
    campaign = make_campaign()
    campaigns.start(campaign)
    campaigns.run(campaign.pk)
    message_id = smtp_sink.received[0].message()["Message-ID"]

    forged = ingest(arf("<care.guessed@example.com>"))
    forged.refresh_from_db()
    assert "unknown message" in forged.detail
    not_spam = ingest(arf(message_id, feedback_type="not-spam"))
    not_spam.refresh_from_db()
    assert "no complaint" in not_spam.detail
    assert not Suppression.objects.exists()
    customer.refresh_from_db()
    assert customer.consent_marketing
