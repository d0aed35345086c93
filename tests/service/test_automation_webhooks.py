"""Webhooks of automation rules against a real local HTTP server: signed JSON, retries as a
task, timeouts, and no private addresses unless the setting allows them."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from kefu.conversations import actions
from kefu.conversations.models import Channel
from kefu.customers.models import TimelineEntry
from kefu.service import policies
from kefu.service.models import AutomationRule, Trigger, WebhookCall
from kefu.service.webhooks import check_url, deliver, retry_webhooks
from kefu.staff.models import AgentProfile
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


class Receiver:
    """A local HTTP server that records what it is sent and answers with ``statuses``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.hold = threading.Event()
        self.hold.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, dict(self.headers), body))
                receiver.hold.wait(10)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the caller timed out and hung up (the slow-server test)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/kefu?x=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def allow_private(settings):
    settings.KEFU_WEBHOOK_ALLOW_PRIVATE = True
    return settings


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def hook_rule(url: str) -> AutomationRule:
    rule = AutomationRule(
        name="tell the ERP", trigger=Trigger.CREATED, webhook_url=url, webhook_secret="s3cret"
    )
    rule.full_clean()
    rule.save()
    policies.clear()
    return rule


def open_(commit):
    with commit():
        return actions.open_conversation(
            customer=CustomerFactory(name="王芳"),
            channel=Channel.WEB,
            subject="漏水",
            body_text="水箱漏水",
        )


def test_a_signed_post_reaches_the_server(receiver, allow_private, commit, client, admin_user):
    hook_rule(receiver.url)
    conversation = open_(commit)
    [(path, headers, body)] = receiver.requests
    assert path == "/hooks/kefu?x=1"
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Kefu-Signature"] == expected
    assert headers["Content-Type"].startswith("application/json")
    sent = json.loads(body)
    assert sent["event"] == "created" and sent["rule"]["name"] == "tell the ERP"
    assert sent["conversation"]["id"] == conversation.pk
    assert sent["customer"]["name"] == "王芳"
    call = WebhookCall.objects.get()
    assert (call.state, call.attempts, call.response_status) == ("delivered", 1, 200)
    states = [
        e.data["state"]
        for e in TimelineEntry.objects.filter(
            conversation=conversation, kind="rule_webhook"
        ).order_by("pk")
    ]
    assert states == ["queued", "delivered"]
    AgentProfile.objects.filter(user=admin_user).update(language="en")
    client.force_login(admin_user)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert "rule “tell the ERP”" in page and "called a webhook: <b>tell the ERP</b>" in page
    assert "delivered" in page


def test_a_failed_call_is_retried_by_the_periodic_job(receiver, allow_private, commit):
    receiver.statuses = [500]
    hook_rule(receiver.url)
    open_(commit)
    call = WebhookCall.objects.get()
    assert (call.state, call.attempts, call.error) == ("queued", 1, "HTTP 500")
    assert call.next_attempt_at > timezone.now()
    assert retry_webhooks.enqueue().return_value == 0  # not due yet
    WebhookCall.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert retry_webhooks.enqueue().return_value == 1
    call.refresh_from_db()
    assert (call.state, call.attempts) == ("delivered", 2)
    assert len(receiver.requests) == 2


def test_a_slow_server_times_out_and_is_retried(receiver, allow_private, commit):
    allow_private.KEFU_WEBHOOK_TIMEOUT = 0.2
    receiver.hold.clear()  # the server holds its answer until the test lets it go
    hook_rule(receiver.url)
    open_(commit)
    receiver.hold.set()
    call = WebhookCall.objects.get()
    assert call.state == "queued" and "timed out" in call.error.lower()


def test_private_addresses_are_refused(receiver, settings, allow_private, commit):
    hook_rule(receiver.url)  # saved while allowed
    settings.KEFU_WEBHOOK_ALLOW_PRIVATE = False
    open_(commit)
    call = WebhookCall.objects.get()
    assert call.state == "failed" and call.error.startswith("refused")
    assert receiver.requests == []  # never connected
    assert deliver(call.pk) == "failed"  # final: no retry


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://[::1]/x",
        "http://[::ffff:10.0.0.1]/x",
        "http://169.254.169.254/latest/meta-data",
        "http://192.168.1.1/x",
        "http://100.64.0.1/x",
        "http://localhost:8000/x",
        "http://user:pw@example.com/x",
        "file:///etc/passwd",
    ],
)
def test_check_url_refuses_private_and_odd_addresses(db, url):
    assert check_url(url, resolve=False)


def test_a_name_resolving_to_a_private_address_is_refused(db):
    assert check_url("http://localhost.:9/x") != ""
