"""Webhooks called by automation rules: a signed JSON POST, sent by a background task,
retried with backoff, never to private addresses (unless KEFU_WEBHOOK_ALLOW_PRIVATE).

The address is resolved once and the connection goes to the address that was checked (a name
that resolves to a public address for the check and to 127.0.0.1 for the request cannot slip
through). Redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from kefu.conversations.models import Conversation
from kefu.core.scheduler import every
from kefu.customers.timeline import record
from kefu.service.models import AutomationRule, WebhookCall

logger = logging.getLogger(__name__)

RETRY_MINUTES = (1, 5, 30, 120)  # after the 1st, 2nd, … failure; then it has failed
MAX_RESPONSE = 64 * 1024


class Refused(Exception):
    """The address may not be called."""


def _allow_private() -> bool:
    return bool(getattr(settings, "KEFU_WEBHOOK_ALLOW_PRIVATE", False))


def _timeout() -> float:
    return float(getattr(settings, "KEFU_WEBHOOK_TIMEOUT", 10))


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, resolve: bool = True) -> str:
    """Why ``url`` may not be called ("" when it may). ``resolve=False`` checks only what
    the URL itself says (on save; the addresses are checked again at each call)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return _("Not a valid address.")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _("Only http:// and https:// addresses can be called.")
    if parts.username or parts.password:
        return _("Put credentials in the secret, not in the address.")
    if _allow_private():
        return ""
    host = parts.hostname
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not _public(host):
        return _("Private and local addresses cannot be called.")
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return _("Private and local addresses cannot be called.")
    if resolve:
        try:
            _resolve(host, port or (443 if parts.scheme == "https" else 80))
        except Refused as exc:
            return str(exc)
    return ""


def _resolve(host: str, port: int) -> str:
    """One address of ``host`` that may be called."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused(f"cannot resolve {host}: {exc}") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise Refused(f"cannot resolve {host}")
    if not _allow_private() and not all(_public(a) for a in addresses):
        raise Refused(_("Private and local addresses cannot be called."))
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address while the Host header keeps the name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body``; the response status. Raises Refused or OSError/HTTPException."""
    problem = check_url(url, resolve=False)
    if problem:
        raise Refused(problem)
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = _resolve(host, port)
    connection_class = _PinnedHTTPSConnection if https else _PinnedHTTPConnection
    connection = connection_class(host, port, address, _timeout())
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE)
        return response.status
    finally:
        connection.close()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(rule: AutomationRule, conversation: Conversation, trigger: str) -> dict[str, Any]:
    customer = conversation.customer
    return {
        "event": trigger,
        "rule": {"id": rule.pk, "name": rule.name},
        "conversation": {
            "id": conversation.pk,
            "reference": conversation.reference,
            "subject": conversation.subject,
            "status": conversation.status,
            "priority": conversation.priority,
            "kind": conversation.kind,
            "channel": conversation.channel,
            "language": conversation.language,
            "team": conversation.team.name if conversation.team else None,
            "assignee_id": conversation.assignee_id,
            "tags": sorted(conversation.tags.values_list("name", flat=True)),
            "url": f"{settings.KEFU_BASE_URL}/c/{conversation.pk}/",
        },
        "customer": {"id": customer.pk, "name": customer.display_name, "tier": customer.tier},
    }


def queue_call(rule: AutomationRule, conversation: Conversation, trigger: str) -> WebhookCall:
    """Write the call (sent after the commit by a task; retried by the periodic job)."""
    call = WebhookCall.objects.create(
        rule=rule,
        rule_name=rule.name[:100],
        conversation=conversation,
        url=rule.webhook_url,
        payload=payload(rule, conversation, trigger),
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: deliver_webhook.enqueue(call.pk), robust=True)
    return call


def deliver(call_id: int) -> str:
    """One attempt at a due call; its new state."""
    now = timezone.now()
    with transaction.atomic():
        call = (
            WebhookCall.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("rule", "conversation__customer")
            .filter(pk=call_id)
            .first()
        )
        if call is None:
            return "gone"  # or another worker holds it
        if call.state != WebhookCall.State.QUEUED or (
            call.next_attempt_at is not None and call.next_attempt_at > now
        ):
            return call.state
        # A lease: another worker leaves it alone while this one waits for the answer.
        call.next_attempt_at = now + timedelta(seconds=_timeout() * 3)
        call.attempts += 1
        call.save(update_fields=["next_attempt_at", "attempts"])
    body = json.dumps(call.payload, ensure_ascii=False, sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "kefu-webhook/1",
        "X-Kefu-Delivery": str(call.pk),
        "X-Kefu-Event": str(call.payload.get("event", "")),
    }
    secret = call.rule.webhook_secret if call.rule is not None else ""
    if secret:
        headers["X-Kefu-Signature"] = signature(secret, body)
    status: int | None = None
    error = ""
    try:
        status = post(call.url, body, headers)
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except Refused as exc:
        error = f"refused: {exc}"
    except (OSError, http.client.HTTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"
    return _finish(call, status, error, final=error.startswith("refused"))


def _finish(call: WebhookCall, status: int | None, error: str, *, final: bool) -> str:
    call.response_status = status
    call.error = error[:1000]
    if not error:
        call.state = WebhookCall.State.DELIVERED
        call.next_attempt_at = None
    elif final or call.attempts > len(RETRY_MINUTES):
        call.state = WebhookCall.State.FAILED
        call.next_attempt_at = None
    else:
        call.next_attempt_at = timezone.now() + timedelta(minutes=RETRY_MINUTES[call.attempts - 1])
        logger.info("webhook call #%s: %s; retrying at %s", call.pk, error, call.next_attempt_at)
    call.save(update_fields=["response_status", "error", "state", "next_attempt_at"])
    if call.state != WebhookCall.State.QUEUED:
        record(
            call.conversation.customer,
            "rule_webhook",
            conversation=call.conversation,
            rule=call.rule_name,
            url=call.url,
            state=call.state,
            attempts=call.attempts,
            error=call.error,
        )
    return call.state


@task()
def deliver_webhook(call_id: int) -> str:
    return deliver(call_id)


@every(60, name="webhook-retries")
@task()
def retry_webhooks() -> int:
    """Enqueue the calls whose next attempt is due (a partial index on the due time)."""
    due = list(
        WebhookCall.objects.filter(
            state=WebhookCall.State.QUEUED, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
    for call_id in due:
        deliver_webhook.enqueue(call_id)
    return len(due)
