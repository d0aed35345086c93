"""Bearer-token authentication: ``Authorization: Bearer <token>``; agents only."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer

from kefu.api.tokens import authenticate_token
from kefu.staff.access import agent_profile


class AgentToken(HttpBearer):
    """A valid token of an active agent. No token or a bad one: 401; a token of someone who
    is not an agent (a portal customer, a former agent): 403."""

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = authenticate_token(token.strip())
        if user is None:
            return None
        if agent_profile(user) is None:
            raise AuthorizationError(message="the API is for agents; this token is not an agent's")
        return user


def agent(request: HttpRequest) -> Any:
    """The agent making this request (set by :class:`AgentToken`)."""
    return request.auth  # type: ignore[attr-defined]
