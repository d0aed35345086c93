"""Production settings refuse the default secret key; the scheduler and the rate limiter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kefu.core import ratelimit, scheduler

SRC = Path(__file__).resolve().parents[2] / "src"
SETUP = (
    "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'kefu.settings'; django.setup(); "
    "from django.conf import settings; print('DEBUG', settings.DEBUG)"
)


def run_setup(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "PYTEST", "DJANGO_"))
    }
    clean.update(KEFU_DATA_DIR=str(tmp_path), PYTHONPATH=str(SRC), **env)
    return subprocess.run(
        [sys.executable, "-c", SETUP],
        env=clean,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_the_default_secret_key(tmp_path):
    result = run_setup(tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "KEFU_SECRET_KEY is not set" in result.stderr


def test_production_starts_with_a_secret_key(tmp_path):
    result = run_setup(tmp_path, KEFU_SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    assert "DEBUG False" in result.stdout


@pytest.mark.parametrize("flag", ["KEFU_DEBUG", "KEFU_DEMO"])
def test_debug_and_demo_may_use_the_default_key(tmp_path, flag):
    result = run_setup(tmp_path, **{flag: "1"})
    assert result.returncode == 0, result.stderr


def test_a_false_flag_is_not_a_way_around(tmp_path):
    result = run_setup(tmp_path, KEFU_DEBUG="0", KEFU_DEMO="no")
    assert result.returncode != 0
    assert "KEFU_SECRET_KEY is not set" in result.stderr


# --- scheduler ---------------------------------------------------------------------------


class FakeTask:
    def __init__(self) -> None:
        self.enqueued = 0

    def enqueue(self) -> None:
        self.enqueued += 1


@pytest.fixture
def jobs(monkeypatch):
    monkeypatch.setattr(scheduler, "_jobs", {})
    hourly, minutely = FakeTask(), FakeTask()
    scheduler.every(3600, name="hourly")(hourly)
    scheduler.every(60, name="minutely")(minutely)
    return hourly, minutely


def test_tick_fires_each_job_once_per_slot(jobs):
    hourly, minutely = jobs
    t0 = 3600 * 1000.0  # the start of an hour (and of a minute)
    assert scheduler.tick(now=t0) == ["hourly", "minutely"]
    assert scheduler.tick(now=t0) == []
    assert scheduler.tick(now=t0 + 59) == []
    assert scheduler.tick(now=t0 + 60) == ["minutely"]
    assert scheduler.tick(now=t0 + 61) == []
    assert scheduler.tick(now=t0 + 3600) == ["hourly", "minutely"]
    assert (hourly.enqueued, minutely.enqueued) == (2, 3)


def test_a_failing_job_does_not_stop_the_others(jobs, caplog):
    _, minutely = jobs

    class Broken:
        def enqueue(self) -> None:
            raise RuntimeError("queue down")

    scheduler.every(60, name="a-broken")(Broken())
    assert scheduler.tick(now=120.0) == ["hourly", "minutely"]
    assert "a-broken" in caplog.text
    assert minutely.enqueued == 1


def test_housekeeping_jobs_are_registered():
    names = {job.name for job in scheduler.jobs()}
    assert {"clear-expired-sessions", "prune-task-results"} <= names


# --- rate limiter ------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    now = [1_000_000.0]

    class Clock:
        @staticmethod
        def time() -> float:
            return now[0]

    monkeypatch.setattr(ratelimit, "time", Clock)
    return now


def test_hit_counts_per_scope_and_ident(clock):
    assert [ratelimit.hit("login", "1.2.3.4|a", 3, 60) for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert ratelimit.exceeded("login", "1.2.3.4|a", 3, 60)
    assert ratelimit.hit("login", "1.2.3.4|b", 3, 60)  # another ident
    assert ratelimit.hit("form", "1.2.3.4|a", 3, 60)  # another scope
    assert not ratelimit.exceeded("login", "1.2.3.4|b", 3, 60)


def test_hit_resets_in_the_next_window(clock):
    for _ in range(2):
        ratelimit.hit("login", "x", 2, 60)
    assert not ratelimit.hit("login", "x", 2, 60)
    clock[0] += 60
    assert ratelimit.hit("login", "x", 2, 60)


def test_client_address():
    assert ratelimit.client_address({"REMOTE_ADDR": "10.1.2.3"}) == "10.1.2.3"
    assert ratelimit.client_address({}) == "unknown"
