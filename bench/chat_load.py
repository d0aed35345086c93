"""Live-chat load: visitor → agent delivery latency on kefu, against a bare websockets relay.

    .venv/bin/python bench/chat_load.py [--visitors 1000] [--agents 50] [--rate 200[,…]]
        [--duration 30] [--modes memory,redis,bare[,bare-redis]] [--db sqlite|postgres]
        [--profile DIR]
        [--what-if NAME …] [--src DIR]

Everything runs on loopback. The bench makes a throwaway data directory and database (a
temporary SQLite file, or a fresh PostgreSQL database ``kefu_chatload_<random>`` that is dropped
at the end), migrates it and seeds, with Django set up in this process: one team, ``--agents``
agents (online, capacity 25, members of the team), a live-chat widget of that team and one
signed-in session per agent (made with Django's session engine, sent as a Cookie header).

Then, for each mode:

``memory``  one ``kefu run --web-only`` process with the in-memory channel layer;
``redis``   two ``kefu run --web-only`` processes with ``KEFU_REDIS_URL`` (the Redis pub/sub
            channel layer): the agents on the first, the visitors split between both;
``bare``    the floor: a relay written with the ``websockets`` library alone (in a subprocess,
            on uvloop like uvicorn), same frames, each visitor tied round-robin to one agent.
``bare-redis`` (informative, not in the default modes) the floor of the two-process set-up:
            two such relays with the agents on the first and the visitors split between
            both, the second's lines reaching the agents through one Redis pub/sub channel
            (redis-py with hiredis, one ``PUBLISH`` a line); its ratio to ``bare`` is what the
            extra process and the Redis hop cost before any kefu code runs.

Set-up (not measured): the agents open ``/ws/workspace/``; each visitor POSTs
``/chat/w/<key>/session`` then ``/chat/w/<key>/start`` (once, in the first kefu mode; later
modes reuse the tokens and open chats), opens ``/ws/chat/<key>/?token=…`` and sends ``hello``.
Measured: the visitors together send ``--rate`` ``msg`` frames per second for ``--duration``
seconds (round-robin over the visitors, each with a unique ``cid``); the latency of a message
is the time from just before its ``send`` to the moment an agent socket of this same process
reads the ``{"op": "chat", "message": {"cid": …}}`` frame that carries it. After the window,
up to ``--drain`` seconds for stragglers (the percentiles cover these); then up to ``--settle``
seconds (stopping after ``--settle-idle`` seconds without one) for late frames; what never
arrives is "never delivered", split by whether kefu stored it (found by ``external_id``) and
acknowledged it. ``--rate 5,10,20`` measures one window per rate over the same sockets.

Also printed: the visitor's ``ack`` round trip, errors by code, sockets the server closed,
server RSS growth per visitor and per agent socket (``VmRSS``), server and client CPU seconds
during the window (``/proc/<pid>/stat``) and everything else's on the machine (``/proc/stat``),
server CPU ms per message, and kefu ÷ bare ratios. ``--profile DIR`` runs ``py-spy record``
(on PATH, or ``--py-spy PATH``) on every kefu server during each window and prints where the
samples are (by thread, package, function). ``--what-if NAME`` starts kefu through this file
with a patch applied (src/ untouched; see ``WHAT_IFS``); ``--src DIR`` runs another tree (e.g.
a ``git archive`` snapshot). It exits non-zero only when the harness itself fails; figures
are printed, never asserted. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import importlib
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

KEFU = [sys.executable, "-m", "kefu.cli"]
ALLOWED_ORIGIN = "http://127.0.0.1"
TEXTS = (
    "你好，请问订单 KF-{n} 什么时候发货？",
    "我的扫地机器人充不上电了，指示灯一直闪红色。",
    "Hi, can I change the delivery address of order {n}?",
    "发票抬头开错了，能重开吗？订单号 {n}",
    "The filter I received is damaged, what should I do?",
)


# ---------------------------------------------------------------------------------------------
# Small helpers: percentiles, /proc, ports, subprocesses
# ---------------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def own_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:  # it has exited
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    """The processes a server started (kefu's chat writer process), recursively."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for child in task.read_text().split():
                found += [int(child), *descendants(int(child))]
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of a server and the processes it started, in seconds."""
    return own_cpu_seconds(pid) + sum(own_cpu_seconds(c) for c in descendants(pid))


def children_cpu_seconds(pid: int) -> float:
    return sum(own_cpu_seconds(c) for c in descendants(pid))


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle (nor waiting for I/O) since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base: str  # http://127.0.0.1:port
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def ws(self) -> str:
        return self.base.replace("http://", "ws://", 1)


class Processes:
    """Every subprocess this bench starts; all are stopped on exit, error or Ctrl-C."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in list(self.running):
            with contextlib.suppress(Exception):
                self.stop(process)


def wait_http(server: Server, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(server.base + path, timeout=2).read()
            return
        except OSError:
            if server.process.poll() is not None or time.monotonic() > deadline:
                tail = server.log.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"{server.name} did not start:\n{tail}") from None
            time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# The bare relay (run as a subprocess: ``chat_load.py --serve-relay PORT``)
# ---------------------------------------------------------------------------------------------


def serve_relay(port: int) -> None:
    """A live-chat relay with the websockets library alone: the floor for kefu.

    ``/agent`` sockets only listen. Each ``/visitor`` socket is tied round-robin to one agent
    when it connects; it gets the same frames as kefu's visitor socket (``history`` + ``state``
    for ``hello``, ``ack`` and the echoed ``msg`` for ``msg``, ``pong``), and its agent gets
    ``{"op": "chat", "conversation", "message"}`` with the same message object. Nothing is
    stored: this is the cost of parsing, framing and forwarding, and nothing else.
    """
    import datetime as dt

    from websockets.asyncio.server import ServerConnection, serve

    agents: list[ServerConnection] = []
    counters = {"visitors": 0, "message": 0}
    # bare-redis: a relay without agents publishes its lines; the one with them forwards them.
    redis_url, channel = os.environ.get("CHAT_LOAD_RELAY_REDIS"), "chat-load-relay"
    publisher: Any = None
    background: list[asyncio.Task[None]] = []

    async def forward(conversation: int, frame: str) -> None:
        if agents:
            with contextlib.suppress(Exception):
                await agents[(conversation - 1) % len(agents)].send(frame)
        elif publisher is not None:
            await publisher.publish(channel, json.dumps([conversation, frame]))

    async def subscribe() -> None:
        assert redis_url
        import redis.asyncio as aioredis

        pubsub = aioredis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel)
        async for item in pubsub.listen():
            conversation, frame = json.loads(item["data"])
            if agents:  # never published again
                await forward(conversation, frame)

    async def visitor(ws: ServerConnection) -> None:
        conversation = counters["visitors"] = counters["visitors"] + 1
        async for raw in ws:
            try:
                frame = json.loads(raw)
            except ValueError:
                await ws.send(json.dumps({"op": "error", "code": "bad_frame", "message": ""}))
                continue
            op = frame.get("op")
            if op == "msg":
                counters["message"] += 1
                text = str(frame.get("text", ""))
                message = {
                    "id": counters["message"],
                    "cid": frame.get("cid"),
                    "from": "visitor",
                    "author": f"visitor {conversation}",
                    "text": text,
                    "html": html.escape(text),
                    "at": dt.datetime.now(dt.UTC).isoformat(),
                    "attachments": [],
                }
                await forward(
                    conversation,
                    json.dumps({"op": "chat", "conversation": conversation, "message": message}),
                )
                await ws.send(json.dumps({"op": "ack", "cid": message["cid"], "id": message["id"]}))
                await ws.send(json.dumps({"op": "msg", "message": message}))
            elif op == "hello":
                await ws.send(json.dumps({"op": "history", "messages": []}))
                await ws.send(
                    json.dumps({"op": "state", "state": "active", "agent": "relay", "rated": False})
                )
            elif op == "ping":
                await ws.send(json.dumps({"op": "pong"}))

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        if path.startswith("/agent"):
            agents.append(ws)
            try:
                await ws.wait_closed()
            finally:
                agents.remove(ws)
        elif path.startswith("/visitor"):
            await visitor(ws)

    async def main() -> None:
        nonlocal publisher
        deflate = os.environ.get("CHAT_LOAD_RELAY_DEFLATE", "1") == "1"
        options: dict[str, Any] = {} if deflate else {"compression": None}
        if redis_url:
            import redis.asyncio as aioredis

            publisher = aioredis.Redis.from_url(redis_url)
            background.append(asyncio.create_task(subscribe()))
        async with serve(handler, "127.0.0.1", port, max_size=2**16, **options):
            print(f"relay listening on {port}", flush=True)
            await asyncio.Future()

    run(main())


def run(coro: Any) -> Any:
    """asyncio.run on uvloop when it is installed (uvicorn uses it too), else the default."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# ---------------------------------------------------------------------------------------------
# What-ifs: kefu started through this file with patches applied (src/ is untouched)
# ---------------------------------------------------------------------------------------------

WHAT_IFS = {
    "persistent-db": "CONN_MAX_AGE=None: the websocket DB thread keeps its connection",
    "lean-layer": "the in-memory layer's expiry sweep (all channels and groups) at most 1/s",
    "no-inbox-render": "agent sockets refresh the inbox at most 1/s, without a DB render, "
    "for conversations they do not have open",
    "publish-nowait": "publishes from the DB thread are handed to the event loop, not waited on",
    "gc-log": "log every garbage collection pause of 2 ms or more, and a summary at exit",
    "no-deflate": "no permessage-deflate on kefu's sockets (nor the bare relay's)",
}


def serve_kefu(port: int, what_ifs: list[str]) -> None:
    """``kefu run --web-only`` with the named what-ifs patched in before it serves."""
    sys.path.insert(0, os.environ.get("KEFU_BENCH_SRC", str(ROOT / "src")))
    import django

    import kefu.settings as kefu_settings

    if "persistent-db" in what_ifs:
        kefu_settings.DATABASES["default"]["CONN_MAX_AGE"] = None
        kefu_settings.DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
    django.setup()
    if "lean-layer" in what_ifs:
        from channels.layers import InMemoryChannelLayer

        sweep = InMemoryChannelLayer._clean_expired

        def throttled(self: Any) -> None:
            now = time.monotonic()
            if now - getattr(self, "_bench_swept", 0.0) >= 1.0:
                self._bench_swept = now
                sweep(self)

        InMemoryChannelLayer._clean_expired = throttled  # type: ignore[method-assign]
    if "no-inbox-render" in what_ifs:
        from kefu.conversations.consumers import WorkspaceConsumer

        render = WorkspaceConsumer.conversation_event

        async def conversation_event(self: Any, event: dict[str, Any]) -> None:
            if event.get("conversation_id") == self.conversation_id:
                await render(self, event)
                return
            now = time.monotonic()
            if now - getattr(self, "_bench_inbox", 0.0) >= 1.0:
                self._bench_inbox = now
                await self.send(text_data=json.dumps({"op": "inbox"}))

        WorkspaceConsumer.conversation_event = conversation_event  # type: ignore[method-assign]
    if "publish-nowait" in what_ifs:
        from channels.layers import get_channel_layer

        from kefu.core import realtime

        def publish(groups: list[str], message: dict[str, Any]) -> None:
            layer = get_channel_layer()
            groups = realtime._listeners_anywhere(layer, list(dict.fromkeys(groups)))
            loop = realtime._server_loop
            if not groups or layer is None or loop is None:
                return

            async def send_all() -> None:
                for group in groups:
                    await layer.group_send(group, message)

            asyncio.run_coroutine_threadsafe(send_all(), loop)

        realtime.publish = publish
    if "no-deflate" in what_ifs:
        import uvicorn

        class Config(uvicorn.Config):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs["ws_per_message_deflate"] = False
                super().__init__(*args, **kwargs)

        uvicorn.Config = Config  # type: ignore[misc]
    pauses: list[tuple[int, float]] = []
    if "gc-log" in what_ifs:
        import gc

        started = [0.0, 0.0, 0]

        def timed(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                young = len(gc.get_objects(1)) if info["generation"] == 1 else 0
                started[:] = [time.perf_counter(), time.thread_time(), young]
                return
            took = time.perf_counter() - started[0]
            pauses.append((info["generation"], took))
            if took >= 0.002:
                # CPU time beside the wall time: a pause longer than its CPU time was the
                # process waiting for a core, not the collector working.
                print(
                    f"gc: generation {info['generation']} {1000 * took:.1f} ms at "
                    f"{time.time():.3f} (CPU {1000 * (time.thread_time() - started[1]):.1f} ms, "
                    f"{started[2]} objects in generation 1, {info['collected']} collected)",
                    flush=True,
                )

        gc.callbacks.append(timed)
    from kefu import cli

    try:
        cli.main(["run", "--web-only", "--host", "127.0.0.1", "--port", str(port)])
    finally:
        for generation in (0, 1, 2):
            took = sorted(t for g, t in pauses if g == generation)
            if took:
                print(
                    f"gc summary: generation {generation}: {len(took)} collections, "
                    f"max {1000 * took[-1]:.1f} ms, total {1000 * sum(took):.0f} ms",
                    flush=True,
                )


# ---------------------------------------------------------------------------------------------
# The throwaway database and the seed
# ---------------------------------------------------------------------------------------------


@dataclass
class Database:
    url: str
    label: str
    cleanup: Callable[[], None]


def make_database(kind: str, pg_server: str, data_dir: Path) -> Database:
    if kind == "sqlite":
        path = data_dir / "chatload.sqlite3"
        return Database(f"sqlite:///{path}", str(path), lambda: None)
    import psycopg

    name = f"kefu_chatload_{secrets.token_hex(4)}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return Database(f"{pg_server}/{name}", name, drop)


@dataclass
class Seed:
    site_key: str
    agent_cookies: list[str]
    database_version: str


def seed(agents: int, capacity: int) -> Seed:
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.db import connection, connections

    from kefu.livechat.models import Widget
    from kefu.staff.models import AgentProfile, Team

    user_model = get_user_model()
    team = Team.objects.create(slug="chat", name="在线客服 Live chat")
    store_class = importlib.import_module(settings.SESSION_ENGINE).SessionStore
    backend = settings.AUTHENTICATION_BACKENDS[0]
    cookies = []
    for i in range(agents):
        user = user_model.objects.create_user(username=f"chat.agent{i:02d}", password=None)
        profile = AgentProfile.objects.create(
            user=user,
            display_name=f"客服{i:02d}",
            presence=AgentProfile.Presence.ONLINE,
            capacity=capacity,
        )
        profile.teams.set([team])
        session = store_class()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = backend
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={session.session_key}")
    widget = make_widget(Widget, team)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("select sqlite_version()")
            version = f"SQLite {cursor.fetchone()[0]}"
        else:
            cursor.execute("show server_version")
            version = f"PostgreSQL {cursor.fetchone()[0]}"
    connections.close_all()
    return Seed(site_key=widget.site_key, agent_cookies=cookies, database_version=version)


def make_widget(widget_model: Any, team: Any) -> Any:
    """A widget of ``team`` that allows ``ALLOWED_ORIGIN``, always open, no pre-chat form."""
    fields = {f.name for f in widget_model._meta.get_fields()}
    values: dict[str, Any] = {"name": "Bench shop", "team": team}
    for name in ("allowed_origins", "origins", "allowed_sites", "sites"):
        if name in fields:
            values[name] = ALLOWED_ORIGIN
            break
    return widget_model.objects.create(**values)


# ---------------------------------------------------------------------------------------------
# Visitors over HTTP (set-up, not measured)
# ---------------------------------------------------------------------------------------------


def post_json(
    url: str, body: dict[str, Any], origin: str, address: str, token: str = ""
) -> dict[str, Any]:
    headers = {
        "Content-Type": "application/json",
        "Origin": origin,
        "Referer": origin + "/",
        # Each visitor has an address of its own, as behind a reverse proxy (uvicorn trusts
        # X-Forwarded-For from 127.0.0.1): the widget's per-address HTTP limit is 120/min.
        "X-Forwarded-For": address,
    }
    if token:
        headers["X-Kefu-Visitor"] = token
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as error:
        detail = error.read()[:500].decode(errors="replace")
        raise RuntimeError(f"POST {url} → {error.code}: {detail}") from None


def start_visitor(base: str, key: str, i: int) -> dict[str, Any]:
    address = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
    session = post_json(f"{base}/chat/w/{key}/session", {"identity": None}, base, address)
    token = session["token"]
    started = post_json(
        f"{base}/chat/w/{key}/start",
        {
            "name": f"访客{i:04d}",
            "email": f"visitor{i:04d}@example.com",
            "phone": "",
            "topic": "",
            "text": f"你好，我是访客 {i}，想问一下订单的事。",
        },
        base,
        address,
        token,
    )
    return {"token": token, "conversation": started.get("conversation"), **started}


# ---------------------------------------------------------------------------------------------
# The load client
# ---------------------------------------------------------------------------------------------


@dataclass
class Stats:
    """One measured window. ``delivered`` is what reached an agent within the window + drain;
    ``late`` what reached one afterwards (while settling); the rest is lost."""

    sent: dict[str, float] = field(default_factory=dict)  # cid → perf_counter at send
    latency: dict[str, float] = field(default_factory=dict)  # cid → s, first agent frame
    # cid → s, the agent's "chat" frame with the stored message's id (kefu relays a line
    # first as "chat.line", without an id, and sends "chat" after the commit)
    stored_frame: dict[str, float] = field(default_factory=dict)
    retracted: int = 0  # "chat.retract": a relayed line that was not stored
    ack: dict[str, float] = field(default_factory=dict)  # cid → s
    echoed: int = 0
    duplicates: int = 0
    foreign: int = 0  # chat frames for cids this window did not send
    errors: Counter[str] = field(default_factory=Counter)
    agent_ops: Counter[str] = field(default_factory=Counter)
    visitor_ops: Counter[str] = field(default_factory=Counter)
    slip_max: float = 0.0  # how far the sender fell behind its schedule
    cutoff: float = float("inf")  # latencies above this (window end + drain) are late

    def delivered(self) -> int:
        return len(self.on_time())

    def on_time(self) -> list[float]:
        return sorted(v for cid, v in self.latency.items() if self.sent[cid] + v <= self.cutoff)

    def late(self) -> int:
        return len(self.latency) - len(self.on_time())


@dataclass
class Endpoint:
    """Where one mode's sockets go."""

    agent_urls: list[str]  # one per agent
    agent_headers: list[dict[str, str]]
    visitor_urls: list[str]  # one per visitor
    origins: list[str]  # Origin header per visitor
    agent_origin: str


@dataclass
class Sockets:
    """The open sockets of a mode; readers record into ``current[0]`` (swapped per window)."""

    current: list[Stats]
    agents: list[Any] = field(default_factory=list)
    visitors: list[Any] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    closed: Counter[str] = field(default_factory=Counter)  # sockets that closed under load
    failures: Counter[str] = field(default_factory=Counter)
    connect_seconds: float = 0.0
    rss: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # start, +agents, +visitors


async def agent_reader(ws: Any, sockets: Sockets) -> None:
    try:
        async for raw in ws:
            now = time.perf_counter()
            stats = sockets.current[0]
            frame = json.loads(raw)
            op = frame.get("op")
            stats.agent_ops[op] += 1
            if op == "chat.retract":
                stats.retracted += 1
                continue
            if op not in ("chat", "chat.line"):
                continue
            message = frame.get("message") or {}
            cid = str(message.get("cid") or "")
            sent = stats.sent.get(cid) if cid else None
            if sent is None:
                stats.foreign += 1
                continue
            if op == "chat":  # the stored message (with its id)
                if cid in stats.stored_frame:
                    stats.duplicates += 1
                else:
                    stats.stored_frame[cid] = now - sent
                if cid not in stats.latency:
                    stats.latency[cid] = now - sent
            elif cid in stats.latency:  # a second relay of the same line
                stats.duplicates += 1
            else:
                stats.latency[cid] = now - sent
    except asyncio.CancelledError:
        raise
    except Exception as error:
        sockets.closed[f"agent {type(error).__name__} {getattr(error, 'rcvd', '')}"] += 1
    else:
        sockets.closed[f"agent closed by server ({ws.close_code})"] += 1


async def visitor_reader(ws: Any, sockets: Sockets, ready: asyncio.Event) -> None:
    try:
        async for raw in ws:
            now = time.perf_counter()
            stats = sockets.current[0]
            frame = json.loads(raw)
            op = frame.get("op")
            stats.visitor_ops[op] += 1
            if op == "ack":
                cid = frame.get("cid")
                if cid in stats.sent and cid not in stats.ack:
                    stats.ack[cid] = now - stats.sent[cid]
            elif op == "msg":
                if (frame.get("message") or {}).get("cid") in stats.sent:
                    stats.echoed += 1
            elif op == "state" and not ready.is_set():
                sockets.states[str(frame.get("state"))] += 1
                ready.set()
            elif op == "error":
                stats.errors[str(frame.get("code"))] += 1
    except asyncio.CancelledError:
        raise
    except Exception as error:
        sockets.closed[f"visitor {type(error).__name__} {getattr(error, 'rcvd', '')}"] += 1
    else:
        sockets.closed[f"visitor closed by server ({ws.close_code})"] += 1
    ready.set()


async def open_socket(url: str, origin: str, headers: dict[str, str] | None = None) -> Any:
    from websockets.asyncio.client import connect

    return await connect(
        url,
        origin=origin,  # type: ignore[arg-type]
        additional_headers=headers or {},
        open_timeout=60,
        ping_interval=None,  # the client never pings; it answers the server's pings
        max_size=2**20,
        max_queue=256,
    )


async def connect_all(endpoint: Endpoint, pids: dict[str, int], concurrency: int) -> Sockets:
    """Agents first, then the visitors (bounded concurrency), each with ``hello`` answered by a
    ``state`` frame; server RSS before, after the agents and after the visitors."""
    sockets = Sockets(current=[Stats()])
    rss_start = {n: rss_kib(p) for n, p in pids.items()}
    for url, headers in zip(endpoint.agent_urls, endpoint.agent_headers, strict=True):
        ws = await open_socket(url, endpoint.agent_origin, headers)
        sockets.agents.append(ws)
        sockets.readers.append(asyncio.create_task(agent_reader(ws, sockets)))
    await asyncio.sleep(1)
    rss_agents = {n: rss_kib(p) for n, p in pids.items()}
    gate = asyncio.Semaphore(concurrency)

    async def connect_visitor(i: int) -> None:
        async with gate:
            try:
                ws = await open_socket(endpoint.visitor_urls[i], endpoint.origins[i])
            except Exception as error:
                sockets.failures[f"{type(error).__name__}: {str(error)[:80]}"] += 1
                return
            ready = asyncio.Event()
            sockets.readers.append(asyncio.create_task(visitor_reader(ws, sockets, ready)))
            await ws.send(json.dumps({"op": "hello", "after": 0}))
            try:
                await asyncio.wait_for(ready.wait(), 60)
            except TimeoutError:
                sockets.failures["no state frame within 60 s of hello"] += 1
            sockets.visitors.append(ws)

    started = time.perf_counter()
    await asyncio.gather(*(connect_visitor(i) for i in range(len(endpoint.visitor_urls))))
    sockets.connect_seconds = time.perf_counter() - started
    await asyncio.sleep(2)
    rss_visitors = {n: rss_kib(p) for n, p in pids.items()}
    sockets.rss = {n: (rss_start[n], rss_agents[n], rss_visitors[n]) for n in pids}
    if not sockets.visitors or not sockets.agents:
        raise RuntimeError(f"no visitor or agent socket is open ({dict(sockets.failures)})")
    return sockets


async def close_all(sockets: Sockets) -> None:
    for task in sockets.readers:
        task.cancel()
    await asyncio.gather(*sockets.readers, return_exceptions=True)

    async def close(ws: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)

    await asyncio.gather(*(close(ws) for ws in [*sockets.agents, *sockets.visitors]))
    await asyncio.sleep(1)  # let the servers run their disconnect handlers


@dataclass
class Phase:
    mode: str
    rate: float
    stats: Stats
    sockets: Sockets
    window: float  # seconds the send loop actually took
    drain: float  # seconds waited after it for the latency figures
    settle: float  # seconds waited after that for late messages
    server_cpu: dict[str, float]  # per server (and its writer process), CPU s in window + drain
    client_cpu: float
    other_cpu: float  # CPU seconds of everything else on the machine (py-spy included)
    rss_end: dict[str, int]
    stored: int | None = None  # messages of this window found in the database afterwards
    stored_cids: set[str] = field(default_factory=set)
    closed_during: Counter[str] = field(default_factory=Counter)
    children_cpu: dict[str, float] = field(default_factory=dict)  # of it, the writer process

    @property
    def name(self) -> str:
        return f"{self.mode} @ {self.rate:g}/s"


async def measure(
    mode: str,
    sockets: Sockets,
    pids: dict[str, int],
    rate: float,
    args: argparse.Namespace,
    profile: Callable[[float], list[subprocess.Popen[bytes]]] | None = None,
    stored: Callable[[str], set[str]] | None = None,
) -> Phase:
    """One window at ``rate`` msg/s over the open sockets, then the drain, then settling."""
    stats = Stats()
    sockets.current[0] = stats
    closed_before = Counter(sockets.closed)
    loop = asyncio.get_running_loop()
    live = [ws for ws in sockets.visitors if ws.close_code is None]
    total = int(rate * args.duration)
    prefix = f"{mode}-{rate:g}-"
    cpu_before = {n: cpu_seconds(p) for n, p in pids.items()}
    children_before = {n: children_cpu_seconds(p) for n, p in pids.items()}
    client_before = sum(os.times()[:2])
    machine_before = machine_busy_seconds()
    spies = profile(args.duration) if profile else []
    started = time.perf_counter()
    started_wall = time.time()
    t0 = loop.time()
    for k in range(total):
        due = t0 + k / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            stats.slip_max = max(stats.slip_max, -delay)
        ws = live[k % len(live)]
        cid = f"{prefix}{k}"
        frame = json.dumps({"op": "msg", "text": TEXTS[k % len(TEXTS)].format(n=k), "cid": cid})
        stats.sent[cid] = time.perf_counter()
        try:
            await ws.send(frame)
        except Exception as error:
            stats.errors[f"send {type(error).__name__}"] += 1
    window = time.perf_counter() - started
    end = time.perf_counter()
    while len(stats.stored_frame) < len(stats.sent) and time.perf_counter() - end < args.drain:
        await asyncio.sleep(0.05)
    drain = time.perf_counter() - end
    stats.cutoff = time.perf_counter()
    server_cpu = {n: cpu_seconds(p) - cpu_before[n] for n, p in pids.items()}
    children_cpu = {n: children_cpu_seconds(p) - children_before[n] for n, p in pids.items()}
    client_cpu = sum(os.times()[:2]) - client_before
    machine_cpu = machine_busy_seconds() - machine_before
    rss_end = {n: rss_kib(p) for n, p in pids.items()}
    for spy in spies:
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(timeout=30)
    # Settle: late messages are not lost. Wait while they keep coming (at most --settle s).
    settle_start = last_progress = time.perf_counter()
    seen = len(stats.stored_frame)
    while len(stats.stored_frame) < len(stats.sent):
        now = time.perf_counter()
        if now - settle_start > args.settle or now - last_progress > args.settle_idle:
            break
        await asyncio.sleep(0.2)
        if len(stats.stored_frame) != seen:
            seen, last_progress = len(stats.stored_frame), time.perf_counter()
    settle = time.perf_counter() - settle_start
    phase = Phase(
        mode=mode,
        rate=rate,
        stats=stats,
        sockets=sockets,
        window=window,
        drain=drain,
        settle=settle,
        server_cpu=server_cpu,
        client_cpu=client_cpu,
        other_cpu=machine_cpu - client_cpu - sum(server_cpu.values()),
        rss_end=rss_end,
        children_cpu=children_cpu,
        closed_during=Counter(sockets.closed) - closed_before,
    )
    if args.dump:
        # Each line's send time (s since the window began) and delivery latency, to see when
        # in a window the slow ones came.
        rows = [
            [round(at - started, 4), round(1000 * stats.latency[cid], 3)]
            for cid, at in stats.sent.items()
            if cid in stats.latency
        ]
        Path(args.dump).mkdir(parents=True, exist_ok=True)
        (Path(args.dump) / f"{prefix.rstrip('-')}.json").write_text(json.dumps(rows))
        # The window's start on the wall clock, to match the servers' ``gc-log`` lines.
        (Path(args.dump) / f"{prefix.rstrip('-')}.start").write_text(f"{started_wall:.3f}\n")
    if stored is not None:
        phase.stored_cids = await asyncio.to_thread(stored, prefix)
        phase.stored = len(phase.stored_cids)
    return phase


def stored_messages(prefix: str) -> set[str]:
    """The cids of one window that kefu stored (their message's external id ends with it)."""
    from django.db import connections

    from kefu.conversations.models import Message

    try:
        ids = Message.objects.filter(external_id__contains=f":{prefix}")
        return {e.rsplit(":", 1)[1] for e in ids.values_list("external_id", flat=True)}
    finally:
        connections.close_all()


# ---------------------------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    env: dict[str, str]
    data_dir: Path
    processes: Processes
    seed: Seed
    tokens: list[str] = field(default_factory=list)
    setup_seconds: float = 0.0
    setup_states: Counter[str] = field(default_factory=Counter)
    profiles: list[str] = field(default_factory=list)

    @property
    def no_deflate(self) -> bool:
        return "no-deflate" in (self.args.what_if or [])

    def kefu_server(self, name: str, extra_env: dict[str, str]) -> Server:
        port = free_port()
        log = self.data_dir / f"{name}.log"
        env = {**self.env, **extra_env}
        if self.args.what_if:
            argv = [sys.executable, __file__, "--serve-kefu", str(port)]
            argv += [f"--what-if={w}" for w in self.args.what_if]
        else:
            argv = [*KEFU, "run", "--web-only", "--host", "127.0.0.1", "--port", str(port)]
        process = self.processes.start(argv, env, log)
        server = Server(name, process, f"http://127.0.0.1:{port}", log)
        wait_http(server, "/healthz")
        return server

    def set_up_visitors(self, server: Server) -> None:
        """Session + start for every visitor, through HTTP, once (later modes reuse them)."""
        if self.tokens:
            return
        started = time.perf_counter()
        key = self.seed.site_key
        with ThreadPoolExecutor(self.args.setup_concurrency) as pool:
            results = list(
                pool.map(lambda i: start_visitor(server.base, key, i), range(self.args.visitors))
            )
        self.tokens = [r["token"] for r in results]
        self.setup_states = Counter(str(r.get("state")) for r in results)
        self.setup_seconds = time.perf_counter() - started
        print(
            f"  {len(results)} visitors started in {self.setup_seconds:.1f} s "
            f"({dict(self.setup_states)})",
            file=sys.stderr,
        )

    def kefu_endpoint(self, agent_server: Server, visitor_servers: list[Server]) -> Endpoint:
        key = self.seed.site_key
        visitor_urls, origins = [], []
        for i, token in enumerate(self.tokens):
            server = visitor_servers[i % len(visitor_servers)]
            visitor_urls.append(f"{server.ws}/ws/chat/{key}/?token={token}")
            origins.append(server.base)  # the iframe: kefu's own origin
        return Endpoint(
            agent_urls=[f"{agent_server.ws}/ws/workspace/"] * len(self.seed.agent_cookies),
            agent_headers=[{"Cookie": c} for c in self.seed.agent_cookies],
            visitor_urls=visitor_urls,
            origins=origins,
            agent_origin=agent_server.base,
        )

    def profiler(self, servers: list[Server], label: str) -> Callable[[float], list[Any]] | None:
        spy = self.args.py_spy or shutil.which("py-spy")
        if not self.args.profile or not spy:
            return None
        out = Path(self.args.profile)
        out.mkdir(parents=True, exist_ok=True)

        def start(duration: float) -> list[subprocess.Popen[bytes]]:
            """One sampler per server, collapsed stacks (``raw``; feed them to flamegraph.pl
            or speedscope for a picture). Non-blocking: the servers are not paused."""
            started = []
            for server in servers:
                target = out / f"{label}-{server.name}.txt"
                self.profiles.append(str(target))
                options = (
                    f"--duration {int(duration)} --rate 200 --nonblocking --threads --subprocesses"
                )
                argv = [spy, "record", "--pid", str(server.pid), *options.split()]
                started.append(
                    self.processes.start(
                        [*argv, "--format", "raw", "--output", str(target)],
                        os.environ.copy(),
                        out / f"{label}-{server.name}.log",
                    )
                )
            return started

        return start

    async def windows(
        self,
        mode: str,
        endpoint: Endpoint,
        pids: dict[str, int],
        servers: list[Server] | None = None,
    ) -> list[Phase]:
        """Open the sockets once, then one measured window per rate."""
        sockets = await connect_all(endpoint, pids, self.args.connect_concurrency)
        phases = []
        try:
            for rate in self.args.rates:
                label = f"{mode}-{rate:g}"
                phase = await measure(
                    mode,
                    sockets,
                    pids,
                    rate,
                    self.args,
                    self.profiler(servers, label) if servers else None,
                    stored_messages if servers else None,
                )
                phases.append(phase)
                s = phase.stats
                print(
                    f"  {phase.name}: sent {len(s.sent)}, delivered {s.delivered()}, late "
                    f"{s.late()}, p99 {ms(percentile(s.on_time(), 99))} ms",
                    file=sys.stderr,
                )
        finally:
            await close_all(sockets)
        return phases

    async def memory(self) -> list[Phase]:
        server = self.kefu_server("memory", {})
        try:
            self.set_up_visitors(server)
            endpoint = self.kefu_endpoint(server, [server])
            return await self.windows("memory", endpoint, {"A": server.pid}, [server])
        finally:
            self.processes.stop(server.process)
            self.check_log(server)

    async def redis(self) -> list[Phase]:
        extra = {
            "KEFU_REDIS_URL": self.args.redis_url,
            "KEFU_REDIS_PREFIX": f"kefu-chatload-{secrets.token_hex(3)}",
        }
        first = self.kefu_server("redis-A", extra)
        second = self.kefu_server("redis-B", extra)
        try:
            self.set_up_visitors(first)
            endpoint = self.kefu_endpoint(first, [first, second])
            pids = {"A": first.pid, "B": second.pid}
            return await self.windows("redis", endpoint, pids, [first, second])
        finally:
            self.processes.stop(first.process)
            self.processes.stop(second.process)
            self.check_log(first)
            self.check_log(second)

    async def start_relay(self, name: str, extra: dict[str, str]) -> tuple[Any, int]:
        port = free_port()
        log = self.data_dir / f"{name}.log"
        env = {**os.environ, "CHAT_LOAD_RELAY_DEFLATE": "0" if self.no_deflate else "1", **extra}
        process = self.processes.start(
            [sys.executable, __file__, "--serve-relay", str(port)], env, log
        )
        deadline = time.monotonic() + 20
        while "listening" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"relay did not start: {log.read_text()[-2000:]}")
            await asyncio.sleep(0.1)
        return process, port

    def relay_endpoint(self, agent_port: int, visitor_ports: list[int]) -> Endpoint:
        agent = f"ws://127.0.0.1:{agent_port}/agent"
        return Endpoint(
            agent_urls=[agent] * self.args.agents,
            agent_headers=[{} for _ in range(self.args.agents)],
            visitor_urls=[
                f"ws://127.0.0.1:{visitor_ports[i % len(visitor_ports)]}/visitor"
                for i in range(self.args.visitors)
            ],
            origins=[
                f"http://127.0.0.1:{visitor_ports[i % len(visitor_ports)]}"
                for i in range(self.args.visitors)
            ],
            agent_origin=f"http://127.0.0.1:{agent_port}",
        )

    async def bare(self) -> list[Phase]:
        process, port = await self.start_relay("relay", {})
        try:
            endpoint = self.relay_endpoint(port, [port])
            return await self.windows("bare", endpoint, {"relay": process.pid})
        finally:
            self.processes.stop(process)

    async def bare_redis(self) -> list[Phase]:
        extra = {"CHAT_LOAD_RELAY_REDIS": self.args.redis_url}
        first, first_port = await self.start_relay("relay-A", extra)
        second, second_port = await self.start_relay("relay-B", extra)
        try:
            endpoint = self.relay_endpoint(first_port, [first_port, second_port])
            pids = {"relay-A": first.pid, "relay-B": second.pid}
            return await self.windows("bare-redis", endpoint, pids)
        finally:
            self.processes.stop(first)
            self.processes.stop(second)

    def check_log(self, server: Server) -> None:
        """Count tracebacks and error lines in a server's log; keep the first for the report."""
        text = server.log.read_text(errors="replace")
        pauses = Counter[int]()
        longest: dict[int, float] = {}
        for line in text.splitlines():  # --what-if gc-log
            if line.startswith("gc summary"):
                print(f"  {server.name}: {line}", file=sys.stderr)
            elif line.startswith("gc: generation "):
                generation, took = int(line.split()[2]), float(line.split()[3])  # ms
                pauses[generation] += 1
                longest[generation] = max(longest.get(generation, 0.0), took)
        for generation, count in sorted(pauses.items()):
            print(
                f"  {server.name}: {count} collections of generation {generation} took 2 ms or "
                f"more (longest {longest[generation]:.1f} ms)",
                file=sys.stderr,
            )
        tracebacks = text.count("Traceback (most recent call last)")
        errors = sum(1 for line in text.splitlines() if " ERROR" in line or "ERROR:" in line)
        if tracebacks or errors:
            first = text[text.find("Traceback") :][:3000] if tracebacks else ""
            print(
                f"  {server.name}: {tracebacks} tracebacks, {errors} error lines in {server.log}"
                + (f"\n{first}" if first else ""),
                file=sys.stderr,
            )


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def ms(value: float) -> str:
    return "–" if value != value else f"{value * 1000:.1f}"  # nan → dash


def report(bench: Bench, phases: list[Phase], load: tuple[float, float, float]) -> None:
    args = bench.args
    rates = ", ".join(f"{r:g}" for r in args.rates)
    print(
        f"\n## Live chat load: {args.visitors} visitors, {args.agents} agents, {rates} msg/s "
        f"for {args.duration:g} s each (+ {args.drain:g} s drain, up to {args.settle:g} s "
        "settling)\n"
    )
    print(
        f"{bench.seed.database_version}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average before {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f}; visitor set-up over HTTP {bench.setup_seconds:.1f} s "
        f"({dict(bench.setup_states)})"
        + f"; kefu from {args.src} (checkout at {args.commit})"
        + (f"; what-ifs: {', '.join(args.what_if)}" if args.what_if else "")
        + "\n"
    )
    print(
        "| mode | sent | acked | stored | delivered (≤ drain) | late | never delivered "
        "| of them stored / acked | dup | p50 ms | p95 ms | p99 ms | max ms "
        "| ack p50 / p99 ms | stored frame p50 / p99 ms, missing |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    figures: dict[tuple[str, float], tuple[float, float, float]] = {}
    for phase in phases:
        s = phase.stats
        values = s.on_time()
        acks = sorted(s.ack.values())
        stored_frames = sorted(s.stored_frame.values())
        p = (percentile(values, 50), percentile(values, 95), percentile(values, 99))
        figures[phase.mode, phase.rate] = p
        worst = values[-1] if values else float("nan")
        reached = set(s.latency)
        stored = "–" if phase.stored is None else str(phase.stored)
        lost_stored = "–" if phase.stored is None else str(len(phase.stored_cids - reached))
        lost_acked = sum(1 for cid in s.ack if cid not in reached)
        print(
            f"| {phase.name} | {len(s.sent)} | {len(s.ack)} | {stored} | {s.delivered()} "
            f"| {s.late()} | {len(s.sent) - len(reached)} | {lost_stored} / {lost_acked} "
            f"| {s.duplicates} | {ms(p[0])} | {ms(p[1])} | {ms(p[2])} | {ms(worst)} "
            f"| {ms(percentile(acks, 50))} / {ms(percentile(acks, 99))} "
            f"| {ms(percentile(stored_frames, 50))} / {ms(percentile(stored_frames, 99))}, "
            f"{len(s.sent) - len(s.stored_frame)} |"
        )
    print()
    print(
        "| mode | server CPU s in window + drain (% of one core) | server CPU ms per message "
        "handled | client CPU s | other CPU s | server RSS start → +agents → +visitors → end "
        "(MiB) | KiB per visitor socket | KiB per agent socket |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for phase in phases:
        busy = phase.window + phase.drain
        cpu = ", ".join(
            f"{n} {v:.1f} ({100 * v / busy:.0f} %"
            + (
                f"; writer process {w:.1f} s)"
                if (w := phase.children_cpu.get(n, 0.0)) >= 0.05
                else ")"
            )
            for n, v in phase.server_cpu.items()
        )
        rss_table = phase.sockets.rss
        rss = ", ".join(
            f"{n} {a / 1024:.0f} → {b / 1024:.0f} → {c / 1024:.0f} → {phase.rss_end[n] / 1024:.0f}"
            for n, (a, b, c) in rss_table.items()
        )
        visitors = len(phase.sockets.visitors)
        agents = len(phase.sockets.agents)
        per_visitor = sum(c - b for _, b, c in rss_table.values()) / max(1, visitors)
        per_agent = sum(b - a for a, b, _ in rss_table.values()) / max(1, agents)
        handled = phase.stored if phase.stored is not None else len(phase.stats.ack)
        per_message = 1000 * sum(phase.server_cpu.values()) / max(1, handled)
        print(
            f"| {phase.name} | {cpu} | {per_message:.1f} | {phase.client_cpu:.1f} "
            f"| {phase.other_cpu:.1f} "
            f"| {rss} | {per_visitor:.0f} | {per_agent:.0f} |"
        )
    print()
    floors = [("bare", "bare", "bare relay"), ("redis", "bare-redis", "bare relays over Redis")]
    for (mode, rate), p in figures.items():
        for applies, floor_mode, label in floors:
            floor = figures.get((floor_mode, rate))
            if mode == floor_mode or floor is None or applies not in ("bare", mode):
                continue
            ratios = " / ".join(
                "–" if not b or k != k else f"{k / b:.1f}×" for k, b in zip(p, floor, strict=True)
            )
            print(f"- {mode} @ {rate:g}/s ÷ {label}, p50 / p95 / p99: {ratios}")
    for phase in phases:
        s = phase.stats
        sk = phase.sockets
        details = [
            f"{len(sk.agents)} agent + {len(sk.visitors)} visitor sockets "
            f"(opened in {sk.connect_seconds:.1f} s; states after hello {dict(sk.states)})",
            f"window {phase.window:.1f} s (sender slip max {s.slip_max * 1000:.0f} ms)",
            f"drain {phase.drain:.1f} s, settling {phase.settle:.1f} s",
            f"acks {len(s.ack)}, echoes {s.echoed}, retracted {s.retracted}",
        ]
        if sk.failures:
            details.append(f"connect failures {dict(sk.failures)}")
        if s.errors:
            details.append(f"errors {dict(s.errors)}")
        if phase.closed_during:
            details.append(f"sockets closed under load {dict(phase.closed_during)}")
        if s.foreign:
            details.append(f"chat frames of earlier windows {s.foreign}")
        details.append(f"agent frames {dict(s.agent_ops)}")
        print(f"- {phase.name}: " + "; ".join(details))
    if bench.profiles:
        print(f"- profiles: {', '.join(bench.profiles)}")
        for path in bench.profiles:
            if Path(path).exists():
                summary = summarize_profile(Path(path))
                Path(path).with_suffix(".summary.md").write_text(summary)
                print(f"\n### Profile {Path(path).stem}\n\n{summary}")


def summarize_profile(path: Path, top: int = 25) -> str:
    """Where the samples of a py-spy ``raw`` (collapsed stacks, ``--threads``) file are: per
    thread, per package of the innermost Python frame, and the heaviest functions inclusive."""
    threads: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        threads[frames[0].partition(": ")[2] if frames[0].startswith("thread") else "?"] += count
        names = []
        for frame in frames[1:]:
            func, _, where = frame.partition(" (")
            file = where.rsplit(":", 1)[0]
            names.append(f"{func} ({shorten(file)})")
        if names:
            leaf[names[-1]] += count
            packages[package_of(frames[-1])] += count
        for name in set(names):
            inclusive[name] += count
    if not total:
        return "no samples\n"

    def table(title: str, counter: Counter[str], n: int) -> str:
        rows = [f"| {title} | samples | % |", "|---|---|---|"]
        rows += [f"| `{k}` | {v} | {100 * v / total:.1f} |" for k, v in counter.most_common(n)]
        return "\n".join(rows) + "\n"

    return "\n".join(
        [
            f"{total} samples (200 Hz, non-idle only)\n",
            table("thread", threads, 10),
            table("package of the innermost frame", packages, 15),
            table("function (inclusive)", inclusive, top),
            table("function (self)", leaf, 15),
        ]
    )


def shorten(file: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def package_of(frame: str) -> str:
    file = shorten(frame.partition(" (")[2].rsplit(":", 1)[0])
    parts = file.split("/")
    if parts[0] in ("django", "kefu") and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0] if len(parts) > 1 else file


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--capacity", type=int, default=25, help="concurrent chats per agent")
    parser.add_argument(
        "--rate",
        default="200",
        help="visitor messages per second, all visitors together; a comma list measures one "
        "window per rate over the same sockets",
    )
    parser.add_argument("--duration", type=float, default=30, help="seconds of sending")
    parser.add_argument("--drain", type=float, default=5, help="seconds to wait for stragglers")
    parser.add_argument(
        "--settle",
        type=float,
        default=30,
        help="after the drain, seconds to wait for late messages",
    )
    parser.add_argument(
        "--settle-idle",
        type=float,
        default=10,
        help="stop settling after this many seconds without a late message",
    )
    parser.add_argument("--modes", default="memory,redis,bare")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--setup-concurrency", type=int, default=6, help="HTTP set-up threads")
    parser.add_argument("--connect-concurrency", type=int, default=50, help="sockets opening")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the kefu servers into DIR")
    parser.add_argument("--py-spy", help="path of py-spy (default: on PATH)")
    parser.add_argument("--debug", action="store_true", help="KEFU_DEBUG=1 (default 0)")
    parser.add_argument("--dump", metavar="DIR", help="write each line's send time and latency")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and database")
    parser.add_argument(
        "--src",
        default=str(ROOT / "src"),
        help="the kefu source tree to run (default: this checkout's src/; e.g. a "
        "`git archive HEAD src` snapshot while the working tree is mid-edit)",
    )
    parser.add_argument(
        "--what-if",
        action="append",
        default=[],
        choices=sorted(WHAT_IFS),
        help="start kefu with a patch applied (repeatable; src/ is untouched): "
        + "; ".join(f"{k}: {v}" for k, v in WHAT_IFS.items()),
    )
    parser.add_argument("--serve-relay", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-kefu", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rate.split(",") if r.strip()]
    if args.capacity * args.agents < args.visitors:
        parser.error("--capacity × --agents must be at least --visitors (else chats queue)")
    return args


def main() -> None:
    args = parse_args()
    if args.serve_relay:
        serve_relay(args.serve_relay)
        return
    if args.serve_kefu:
        serve_kefu(args.serve_kefu, args.what_if)
        return
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - {"memory", "redis", "bare", "bare-redis"}
    if unknown:
        sys.exit(f"unknown modes: {sorted(unknown)}")
    load = os.getloadavg()
    args.commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    limit = raise_fd_limit()
    if limit < args.visitors + args.agents + 100:
        sys.exit(f"RLIMIT_NOFILE is {limit}: too low for {args.visitors + args.agents} sockets")

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    data_dir = Path(tempfile.mkdtemp(prefix="kefu-chatload-"))
    processes = Processes()
    db = make_database(args.db, args.pg_server, data_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(
        KEFU_DATABASE_URL=db.url,
        KEFU_DATA_DIR=str(data_dir),
        KEFU_DEBUG="1" if args.debug else "0",
        KEFU_SECRET_KEY=secrets.token_urlsafe(40),
        KEFU_SECURE_COOKIES="0",
        KEFU_ALLOWED_HOSTS="127.0.0.1,localhost",
        KEFU_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="kefu.settings",
        PYTHONPATH=args.src,
        KEFU_BENCH_SRC=args.src,
    )
    os.environ.update(env)
    sys.path.insert(0, args.src)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        started = time.perf_counter()
        if set(modes) <= {"bare", "bare-redis"}:  # the relays alone need no database
            seeded = Seed(site_key="", agent_cookies=[], database_version="no database")
        else:
            call_command("migrate", verbosity=0)
            seeded = seed(args.agents, args.capacity)
        print(
            f"chat_load: {seeded.database_version}; data {data_dir}; migrated and seeded in "
            f"{time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        bench = Bench(args, env, data_dir, processes, seeded)
        phases: list[Phase] = []
        for mode in modes:
            print(f"mode {mode} …", file=sys.stderr)
            phases += run(getattr(bench, mode.replace("-", "_"))())
        report(bench, phases, load)
    finally:
        processes.stop_all()
        if args.keep:
            print(f"kept: {data_dir} (KEFU_DATABASE_URL={db.url})", file=sys.stderr)
        else:
            db.cleanup()
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
