"""Who a visitor is: kefu's signed visitor tokens and the host site's signed user identity."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from django.core import signing

from kefu.livechat.models import Visitor, Widget

TOKEN_SALT = "kefu.livechat.visitor"
IDENTITY_MAX_AGE = 24 * 3600  # seconds a host page's signature stays good
IDENTITY_FUTURE_SKEW = 300


def visitor_token(visitor: Visitor) -> str:
    return signing.dumps({"v": str(visitor.uuid), "w": visitor.widget_id}, salt=TOKEN_SALT)


def visitor_from_token(widget: Widget, token: str) -> Visitor | None:
    """The visitor behind ``token`` if it is genuine and belongs to ``widget``."""
    if not token or len(token) > 500:
        return None
    try:
        data = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("w") != widget.pk:
        return None
    visitor_uuid = data.get("v")
    if not isinstance(visitor_uuid, str):
        return None
    return Visitor.objects.filter(uuid=visitor_uuid, widget=widget).first()


@dataclass(frozen=True)
class HostIdentity:
    """A logged-in user of the host site, as its server signed it."""

    external_id: str
    name: str
    email: str
    phone: str


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _raw(value: Any) -> str:
    return value if isinstance(value, str) else ""


def identity_message(external_id: str, email: str, phone: str, name: str, ts: int) -> bytes:
    return "\n".join([external_id, email, phone, name, str(ts)]).encode()


def sign_identity(
    secret: str,
    *,
    external_id: str,
    email: str = "",
    phone: str = "",
    name: str = "",
    ts: int | None = None,
) -> dict[str, Any]:
    """What the host site's server computes (used by the demo page and the tests)."""
    ts = int(time.time()) if ts is None else ts
    digest = hmac.new(
        secret.encode(), identity_message(external_id, email, phone, name, ts), hashlib.sha256
    ).hexdigest()
    return {
        "id": external_id,
        "email": email,
        "phone": phone,
        "name": name,
        "ts": ts,
        "signature": digest,
    }


def verify_identity(widget: Widget, data: Any, *, now: float | None = None) -> HostIdentity | None:
    """The identity if its signature is right and fresh; None (anonymous) otherwise."""
    if not isinstance(data, dict):
        return None
    external_id = data.get("id")
    if isinstance(external_id, int):
        external_id = str(external_id)
    external_id = _text(external_id, 255)
    email, phone, name = (_text(data.get(k), 254) for k in ("email", "phone", "name"))
    signature, ts = data.get("signature"), data.get("ts")
    if not external_id or not isinstance(signature, str) or not isinstance(ts, int):
        return None
    now = time.time() if now is None else now
    if ts < now - IDENTITY_MAX_AGE or ts > now + IDENTITY_FUTURE_SKEW:
        return None
    expected = hmac.new(
        widget.identity_secret.encode(),
        identity_message(
            external_id,
            _raw(data.get("email")),
            _raw(data.get("phone")),
            _raw(data.get("name")),
            ts,
        ),
        hashlib.sha256,
    ).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        return None
    return HostIdentity(external_id=external_id, name=name, email=email, phone=phone)
