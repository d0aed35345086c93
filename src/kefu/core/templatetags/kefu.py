from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()

EVENT_LABELS = {
    "conversation_opened": _("opened the conversation"),
    "status_changed": _("changed the status"),
    "priority_changed": _("changed the priority"),
    "kind_changed": _("changed the kind"),
    "assigned": _("assigned"),
    "tags_changed": _("changed tags"),
    "conversation_merged": _("merged a conversation into this one"),
    "message_received": _("wrote"),
    "reply_sent": _("replied"),
    "note_added": _("added a note"),
    "customer_created": _("became a customer"),
    "customer_merged": _("merged a duplicate customer"),
    "preference_added": _("remembered a preference"),
    "preference_changed": _("changed a preference"),
    "preference_removed": _("forgot a preference"),
    "tier_changed": _("changed the tier"),
    "profile_changed": _("changed the profile"),
    "contact_added": _("added a contact point"),
    "owner_changed": _("changed the account manager"),
    "acknowledged": _("sent an acknowledgment"),
    "acknowledgment_skipped": _("held back an acknowledgment (flood limit)"),
    "chat_started": _("started a live chat"),
    "chat_ended": _("ended the live chat"),
    "rated": _("rated the conversation"),
    "sla_applied": _("applied the SLA policy"),
    "sla_warning": _("warned that an SLA target is near"),
    "sla_breached": _("recorded an SLA breach"),
    "sla_escalated": _("escalated"),
    "sla_resumed": _("resumed the SLA clocks"),
    "conversation_split": _("split messages into a new conversation"),
    "conversation_split_from": _("split this conversation off"),
    "conversation_linked": _("linked a related conversation"),
    "conversation_unlinked": _("unlinked a related conversation"),
    "complaint_acknowledged": _("acknowledged the complaint"),
    "complaint_resolution": _("recorded the complaint's resolution"),
    "rule_webhook": _("called a webhook"),
    "rule_failed": _("could not do all a rule says"),
    "rule_chain_stopped": _("stopped a chain of automation rules"),
}


@register.filter
def event_label(kind: str) -> str:
    return str(EVENT_LABELS.get(kind, kind.replace("_", " ")))


@register.filter
def initials(name: Any) -> str:
    text = str(name or "?").strip()
    if not text:
        return "?"
    if text[0].isascii():
        parts = text.split()
        return "".join(p[0] for p in parts[:2]).upper()
    first = text.split()[0]  # a Chinese name: its last two characters, as colleagues say it
    return first[-2:] if len(first) > 2 else first


@register.filter
def choice_label(value: str, choices: Any) -> str:
    return str(dict(choices).get(value, value))


@register.simple_tag(takes_context=True)
def query_with(context: Any, **changes: Any) -> str:
    """The current query string with some parameters changed (None or "" removes one)."""
    params = context["request"].GET.copy()
    params.pop("page", None)
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def get_item(mapping: Any, key: str) -> Any:
    try:
        return mapping.get(key, "")
    except AttributeError:
        return ""


@register.filter
def since(value: Any) -> str:
    """The largest unit of "time since", e.g. "3 days" (localized)."""
    from django.utils.timesince import timesince

    if not value:
        return ""
    return timesince(value).split(",")[0].split("，")[0]


@register.filter(name="label")
def label_filter(value: Any) -> str:
    """The translated label of a stored code such as "pending" or "key_account"."""
    from kefu.core.labels import label

    return label(value)
