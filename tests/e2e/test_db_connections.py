"""A web process holds few database connections, however many requests it has served.

Django's ASGI handler runs every request in a thread of its own; a connection kept for reuse
would outlive that thread, open until the garbage collector found it (one process held 69
PostgreSQL connections under the chat benchmark's sign-ups). kefu closes a request's
connections at its end (SQLite) or gives them back to a bounded pool (PostgreSQL).
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.conftest import kefu_server

pytestmark = pytest.mark.e2e

POOL = 3
REQUESTS = 120


def open_connections(env: dict[str, str], pid: int) -> int:
    url = env.get("KEFU_DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        name = urllib.parse.urlparse(url).path.lstrip("/")
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
            ).fetchone()
        assert row is not None
        return int(row[0])
    database = str(Path(env["KEFU_DATA_DIR"]) / "kefu.sqlite3")
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == database)


def test_served_requests_leave_no_connections_open(kefu_env):
    env = {**kefu_env, "KEFU_DB_POOL_SIZE": str(POOL)}
    started: list[subprocess.Popen[bytes]] = []
    with kefu_server(env, "--web-only", name="connections", started=started) as base:
        pid = started[0].pid

        def search(n: int) -> int:
            query = urllib.parse.urlencode({"q": f"充电 {n}"})
            with urllib.request.urlopen(f"{base}/help/search?{query}", timeout=30) as response:
                return int(response.status)

        peak = 0
        with ThreadPoolExecutor(8) as pool:
            for start in range(0, REQUESTS, 24):
                statuses = list(pool.map(search, range(start, start + 24)))
                assert statuses == [200] * 24
                peak = max(peak, open_connections(env, pid))
        # A request's connection is closed just after its response has gone out.
        # PostgreSQL's pool keeps what it has opened (up to its size) for the next requests.
        kept = POOL if env.get("KEFU_DATABASE_URL", "").startswith("postgres") else 1
        deadline = time.monotonic() + 10
        while (after := open_connections(env, pid)) > kept and time.monotonic() < deadline:
            time.sleep(0.1)
    # SQLite: at most one connection per request served at once (8 at a time here).
    assert peak <= (POOL if kept == POOL else 8), (
        f"{peak} connections open while serving {REQUESTS} requests"
    )
    assert after <= kept, f"{after} connections left open after {REQUESTS} requests"
