from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    """A strict CSP on every page: no inline script or style, so injected HTML cannot run."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/admin/"):
            response.headers.setdefault("Content-Security-Policy", CSP)
        return response


class AgentPreferencesMiddleware:
    """Language and time zone from the signed-in agent's profile (else the browser's)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        profile = getattr(user, "agent_profile", None) if user.is_authenticated else None
        if profile is not None:
            if profile.language:
                translation.activate(profile.language)
                request.LANGUAGE_CODE = profile.language
            if profile.timezone:
                try:
                    timezone.activate(zoneinfo.ZoneInfo(profile.timezone))
                except zoneinfo.ZoneInfoNotFoundError:
                    timezone.deactivate()
        response = self.get_response(request)
        timezone.deactivate()
        return response
