from __future__ import annotations

from typing import Any

from django import template

from kefu.care.surveys import figures_for

register = template.Library()


@register.inclusion_tag("care/_figures.html")
def care_figures(user: Any) -> dict[str, Any]:
    """An agent's CSAT figures (for the profile page)."""
    return {"figures": figures_for(user)}
