from __future__ import annotations

import pytest
from django.test import Client

from tests.core.eventlog import events  # noqa: F401  (fixture)


@pytest.fixture
def client_x(agent_x):
    client = Client()
    client.force_login(agent_x)
    return client
