"""End-to-end fixtures: real `kefu run` server processes and Debian's chromium.

The servers get their own database (a SQLite file, or a fresh PostgreSQL database when the
suite runs on PostgreSQL), so the tests drive kefu exactly as a user's browser would.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
KEFU = [sys.executable, "-m", "kefu.cli"]
SEED = """
from django.contrib.auth.models import User
from kefu.conversations import actions
from kefu.customers.actions import resolve_customer, set_preference, set_tier
from kefu.staff.models import AgentProfile, Team

team = Team.objects.create(name="售后服务 After-sales", slug="aftersales")
agent = User.objects.create_user("li.na", password="pw-li-na-123")
profile = AgentProfile.objects.create(user=agent, display_name="李娜", language="zh-hans")
profile.teams.add(team)
portal_user = User.objects.create_user("zhang.wei", password="pw-zhang-123")
customer = resolve_customer(email="zhang.wei@example.cn", name="张伟")
customer.user = portal_user
customer.save()
set_tier(customer, tier="vip", actor=agent)
set_preference(customer, actor=agent, value="喜欢喝茶", kind="personal")
actions.open_conversation(customer=customer, channel="web", team=team,
    subject="扫地机器人不充电", body_text="你好，我的扫地机器人昨天开始不充电了。")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def kefu_environment(data: Path) -> Iterator[dict[str, str]]:
    """Environment for kefu processes with a fresh, migrated and seeded database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(KEFU_DEBUG="1", KEFU_DATA_DIR=str(data), KEFU_SECRET_KEY="e2e-" + uuid.uuid4().hex)
    env.pop("KEFU_REDIS_URL", None)
    pg_url = os.environ.get("KEFU_DATABASE_URL", "")
    pg_name = None
    if pg_url.startswith("postgres"):
        import psycopg

        pg_name = f"kefu_e2e_{uuid.uuid4().hex[:8]}"
        admin_url = pg_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        env["KEFU_DATABASE_URL"] = pg_url.rsplit("/", 1)[0] + "/" + pg_name
    else:
        env.pop("KEFU_DATABASE_URL", None)
    try:
        subprocess.run([*KEFU, "migrate", "-v0"], env=env, check=True)
        subprocess.run([*KEFU, "shell", "-v0", "-c", SEED], env=env, check=True)
        yield env
    finally:
        if pg_name:
            import psycopg

            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def kefu_server(
    env: dict[str, str],
    *args: str,
    name: str = "server",
    started: list[subprocess.Popen[bytes]] | None = None,
) -> Iterator[str]:
    """Start `kefu run` on a free port; yield its base URL once /healthz answers (the process
    is appended to ``started`` if given)."""
    port = free_port()
    log_path = Path(env["KEFU_DATA_DIR"]) / f"{name}-{port}.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [*KEFU, "run", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if started is not None:
            started.append(server)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=2)
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(log_path.read_text()[-3000:]) from None
                    time.sleep(0.3)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


@pytest.fixture(scope="module")
def kefu_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with kefu_environment(tmp_path_factory.mktemp("kefu-e2e")) as env:
        yield env


@pytest.fixture(scope="module")
def kefu_base(kefu_env: dict[str, str]) -> Iterator[str]:
    with kefu_server(kefu_env) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is required in CI (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield instance
        instance.close()
