"""A burst of events on one conversation makes one deferred fact refresh, not one per event
(with the database queue, which defers; the tests' immediate queue refreshes at once)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import transaction
from django_tasks import task_backends
from django_tasks_db.models import DBTaskResult

from kefu.analytics import listeners
from kefu.analytics.models import ConversationFact
from kefu.analytics.tasks import refresh_conversations
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
    listeners._scheduled.clear()
    cache.clear()
    yield
    listeners._scheduled.clear()
    task_backends._settings = None
    for attr in ("_backends", "backends"):
        if hasattr(task_backends, attr):
            setattr(task_backends, attr, {})


def test_a_burst_of_chat_lines_makes_one_refresh(database_queue, team_x):
    conversation = make_conversation(team=team_x, subject="burst", body="first")
    for i in range(10):
        actions.receive_message(conversation, body_text=f"line {i}", timeline=False)
    refreshes = _refreshes()
    assert refreshes.count() == 1  # opened, first message and ten lines: one refresh
    assert refreshes.get().run_after is not None


def _refreshes():
    return DBTaskResult.objects.filter(task_path__endswith="refresh_conversations")


def _ids(result) -> list[int]:
    return result.args_kwargs["args"][0]


def test_one_transactions_conversations_make_one_refresh(database_queue, team_x):
    with transaction.atomic():
        opened = [make_conversation(team=team_x, subject=f"mail {i}") for i in range(5)]
        for c in opened[:2]:
            actions.receive_message(c, body_text="more", timeline=False)
    (task,) = _refreshes()
    assert _ids(task) == sorted(c.pk for c in opened)


def test_a_rolled_back_transaction_schedules_nothing_and_loses_nothing(database_queue, team_x):
    kept = make_conversation(team=team_x, subject="kept")
    _refreshes().delete()
    listeners._scheduled.clear()
    cache.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.receive_message(kept, body_text="rolled back", timeline=False)
        raise RuntimeError
    assert not _refreshes().exists()
    with transaction.atomic():
        actions.receive_message(kept, body_text="committed", timeline=False)
    (task,) = _refreshes()
    assert _ids(task) == [kept.pk]


def test_a_savepoint_rollback_keeps_the_transactions_refresh(database_queue, team_x):
    with transaction.atomic():
        first = make_conversation(team=team_x, subject="before")
        try:
            with transaction.atomic():
                make_conversation(team=team_x, subject="inner")
                raise RuntimeError
        except RuntimeError:
            pass
        second = make_conversation(team=team_x, subject="after")
    (task,) = _refreshes()
    assert {first.pk, second.pk} <= set(_ids(task))  # the inner one's id is a harmless extra


def test_the_batch_refresh_computes_every_fact(team_x):
    with transaction.atomic():
        opened = [make_conversation(team=team_x, subject=f"mail {i}") for i in range(3)]
    ConversationFact.objects.all().delete()
    refresh_conversations.call([c.pk for c in opened])
    assert set(ConversationFact.objects.values_list("pk", flat=True)) == {c.pk for c in opened}
