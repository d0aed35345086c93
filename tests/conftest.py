from __future__ import annotations

import pytest
from django.core.cache import cache

from kefu.staff.models import AgentProfile
from tests.factories import PASSWORD, CustomerFactory, TeamFactory, UserFactory, make_agent


@pytest.fixture(autouse=True)
def _media_in_tmp(tmp_path, settings):
    """Uploads and raw emails written by a test go to its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def team_x(db):
    return TeamFactory(name="Team X", slug="x")


@pytest.fixture
def team_y(db):
    return TeamFactory(name="Team Y", slug="y")


@pytest.fixture
def agent_x(team_x):
    return make_agent("agent.x", team_x)


@pytest.fixture
def agent_y(team_y):
    return make_agent("agent.y", team_y)


@pytest.fixture
def admin_user(db):
    return make_agent("boss", role=AgentProfile.Role.ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def customer(db):
    return CustomerFactory(name="张伟")


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def customer_user_factory(db):
    """A portal user tied to a customer (the customer principal)."""

    def make(username: str):
        user = UserFactory(username=username)
        cust = CustomerFactory(name=username, user=user)
        return user, cust

    return make
