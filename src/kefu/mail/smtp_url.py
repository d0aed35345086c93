"""``KEFU_SMTP_URL``: the outgoing mail server in one setting.

    smtp://user:pass@smtp.example.com:587?security=starttls&timeout=30
    smtps://user:pass@smtp.example.com            (implicit TLS, port 465)
    smtp://127.0.0.1:25?security=none             (a local relay)

``security`` is ``starttls`` (the default for ``smtp://``), ``ssl`` (the default for
``smtps://``) or ``none``; the port defaults to 587, 465 or 25 to match. The user name and
password are percent-decoded (write ``@`` as ``%40``). ``timeout`` (seconds, default 30) bounds
every network wait so a hung server cannot stall a worker.

This module is imported by the settings: it must not import anything from Django beyond the
exception it raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

SECURITY_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str
    password: str
    security: str  # starttls | ssl | none
    timeout: float

    def as_django_settings(self) -> dict[str, Any]:
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": self.host,
            "EMAIL_PORT": self.port,
            "EMAIL_HOST_USER": self.user,
            "EMAIL_HOST_PASSWORD": self.password,
            "EMAIL_USE_TLS": self.security == "starttls",
            "EMAIL_USE_SSL": self.security == "ssl",
            "EMAIL_TIMEOUT": self.timeout,
        }


def _bad(reason: str) -> ImproperlyConfigured:
    # Never echo the URL itself: it holds the password.
    return ImproperlyConfigured(
        f"KEFU_SMTP_URL is not valid: {reason}. Expected e.g. "
        "smtp://user:password@smtp.example.com:587?security=starttls"
    )


def parse_smtp_url(url: str) -> SmtpSettings:
    """Parse ``url``; raise ImproperlyConfigured with a clear reason if it is malformed."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _bad(f"{exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise _bad(f"the scheme must be smtp:// or smtps://, not {parts.scheme + '://'!r}")
    if not parts.hostname:
        raise _bad("no host name")
    if parts.path not in ("", "/"):
        raise _bad("an SMTP URL has no path")
    if parts.fragment:
        raise _bad("an SMTP URL has no #fragment")
    try:
        params = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise _bad("the query string cannot be read") from exc
    unknown = set(params) - {"security", "timeout"}
    if unknown:
        raise _bad(f"unknown parameter(s) {', '.join(sorted(unknown))} (use security, timeout)")
    if any(len(values) > 1 for values in params.values()):
        raise _bad("a parameter is given twice")

    security = params.get("security", ["ssl" if scheme == "smtps" else "starttls"])[0].lower()
    if security not in SECURITY_PORTS:
        raise _bad(f"security must be starttls, ssl or none, not {security!r}")
    if scheme == "smtps" and security != "ssl":
        raise _bad("smtps:// always uses ssl; use smtp:// for starttls or none")

    timeout = DEFAULT_TIMEOUT
    if "timeout" in params:
        try:
            timeout = float(params["timeout"][0])
        except ValueError as exc:
            raise _bad(
                f"timeout must be a number of seconds, not {params['timeout'][0]!r}"
            ) from exc
        if not 0 < timeout <= 3600:
            raise _bad("timeout must be more than 0 and at most 3600 seconds")

    user = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if password and not user:
        raise _bad("a password without a user name")
    return SmtpSettings(
        host=parts.hostname,
        port=port or SECURITY_PORTS[security],
        user=user,
        password=password,
        security=security,
        timeout=timeout,
    )
