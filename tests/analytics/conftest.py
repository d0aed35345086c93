from __future__ import annotations

import pytest

from kefu.analytics import facts


@pytest.fixture(autouse=True)
def _fresh_calendar():
    """The reporting calendar is cached per process; each test defines its own."""
    facts.reset_schedule()
    yield
    facts.reset_schedule()


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run the events' listeners (and so the rollup refreshes) as a commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
