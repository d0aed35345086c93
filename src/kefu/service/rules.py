"""What routing and automation rules share: the facts a rule looks at, its conditions (each
explained, for the test mode), its validation on save, and the cached rule lists.

Rules are read once a minute per process (and at once after an edit in this process) and
matched in memory: no query per rule. Without any rule, events cost no query at all.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils.translation import gettext as _

from kefu.conversations.models import Conversation, Message
from kefu.service.models import (
    Assign,
    AssignmentPolicy,
    AutomationRule,
    RoutingRule,
    RuleBase,
    Trigger,
    split_codes,
)
from kefu.service.policies import _cached, clear
from kefu.staff.access import agent_profile

MAX_KEYWORDS = 200
TEXT_LIMIT = 8000  # characters of each message a keyword is looked for in
_SEPARATORS = re.compile(r"[,\n，、;；]+")


@lru_cache(maxsize=1)
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


def fold(text: str) -> str:
    """Traditional → simplified, full-width → half-width, any case → one case."""
    return unicodedata.normalize("NFKC", _t2s().convert(text)).casefold()


def split_list(value: str) -> list[str]:
    return [item.strip() for item in _SEPARATORS.split(value or "") if item.strip()]


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """A folded keyword; words of Latin letters match whole words ("vip" is not in
    "vipassana"), Chinese matches anywhere (it has no spaces between words)."""
    folded = fold(keyword)
    escaped = re.escape(folded)
    if folded.isascii():
        return re.compile(rf"(?<![0-9a-z]){escaped}(?![0-9a-z])")
    return re.compile(escaped)


@dataclass
class Facts:
    """What the rules look at, read once per conversation and evaluation."""

    conversation: Conversation
    tags: frozenset[str]
    text: str  # folded: subject, the customer's first and latest message
    addresses: frozenset[str]  # support addresses the customer wrote to


def facts_for(conversation: Conversation) -> Facts:
    tags = frozenset(conversation.tags.values_list("name", flat=True))
    inbound = conversation.messages.filter(direction=Message.Direction.IN).only(
        "body_text", "metadata"
    )
    first = inbound.order_by("id").first()
    latest = inbound.order_by("-id").first()
    texts = [conversation.subject]
    addresses: set[str] = set()
    for message in {m.pk: m for m in (first, latest) if m is not None}.values():
        texts.append(message.body_text[:TEXT_LIMIT])
        meta = message.metadata if isinstance(message.metadata, dict) else {}
        for key in ("to", "cc"):
            values = meta.get(key) or []
            if isinstance(values, list):
                addresses.update(str(v).lower() for v in values if isinstance(v, str))
    return Facts(
        conversation=conversation,
        tags=tags,
        text=fold("\n".join(texts)),
        addresses=frozenset(addresses),
    )


@dataclass(frozen=True)
class Check:
    """One condition of a rule and whether the conversation meets it."""

    condition: str
    ok: bool
    detail: str


def _codes(value: str) -> frozenset[str]:
    return frozenset(split_codes(value))


@dataclass
class Compiled:
    """A rule with its conditions parsed once."""

    rule: Any
    channels: frozenset[str]
    mailboxes: frozenset[str]
    keywords: tuple[tuple[str, re.Pattern[str]], ...]
    languages: frozenset[str]
    tiers: frozenset[str]
    kinds: frozenset[str]
    priorities: frozenset[str]
    statuses: frozenset[str]
    tags: frozenset[str]
    organization_ids: frozenset[int]
    team_ids: frozenset[int]
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, rule: RuleBase) -> Compiled:
        return cls(
            rule=rule,
            channels=_codes(rule.channels),
            mailboxes=frozenset(a.lower() for a in split_list(rule.mailboxes)),
            keywords=tuple((k, keyword_pattern(k)) for k in split_list(rule.keywords)),
            languages=_codes(rule.languages),
            tiers=_codes(rule.tiers),
            kinds=_codes(rule.kinds),
            priorities=_codes(rule.priorities),
            statuses=_codes(rule.statuses),
            tags=frozenset(t.lower() for t in split_list(rule.tags)),
            organization_ids=frozenset(o.pk for o in rule.organizations.all()),
            team_ids=frozenset(t.pk for t in rule.teams.all()),
            extra={
                "organization": {o.pk: o.name for o in rule.organizations.all()},
                "team": {t.pk: t.name for t in rule.teams.all()},
            },
        )

    def _tests(self, facts: Facts) -> list[tuple[str, Any, Any]]:
        """(condition, wanted, test) for each non-empty condition; ``test()`` gives
        (ok, what the conversation has)."""
        c = facts.conversation
        customer = c.customer
        tests: list[tuple[str, Any, Any]] = []

        def member(name: str, wanted: frozenset[Any], value: Any) -> None:
            if wanted:
                tests.append((name, wanted, lambda: (value in wanted, value)))

        member("channel", self.channels, c.channel)
        if self.mailboxes:
            tests.append(
                (
                    "mailbox",
                    self.mailboxes,
                    lambda: (bool(self.mailboxes & facts.addresses), sorted(facts.addresses)),
                )
            )
        if self.keywords:

            def keywords() -> tuple[bool, Any]:
                found = [k for k, pattern in self.keywords if pattern.search(facts.text)]
                return bool(found), found

            tests.append(("keywords", [k for k, _p in self.keywords], keywords))
        member("language", self.languages, c.language)
        member("tier", self.tiers, customer.tier)
        member("kind", self.kinds, c.kind)
        member("priority", self.priorities, c.priority)
        member("status", self.statuses, c.status)
        if self.tags:
            tests.append(
                ("tags", self.tags, lambda: (bool(self.tags & facts.tags), sorted(facts.tags)))
            )
        member("organization", self.organization_ids, customer.organization_id)
        member("team", self.team_ids, c.team_id)
        return tests

    def matches(self, facts: Facts) -> bool:
        return all(test()[0] for _name, _wanted, test in self._tests(facts))

    def explain(self, facts: Facts) -> list[Check]:
        checks = []
        c = facts.conversation
        names = {
            "organization": {c.customer.organization_id: str(c.customer.organization or "")},
            "team": {c.team_id: str(c.team or "")},
        }
        for name, wanted, test in self._tests(facts):
            ok, value = test()
            if name in names:  # ids read as names
                known = {**names[name], **self.extra[name]}
                value = known.get(value, value) or "—"
                wanted = {known.get(w, w) for w in wanted}
            shown = ", ".join(sorted(str(w) for w in wanted))
            checks.append(Check(name, ok, f"{value!s} / {shown}"))
        return checks


# Cached lists ----------------------------------------------------------------------------


def _load_routing() -> list[Compiled]:
    return [
        Compiled.of(rule)
        for rule in RoutingRule.objects.filter(active=True)
        .select_related("set_team", "assign_agent")
        .prefetch_related("organizations", "teams")
    ]


def _load_automation() -> dict[str, list[Compiled]]:
    by_trigger: dict[str, list[Compiled]] = {}
    for rule in (
        AutomationRule.objects.filter(active=True)
        .select_related("set_team", "assign_agent", "reply_template")
        .prefetch_related("organizations", "teams")
    ):
        by_trigger.setdefault(rule.trigger, []).append(Compiled.of(rule))
    return by_trigger


def _load_auto_teams() -> frozenset[int]:
    return frozenset(
        AssignmentPolicy.objects.exclude(strategy="manual").values_list("team_id", flat=True)
    )


def routing_rules() -> list[Compiled]:
    rules: list[Compiled] = _cached("routing-rules", _load_routing)
    return rules


def automation_rules(trigger: str) -> list[Compiled]:
    rules: dict[str, list[Compiled]] = _cached("automation-rules", _load_automation)
    return rules.get(trigger, [])


def auto_assigning_teams() -> frozenset[int]:
    """Teams whose strategy is not manual."""
    teams: frozenset[int] = _cached("auto-teams", _load_auto_teams)
    return teams


for _model in (RoutingRule, AutomationRule, AssignmentPolicy):
    post_save.connect(clear, sender=_model, dispatch_uid=f"rules-{_model.__name__}")
    post_delete.connect(clear, sender=_model, dispatch_uid=f"rules-del-{_model.__name__}")
for _through in (
    RoutingRule.organizations.through,
    RoutingRule.teams.through,
    AutomationRule.organizations.through,
    AutomationRule.teams.through,
):
    m2m_changed.connect(clear, sender=_through, dispatch_uid=f"rules-m2m-{_through.__name__}")


# Validation on save --------------------------------------------------------------------------

ROUTING_ACTIONS = (
    "set_team",
    "team_from_customer",
    "set_priority",
    "set_kind",
    "add_tags",
    "assign",
)
AUTOMATION_ACTIONS = (
    *ROUTING_ACTIONS,
    "set_status",
    "remove_tags",
    "reply_template",
    "note",
    "webhook_url",
)


def check_rule(rule: RuleBase) -> None:
    """Refuse a rule that could not do what it says (called by ``clean()``, so the admin
    shows each problem beside its field)."""
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    automation = isinstance(rule, AutomationRule)
    actions = AUTOMATION_ACTIONS if automation else ROUTING_ACTIONS
    if not any(getattr(rule, f"{name}_id", None) or getattr(rule, name, None) for name in actions):
        fail("__all__", _("A rule must do something: choose at least one action."))
    for name in ("add_tags", "remove_tags", "tags"):
        for tag in split_list(getattr(rule, name, "") or ""):
            if len(tag) > 64:
                fail(name, _("A tag is at most 64 characters: %(tag)s") % {"tag": tag[:70]})
    keywords = split_list(rule.keywords)
    if len(keywords) > MAX_KEYWORDS:
        fail("keywords", _("At most %(n)d keywords.") % {"n": MAX_KEYWORDS})
    if any(len(k) > 100 for k in keywords):
        fail("keywords", _("A keyword is at most 100 characters."))
    for address in split_list(rule.mailboxes):
        try:
            validate_email(address)
        except ValidationError:
            fail("mailboxes", _("Not an email address: %(a)s") % {"a": address[:100]})
    if rule.assign == Assign.AGENT:
        profile = agent_profile(rule.assign_agent) if rule.assign_agent_id else None
        if profile is None:
            fail("assign_agent", _("Choose an active agent to assign to."))
        elif (
            rule.set_team_id
            and not profile.sees_all_teams
            and not profile.teams.filter(pk=rule.set_team_id).exists()
        ):
            fail(
                "assign_agent",
                _("%(agent)s is not a member of %(team)s.")
                % {"agent": profile.name, "team": rule.set_team},
            )
    elif rule.assign_agent_id:
        fail("assign_agent", _("An agent is only named for “a named agent”."))
    if rule.set_team_id and rule.team_from_customer:
        fail("team_from_customer", _("Set a team or the customer's team, not both."))
    if automation:
        _check_automation(rule, fail)  # type: ignore[arg-type]
    if errors:
        raise ValidationError(errors)


def _check_automation(rule: AutomationRule, fail: Any) -> None:
    from kefu.service.webhooks import check_url

    if rule.trigger == Trigger.IDLE and not rule.idle_hours:
        fail("idle_hours", _("Say after how many idle hours the rule acts."))
    if rule.trigger != Trigger.IDLE and rule.idle_hours:
        fail("idle_hours", _("Idle hours are only for “idle for N hours”."))
    if rule.webhook_url:
        problem = check_url(rule.webhook_url, resolve=False)
        if problem:
            fail("webhook_url", problem)
    elif rule.webhook_secret:
        fail("webhook_secret", _("A secret without a webhook address."))
    if rule.reply_template is not None and not rule.reply_template.active:
        fail("reply_template", _("This template is not active."))
