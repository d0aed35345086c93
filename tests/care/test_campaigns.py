"""Campaign delivery: consent and suppression always respected, exactly once after a crash,
one-click unsubscribe headers, bounces suppress."""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from kefu.care import campaigns, sending
from kefu.care.consent import set_consent, suppress
from kefu.care.models import Campaign, Delivery, Suppression
from tests.care.conftest import make_campaign
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def run_to_end(campaign: Campaign) -> None:
    campaigns.start(campaign)
    campaign.refresh_from_db()
    campaigns.run(campaign.pk)
    campaign.refresh_from_db()


def test_campaign_reaches_consenting_customers_only(smtp_sink):
    yes = [CustomerFactory(consent_marketing=True) for _ in range(3)]
    CustomerFactory(consent_marketing=False)
    suppressed = CustomerFactory(consent_marketing=True)
    suppress(f"customer{suppressed.pk}@example.com", Suppression.Reason.BOUNCED)
    campaign = make_campaign()
    run_to_end(campaign)
    got = sorted(r.rcpt_tos[0] for r in smtp_sink.received)
    assert got == sorted(f"customer{c.pk}@example.com" for c in yes)
    assert campaign.status == Campaign.Status.DONE
    progress = campaigns.progress(campaign)
    assert progress["sent"] == 3 and progress["skipped"] == 1  # the suppressed one
    message = smtp_sink.received[0].message()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip().strip("<>")
    assert url.startswith("http") and "/care/u/" in url
    body = message.get_body(("plain",)).get_content()
    assert url in body and "Hello Customer" in body


def test_one_click_unsubscribe_post_is_immediate_and_recorded(smtp_sink):
    customer = CustomerFactory(consent_marketing=True)
    campaign = make_campaign()
    run_to_end(campaign)
    url = smtp_sink.received[0].message()["List-Unsubscribe"].strip().strip("<>")
    path = url.split("://", 1)[1].split("/", 1)[1]
    client = Client(enforce_csrf_checks=True)  # a mail client: no cookie, no CSRF token
    assert client.get("/" + path).status_code == 200  # GET changes nothing
    customer.refresh_from_db()
    assert customer.consent_marketing
    response = client.post("/" + path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    customer.refresh_from_db()
    assert not customer.consent_marketing
    assert customer.consent_changes.get().source.startswith("unsubscribe:")
    assert campaigns.progress(campaign)["unsubscribed"] == 1
    # A second campaign skips them.
    second = make_campaign()
    run_to_end(second)
    assert len(smtp_sink.received) == 1


def test_forged_unsubscribe_token_is_refused(db):
    assert Client().post("/care/u/12:forged/").status_code == 404


class Killed(BaseException):
    """The worker dies (not an Exception: nothing in the sender catches it)."""


def test_exactly_once_after_a_crash(smtp_sink, monkeypatch):
    customers = [CustomerFactory(consent_marketing=True) for _ in range(12)]
    campaign = make_campaign()
    campaigns.start(campaign)
    sent_before_crash = []

    def kill_after_five(row):
        sent_before_crash.append(row.pk)
        if len(sent_before_crash) == 5:
            raise Killed  # the server has message 5; the row still says "sending"

    monkeypatch.setattr(sending, "after_send", kill_after_five)
    with pytest.raises(Killed):
        campaigns.run(campaign.pk, batch=4)
    monkeypatch.setattr(sending, "after_send", None)
    assert len(smtp_sink.received) == 5
    states = {s: Delivery.objects.filter(state=s).count() for s in ("sending", "sent")}
    assert states.get("sending") == 1 and states.get("sent") == 4

    # Later: leases run out; the scheduler's recovery and a new worker resume.
    from datetime import timedelta

    from django.utils import timezone

    Campaign.objects.filter(pk=campaign.pk).update(lease_until=None)
    sending.recover(timezone.now() + timedelta(hours=1))
    campaigns.run(campaign.pk, batch=4)
    received = [r.rcpt_tos[0] for r in smtp_sink.received]
    assert sorted(received) == sorted(f"customer{c.pk}@example.com" for c in customers)
    assert len(received) == len(set(received)) == 12  # nobody twice, nobody missed
    assert Delivery.objects.filter(state="uncertain").count() == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE


def test_temporary_refusal_is_retried_permanent_refusal_suppresses(smtp_sink):
    from datetime import timedelta

    from django.utils import timezone

    a = CustomerFactory(consent_marketing=True)
    campaign = make_campaign()
    campaigns.start(campaign)
    smtp_sink.refuse("451 4.3.0 Try again later", times=1)
    campaigns.run(campaign.pk)
    row = Delivery.objects.get(customer=a)
    assert row.state == "pending" and row.attempts == 1
    Delivery.objects.filter(pk=row.pk).update(due_at=timezone.now() - timedelta(seconds=1))
    Campaign.objects.filter(pk=campaign.pk).update(lease_until=None)
    campaigns.run(campaign.pk)
    row.refresh_from_db()
    assert row.state == "sent" and len(smtp_sink.received) == 1

    b = CustomerFactory(consent_marketing=True)
    second = make_campaign()
    campaigns.start(second)
    smtp_sink.refuse_recipients("550 5.1.1 No such user")
    campaigns.run(second.pk)
    row = Delivery.objects.get(customer=b, campaign=second)
    assert row.state == "failed" and row.bounced_at is not None
    assert Suppression.objects.filter(address=f"customer{b.pk}@example.com").exists()


def test_bounce_report_suppresses(smtp_sink):
    customer = CustomerFactory(consent_marketing=True)
    campaign = make_campaign()
    run_to_end(campaign)
    message_id = smtp_sink.received[0].message()["Message-ID"]
    assert sending.mark_bounced(message_id, "550 mailbox full")
    assert Suppression.objects.filter(address=f"customer{customer.pk}@example.com").exists()
    assert campaigns.progress(campaign)["bounced"] == 1


class ConsentProperty(HypothesisTestCase):
    """Whatever the mix of consent, unsubscribes and suppressions (some made after the
    recipients were chosen), no message goes to a customer who may not get it."""

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.lists(
            st.tuples(
                st.booleans(),  # consents to marketing
                st.sampled_from(["none", "unsubscribe_late", "suppress_early", "suppress_late"]),
            ),
            min_size=1,
            max_size=8,
        )
    )
    def test_no_message_without_consent(self, people):
        from django.core import mail

        mail.outbox = []
        customers = [CustomerFactory(consent_marketing=ok) for ok, _ in people]
        for customer, (_ok, what) in zip(customers, people, strict=True):
            if what == "suppress_early":
                suppress(f"customer{customer.pk}@example.com", "manual")
        campaign = make_campaign()
        campaigns.start(campaign)
        campaign.refresh_from_db()
        campaigns.materialize(campaign)  # recipients chosen now…
        for customer, (_ok, what) in zip(customers, people, strict=True):
            if what == "unsubscribe_late":  # …and they change their mind before the send
                set_consent(customer, "marketing", granted=False, source="test")
            if what == "suppress_late":
                suppress(f"customer{customer.pk}@example.com", "complaint")
        campaigns.run(campaign.pk)
        allowed = {
            f"customer{c.pk}@example.com"
            for c, (ok, what) in zip(customers, people, strict=True)
            if ok and what == "none"
        }
        got = [m.to[0] for m in mail.outbox]
        assert set(got) == allowed and len(got) == len(set(got))


@pytest.mark.django_db(transaction=True)
def test_parallel_senders_never_double_send(smtp_sink):
    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip(
            "the tests' in-memory SQLite (shared cache) has no busy timeout between threads; "
            "bench/campaign.py runs parallel senders on a SQLite file"
        )
    customers = [CustomerFactory(consent_marketing=True) for _ in range(40)]
    campaign = make_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(status="running")
    counts = []
    original = sending.send_claimed

    def spy(ids, **kwargs):
        counts.append(len(ids))
        return original(ids, **kwargs)

    sending.send_claimed = spy
    try:
        campaigns.run(campaign.pk, batch=8, parallel=4)  # claims of 2 rows, 4 connections
    finally:
        sending.send_claimed = original
    assert len(counts) >= 20
    received = [r.rcpt_tos[0] for r in smtp_sink.received]
    assert len(received) == len(set(received)) == len(customers)
    assert Delivery.objects.filter(state="sent").count() == 40


def test_a_delivery_status_notification_for_a_campaign_email_suppresses(smtp_sink):
    """The mail channel's bounce handling reaches care's own messages."""
    from kefu.mail.outbound import mark_bounced as mail_bounce

    customer = CustomerFactory(consent_marketing=True)
    run_to_end(make_campaign())
    message_id = smtp_sink.received[0].message()["Message-ID"]
    assert mail_bounce(message_id, "5.1.1 user unknown")
    assert Suppression.objects.filter(address=f"customer{customer.pk}@example.com").exists()
    assert not mail_bounce("<nobody@example.com>", "x")


def test_nps_campaign_sends_a_survey_link_answered_once(smtp_sink):
    import re

    from kefu.care.models import Health, Survey

    customer = CustomerFactory(consent_email=True)
    campaign = make_campaign(kind="nps", purpose="service")
    template = campaign.template
    template.versions.update(body_text="How likely? {{ survey_url }}")
    run_to_end(campaign)
    body = smtp_sink.received[0].message().get_body(("plain",)).get_content()
    path = "/" + re.search(r"https?://[^/]+/(care/s/\S+/)", body).group(1)
    client = Client()
    page = client.get(path).content.decode()
    assert 'value="0"' in page and 'value="10"' in page
    assert client.post(path, {"score": "3", "comment": "too slow"}).status_code == 200
    assert client.post(path, {"score": "10"}).status_code == 410
    survey = Survey.objects.get(customer=customer)
    assert survey.score == 3 and survey.kind == "nps"
    assert Health.objects.get(customer=customer).last_nps == 3
    assert campaigns.progress(campaign)["answered"] == 1
    # Surveyed now: an NPS campaign next week leaves them out (throttle).
    again = make_campaign(kind="nps", purpose="service")
    run_to_end(again)
    assert len(smtp_sink.received) == 1


def test_helper_processes_send_a_campaign_exactly_once(smtp_sink, settings):
    """KEFU_CARE_PROCESSES: the worker that runs a campaign asks for helpers (tasks, so other
    worker processes); here the tasks run in line, and every customer still gets one copy."""
    settings.KEFU_CARE_PROCESSES = 3
    customers = [CustomerFactory(consent_marketing=True) for _ in range(7)]
    campaign = make_campaign()
    run_to_end(campaign)
    received = [r.rcpt_tos[0] for r in smtp_sink.received]
    assert sorted(received) == sorted(f"customer{c.pk}@example.com" for c in customers)
    assert len(received) == len(set(received))
    assert campaign.status == Campaign.Status.DONE
    # A campaign with a rate limit is sent by one process only (the limit is per process).
    limited = make_campaign(rate_per_minute=600)
    Campaign.objects.filter(pk=limited.pk).update(status="running")
    campaigns.materialize(limited)
    assert campaigns.help_send(limited.pk) == "nothing to help with"
