from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from kefu.care.models import Campaign, Segment, Template, TemplateVersion
from tests.mail.smtp_server import SmtpSink


@pytest.fixture(autouse=True)
def _one_sender(settings):
    """One SMTP connection: the tests' database is one transaction other threads cannot see
    (test_parallel_senders_never_double_send runs several, on a committed database)."""
    settings.KEFU_CARE_SENDERS = 1


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd on loopback), with Django's SMTP backend pointed at it."""
    with (
        SmtpSink() as sink,
        override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=sink.port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_TIMEOUT=5,
        ),
    ):
        yield sink


def make_template(name: str = "news", **versions: tuple[str, str]) -> Template:
    template = Template.objects.create(name=name)
    for language, (subject, body) in (
        versions or {"en": ("Hi {{ name }}", "Hello {{ name }}")}
    ).items():
        TemplateVersion.objects.create(
            template=template,
            language=language.replace("_", "-"),
            subject=subject,
            body_text=body,
            body_html=f"<p>{body}</p>",
        )
    return template


def make_campaign(rules: dict | None = None, **fields) -> Campaign:
    segment = Segment.objects.create(name=f"seg{Segment.objects.count()}", rules=rules or {})
    return Campaign.objects.create(
        name="Spring", template=make_template(f"t{segment.pk}"), segment=segment, **fields
    )
