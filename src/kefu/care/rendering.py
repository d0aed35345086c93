"""Templates in the Django template language, rendered sandboxed.

Only the plain values :func:`context_for` builds are visible (strings, numbers, lists of
strings; never a model, so no attribute walks to other data); only a few harmless tags are
allowed (no ``load``, ``include``, ``extends``, ``debug``); a missing variable renders as ""
(``default`` gives a fallback); HTML versions are autoescaped, plain text is not.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import Lexer, TokenType
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.care.models import Template, TemplateVersion
from kefu.customers.models import Customer, Preference

ALLOWED_TAGS = frozenset(
    [
        "if",
        "elif",
        "else",
        "endif",
        "for",
        "empty",
        "endfor",
        "with",
        "endwith",
        "firstof",
        "comment",
        "endcomment",
        "spaceless",
        "endspaceless",
        "now",
    ]
)
UNKNOWN_BIRTH_YEARS = range(1, 1905)  # 1900 / 1904 stand for "year not known"

_engine = Engine(debug=False, loaders=[], libraries={}, string_if_invalid="")


def check_source(source: str) -> None:
    """Raise ValidationError if ``source`` uses a tag outside :data:`ALLOWED_TAGS` or does
    not compile."""
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0] if token.contents.split() else ""
            if name not in ALLOWED_TAGS:
                raise ValidationError(_("The tag “%(tag)s” is not allowed.") % {"tag": name})
    try:
        _engine.from_string(source)
    except TemplateSyntaxError as exc:
        raise ValidationError(str(exc)) from exc


@lru_cache(maxsize=256)
def _compiled(source: str) -> Any:
    check_source(source)
    return _engine.from_string(source)


def render_source(source: str, values: dict[str, Any], *, html: bool) -> str:
    """``source`` rendered with ``values``; a template that fails renders as ""."""
    if not source:
        return ""
    try:
        return str(_compiled(source).render(Context(values, autoescape=html)))
    except (ValidationError, Exception):
        return ""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    language: str


def pick_version(
    versions: list[TemplateVersion], language: str, tier: str
) -> TemplateVersion | None:
    """The best version for a customer: their language and tier, their language for any
    tier, the site's language, then any."""
    language = (language or "").lower()
    default = settings.LANGUAGE_CODE.lower()

    def rank(v: TemplateVersion) -> tuple[int, int]:
        lang = v.language.lower()
        by_language = 0 if lang == language else 1 if lang == default else 2 if not lang else 3
        by_tier = 0 if v.tier == tier else 1 if not v.tier else 9
        return (by_language, by_tier)

    usable = [v for v in versions if not v.tier or v.tier == tier]
    return min(usable, key=rank) if usable else None


def render_for(
    template: Template | list[TemplateVersion], values: dict[str, Any], *, language: str, tier: str
) -> Rendered | None:
    versions = template if isinstance(template, list) else list(template.versions.all())
    version = pick_version(versions, language, tier)
    if version is None:
        return None
    subject = " ".join(render_source(version.subject, values, html=False).split())
    return Rendered(
        subject=subject[:255],
        text=render_source(version.body_text, values, html=False),
        html=render_source(version.body_html, values, html=True),
        language=version.language,
    )


def customer_zone(customer: Customer) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(customer.timezone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def age_on(birthday: date | None, day: date) -> int | None:
    if birthday is None or birthday.year in UNKNOWN_BIRTH_YEARS:
        return None
    return day.year - birthday.year - ((day.month, day.day) < (birthday.month, birthday.day))


def context_for(
    customer: Customer,
    preferences: list[Preference] | None = None,
    *,
    now: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Plain values a template may use: ``name``, ``first_name``, ``preference`` (the latest
    personal one), ``preferences``, ``age``, ``tier``, ``customer_since`` (years),
    ``company``, ``products`` (none until after-sales exists), plus ``extra``."""
    now = now or timezone.now()
    today = now.astimezone(customer_zone(customer)).date()
    if preferences is None:
        preferences = list(customer.preferences.all())
    values_ = [p.value for p in preferences if p.value]
    personal = [p.value for p in preferences if p.kind == Preference.Kind.PERSONAL and p.value]
    since = customer.created_at.date() if customer.created_at else today
    name = customer.name or ""
    organization = customer.organization.name if customer.organization_id else ""  # type: ignore[union-attr]
    values: dict[str, Any] = {
        "name": name,
        "first_name": name.split()[0] if " " in name else name,
        "preference": (personal or values_ or [""])[-1],
        "preferences": values_,
        "age": age_on(customer.birthday, today),
        "tier": customer.get_tier_display(),
        "customer_since": max(0, today.year - since.year),
        "company": organization,
        "products": [],
    }
    values.update(extra or {})
    return values
