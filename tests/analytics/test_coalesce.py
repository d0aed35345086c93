"""A burst of events on one conversation makes one deferred fact refresh, not one per event
(with the database queue, which defers; the tests' immediate queue refreshes at once)."""

from __future__ import annotations

import pytest
from django_tasks import task_backends
from django_tasks_db.models import DBTaskResult

from kefu.conversations import actions
from tests.factories import make_conversation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def database_queue(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    task_backends._settings = None  # rebuilt from the new settings
    for attr in ("_backends", "backends"):
        if hasattr(task_backends, attr):
            setattr(task_backends, attr, {})
    yield
    task_backends._settings = None
    for attr in ("_backends", "backends"):
        if hasattr(task_backends, attr):
            setattr(task_backends, attr, {})


def test_a_burst_of_chat_lines_makes_one_refresh(database_queue, team_x):
    conversation = make_conversation(team=team_x, subject="burst", body="first")
    for i in range(10):
        actions.receive_message(conversation, body_text=f"line {i}", timeline=False)
    refreshes = DBTaskResult.objects.filter(task_path__endswith="refresh_conversation")
    assert refreshes.count() == 1  # opened, first message and ten lines: one refresh
    assert refreshes.get().run_after is not None
