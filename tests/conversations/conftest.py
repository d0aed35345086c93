from __future__ import annotations

import pytest
from django.test import Client

from kefu.staff.models import AgentProfile
from tests.core.eventlog import events  # noqa: F401  (fixture)
from tests.factories import make_agent


@pytest.fixture
def supervisor(db):
    return make_agent("sup", role=AgentProfile.Role.SUPERVISOR)


@pytest.fixture
def agent_x2(team_x):
    return make_agent("agent.x2", team_x)


@pytest.fixture
def client_for(db):
    """``client_for(user)``: a test client signed in as ``user``."""

    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
