"""Background work of live chat: transcripts by email."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django_tasks import task

from kefu.livechat.models import ChatSession
from kefu.livechat.payloads import history


@task()
def send_transcript(session_id: int, email: str, language: str = "") -> bool:
    """Email the visitor-visible part of a chat (never internal notes)."""
    session = (
        ChatSession.objects.select_related("widget", "conversation").filter(pk=session_id).first()
    )
    if session is None:
        return False
    with translation.override(language or session.widget.language or settings.LANGUAGE_CODE):
        context = {
            "session": session,
            "widget": session.widget,
            "messages": history(session),
            "now": timezone.now(),
        }
        subject = render_to_string("livechat/transcript_subject.txt", context).strip()
        text = render_to_string("livechat/transcript.txt", context)
        html = render_to_string("livechat/transcript.html", context)
    mail = EmailMultiAlternatives(
        subject=" ".join(subject.split())[:200],
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
        headers={"Auto-Submitted": "auto-generated"},
    )
    mail.attach_alternative(html, "text/html")
    mail.send()
    return True
