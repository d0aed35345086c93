"""Macros (canned replies): who may use and manage which, placeholders, and using one.

Placeholders are a small fixed syntax, ``{{customer.name}}`` or ``{{customer.name|dear
customer}}`` (text after ``|`` is the fallback when the value is missing). Only the names in
:data:`PLACEHOLDERS` exist; nothing else is evaluated (no Django template runs on text an
agent typed), and values are inserted once, as plain text: a customer called
``{{agent.name}}`` stays exactly that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.conversations import actions
from kefu.conversations.models import Conversation
from kefu.core.errors import ActionError
from kefu.core.labels import label
from kefu.customers.models import Preference
from kefu.service.models import CannedReply, split_codes
from kefu.staff.access import agent_profile, team_ids

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]{0,60})\s*(?:\|([^{}\n]{0,100}))?\}\}")
MAX_VALUE = 500

Getter = Callable[["MacroContext"], str]


@dataclass
class MacroContext:
    conversation: Conversation | None
    agent: Any

    @property
    def customer(self) -> Any:
        return self.conversation.customer if self.conversation is not None else None

    def preferences(self, kind: str | None = None) -> str:
        if self.customer is None:
            return ""
        prefs = Preference.objects.filter(customer=self.customer).order_by("kind", "id")
        if kind:
            prefs = prefs.filter(kind=kind)
        return "; ".join(p.value for p in prefs[:20])


def _customer(attr: Callable[[Any], Any]) -> Getter:
    return lambda ctx: str(attr(ctx.customer) or "") if ctx.customer is not None else ""


def _conversation(attr: Callable[[Any], Any]) -> Getter:
    return lambda ctx: str(attr(ctx.conversation) or "") if ctx.conversation is not None else ""


def _preferences_of(kind: str) -> Getter:
    return lambda ctx: ctx.preferences(kind)


def _agent_name(ctx: MacroContext) -> str:
    profile = agent_profile(ctx.agent)
    return profile.name if profile is not None else ""


def _agent_signature(ctx: MacroContext) -> str:
    profile = agent_profile(ctx.agent)
    return profile.signature if profile is not None else ""


PLACEHOLDERS: dict[str, Getter] = {
    "customer.name": _customer(lambda c: c.name),
    "customer.email": _customer(lambda c: c.primary_contact),
    "customer.tier": _customer(lambda c: label(c.tier)),
    "customer.organization": _customer(lambda c: c.organization.name if c.organization else ""),
    "customer.preferences": lambda ctx: ctx.preferences(),
    **{f"customer.preferences.{kind}": _preferences_of(kind) for kind in Preference.Kind.values},
    "conversation.reference": _conversation(lambda c: c.reference),
    "conversation.subject": _conversation(lambda c: c.subject),
    "conversation.status": _conversation(lambda c: c.get_status_display()),
    "conversation.priority": _conversation(lambda c: c.get_priority_display()),
    "agent.name": _agent_name,
    "agent.signature": _agent_signature,
}

# Fallbacks when the macro gives none and the value is missing ("Dear {{customer.name}}").
DEFAULT_FALLBACKS: dict[str, Any] = {
    "customer.name": gettext_lazy("customer"),
    "agent.name": gettext_lazy("your service team"),
}


def placeholders_in(text: str) -> list[str]:
    return [m.group(1) for m in PLACEHOLDER.finditer(text or "")]


def _clean_value(value: str) -> str:
    # Control characters (other than newlines and tabs) carry no meaning in a reply.
    value = "".join(ch for ch in value if ch in "\n\t" or ch >= " ")
    return value.strip()[:MAX_VALUE]


def render(text: str, context: MacroContext) -> str:
    """``text`` with every known placeholder replaced by its value (or fallback), in one pass.
    Unknown names stay as typed, so the agent sees what did not fill in."""

    def fill(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        getter = PLACEHOLDERS.get(name)
        if getter is None:
            return match.group(0)
        value = _clean_value(getter(context))
        if value:
            return value
        if fallback is not None:
            return fallback.strip()
        return str(DEFAULT_FALLBACKS.get(name, ""))

    return PLACEHOLDER.sub(fill, text or "")


def check_macro(macro: CannedReply) -> None:
    """Validation shared by the admin and the workspace form (``CannedReply.clean``)."""
    errors: dict[str, list[str]] = {}
    unknown = sorted({n for n in placeholders_in(macro.body) if n not in PLACEHOLDERS})
    if unknown:
        errors.setdefault("body", []).append(
            _("Unknown placeholders: %(names)s. Known: %(known)s.")
            % {"names": ", ".join(unknown), "known": ", ".join(sorted(PLACEHOLDERS))}
        )
    if "{%" in (macro.body or ""):
        errors.setdefault("body", []).append(_("Template tags ({% … %}) are not allowed."))
    try:
        macro.add_tags = ", ".join(actions.normalize_tag(t) for t in split_codes(macro.add_tags))
    except ActionError as exc:
        errors.setdefault("add_tags", []).append(str(exc))
    if macro.owner_id is not None and macro.team_id is not None:
        errors.setdefault("team", []).append(_("A personal macro has no team."))
    if errors:
        raise ValidationError(errors)


def usable_macros(user: Any, q: str = "") -> QuerySet[CannedReply]:
    """Active macros ``user`` may use: their own, then shared ones (of their teams or of all)."""
    profile = agent_profile(user)
    if profile is None:
        return CannedReply.objects.none()
    shared = Q(owner__isnull=True)
    if not profile.sees_all_teams:
        shared &= Q(team__isnull=True) | Q(team_id__in=team_ids(user))
    macros = CannedReply.objects.filter(Q(owner=user) | shared, active=True)
    q = (q or "").strip().lstrip("/")[:40]
    if q:
        macros = macros.filter(Q(shortcut__istartswith=q) | Q(title__icontains=q))
    mine = Case(When(owner=user, then=Value(0)), default=Value(1), output_field=IntegerField())
    return macros.annotate(mine=mine).order_by("mine", "shortcut")


def manageable_macros(user: Any) -> QuerySet[CannedReply]:
    """What the user may edit: their own, plus the shared ones for supervisors and admins."""
    profile = agent_profile(user)
    if profile is None:
        return CannedReply.objects.none()
    if profile.sees_all_teams:
        return CannedReply.objects.filter(Q(owner=user) | Q(owner__isnull=True))
    return CannedReply.objects.filter(owner=user)


def can_manage(user: Any, macro: CannedReply) -> bool:
    profile = agent_profile(user)
    if profile is None:
        return False
    if macro.owner_id is not None:
        return bool(macro.owner_id == user.pk)
    return profile.sees_all_teams


def save_macro(macro: CannedReply, *, actor: Any) -> CannedReply:
    """Validate and save a new or edited macro the actor may manage (``ValidationError``
    lists what is wrong, ``ActionError`` when they may not)."""
    if agent_profile(actor) is None:
        raise ActionError("only an active agent can manage macros")
    if macro.pk is not None:
        stored = CannedReply.objects.filter(pk=macro.pk).first()
        if stored is None or not can_manage(actor, stored):
            raise ActionError("no such macro")
    if not can_manage(actor, macro):
        raise ActionError("only supervisors and admins manage shared macros")
    macro.full_clean()
    macro.save()
    return macro


def delete_macro(macro: CannedReply, *, actor: Any) -> None:
    if not can_manage(actor, macro):
        raise ActionError("no such macro")
    macro.delete()


@dataclass
class UsedMacro:
    body: str
    applied: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def describe_actions(macro: CannedReply) -> list[str]:
    steps = []
    if macro.set_status:
        steps.append(_("status → %(value)s") % {"value": label(macro.set_status)})
    if macro.set_priority:
        steps.append(_("priority → %(value)s") % {"value": label(macro.set_priority)})
    tags = split_codes(macro.add_tags)
    if tags:
        steps.append(_("tags + %(value)s") % {"value": ", ".join(tags)})
    return steps


def use_macro(macro: CannedReply, *, conversation: Conversation | None, actor: Any) -> UsedMacro:
    """The macro's text filled in for this conversation, and its actions applied to it
    through the conversation actions (each failure reported; the others still apply)."""
    if not usable_macros(actor).filter(pk=macro.pk).exists():
        raise ActionError("no such macro")
    result = UsedMacro(body=render(macro.body, MacroContext(conversation, actor)))
    if conversation is None:
        return result
    steps: list[tuple[str, Callable[[], Any]]] = []
    tags = split_codes(macro.add_tags)
    if tags:
        steps.append(("tags", lambda: actions.tag(conversation, actor=actor, add=tags)))
    if macro.set_priority:
        steps.append(
            (
                "priority",
                lambda: actions.set_priority(
                    conversation, actor=actor, priority=macro.set_priority
                ),
            )
        )
    if macro.set_status:
        steps.append(
            (
                "status",
                lambda: actions.set_status(conversation, actor=actor, status=macro.set_status),
            )
        )
    for name, step in steps:
        try:
            step()
        except ActionError as exc:
            result.failed.append((name, str(exc)))
        else:
            result.applied.append(name)
    return result
