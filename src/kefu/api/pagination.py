"""limit / offset pages with the total count, the shape every list endpoint returns."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from kefu.api.schemas import Page


def paginate(queryset: QuerySet[Any], page: Page) -> dict[str, Any]:
    """One COUNT and one page of rows (plus whatever the queryset prefetches)."""
    return {
        "count": queryset.count(),
        "limit": page.limit,
        "offset": page.offset,
        "items": list(queryset[page.offset : page.offset + page.limit]),
    }
