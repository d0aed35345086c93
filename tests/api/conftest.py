from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from kefu.api.tokens import create_token


class ApiClient:
    """The test client speaking JSON with a bearer token."""

    def __init__(self, client: Client, token: str | None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(path, params or {}, headers=self.headers)

    def post(self, path: str, data: Any = None, *, raw: str | bytes | None = None) -> Any:
        body = raw if raw is not None else json.dumps({} if data is None else data)
        return self.client.post(path, body, content_type="application/json", headers=self.headers)


@pytest.fixture
def api_as(db):
    """``api_as(user)``: an API client holding a fresh token of ``user`` (None: no token)."""

    def make(user: Any) -> ApiClient:
        return ApiClient(Client(), create_token(user) if user is not None else None)

    return make


@pytest.fixture
def api_x(api_as, agent_x):
    return api_as(agent_x)


@pytest.fixture
def api_y(api_as, agent_y):
    return api_as(agent_y)


@pytest.fixture
def api_admin(api_as, admin_user):
    return api_as(admin_user)
