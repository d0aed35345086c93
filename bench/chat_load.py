"""Live-chat load: visitor → agent delivery latency on kefu, against a bare websockets relay.

    .venv/bin/python bench/chat_load.py [--visitors 1000] [--agents 50] [--rate 200]
        [--duration 30] [--modes memory,redis,bare] [--db sqlite|postgres] [--profile DIR]

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

Set-up (not measured): the agents open ``/ws/workspace/``; each visitor POSTs
``/chat/w/<key>/session`` then ``/chat/w/<key>/start`` (once, in the first kefu mode; later
modes reuse the tokens and open chats), opens ``/ws/chat/<key>/?token=…`` and sends ``hello``.
Measured: the visitors together send ``--rate`` ``msg`` frames per second for ``--duration``
seconds (round-robin over the visitors, each with a unique ``cid``); the latency of a message
is the time from just before its ``send`` to the moment an agent socket of this same process
reads the ``{"op": "chat", "message": {"cid": …}}`` frame that carries it. After the window,
up to ``--drain`` seconds for stragglers; whatever has not arrived by then is lost.

Also printed: the visitor's ``ack`` round trip, errors by code, server RSS growth per visitor
connection (``VmRSS`` after the sockets are open minus before, ÷ connections), server and client
CPU seconds during the window (``/proc/<pid>/stat``), and kefu ÷ bare ratios. ``--profile DIR``
runs ``py-spy record`` (if found on PATH, or ``--py-spy PATH``) on every kefu server during the
window and writes flame graphs plus a top-of-stack summary. It exits non-zero only when the
harness itself fails; figures are printed, never asserted. Results: docs/benchmarks.md.
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
sys.path.insert(0, str(ROOT / "src"))

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


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


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

    async def visitor(ws: ServerConnection) -> None:
        conversation = counters["visitors"] = counters["visitors"] + 1
        agent = agents[(conversation - 1) % len(agents)] if agents else None
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
                if agent is not None:
                    with contextlib.suppress(Exception):
                        await agent.send(
                            json.dumps(
                                {"op": "chat", "conversation": conversation, "message": message}
                            )
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
        async with serve(handler, "127.0.0.1", port, max_size=2**16):
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


def post_json(url: str, body: dict[str, Any], origin: str, token: str = "") -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Origin": origin, "Referer": origin + "/"}
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
    session = post_json(f"{base}/chat/w/{key}/session", {"identity": None}, base)
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
        token,
    )
    return {"token": token, "conversation": started.get("conversation"), **started}


# ---------------------------------------------------------------------------------------------
# The load client
# ---------------------------------------------------------------------------------------------


@dataclass
class Stats:
    sent: dict[str, float] = field(default_factory=dict)  # cid → perf_counter at send
    latency: dict[str, float] = field(default_factory=dict)  # cid → s, first agent frame
    ack: dict[str, float] = field(default_factory=dict)  # cid → s
    echoed: int = 0
    duplicates: int = 0
    foreign: int = 0  # chat frames for cids this phase did not send
    errors: Counter[str] = field(default_factory=Counter)
    agent_ops: Counter[str] = field(default_factory=Counter)
    visitor_ops: Counter[str] = field(default_factory=Counter)
    closed: Counter[str] = field(default_factory=Counter)
    slip_max: float = 0.0  # how far the sender fell behind its schedule

    def received(self) -> int:
        return len(self.latency)


@dataclass
class Endpoint:
    """Where one mode's sockets go."""

    agent_urls: list[str]  # one per agent
    agent_headers: list[dict[str, str]]
    visitor_urls: list[str]  # one per visitor
    origins: list[str]  # Origin header per visitor
    agent_origin: str


async def agent_reader(ws: Any, stats: Stats, tag: str) -> None:
    try:
        async for raw in ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            op = frame.get("op")
            stats.agent_ops[op] += 1
            if op != "chat":
                continue
            cid = (frame.get("message") or {}).get("cid")
            sent = stats.sent.get(cid) if cid else None
            if sent is None:
                stats.foreign += 1
            elif cid in stats.latency:
                stats.duplicates += 1
            else:
                stats.latency[cid] = now - sent
    except Exception as error:  # a closed socket ends the reader
        stats.closed[f"agent {type(error).__name__}"] += 1
    else:
        if ws.close_code not in (None, 1000, 1001):
            stats.closed[f"agent close {ws.close_code}"] += 1


async def visitor_reader(ws: Any, stats: Stats, ready: asyncio.Event, state: list[str]) -> None:
    try:
        async for raw in ws:
            now = time.perf_counter()
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
            elif op == "state":
                state[0] = str(frame.get("state"))
                ready.set()
            elif op == "error":
                stats.errors[str(frame.get("code"))] += 1
    except Exception as error:
        stats.closed[f"visitor {type(error).__name__}"] += 1
    else:
        if ws.close_code not in (None, 1000, 1001):
            stats.closed[f"visitor close {ws.close_code}"] += 1
    ready.set()


@dataclass
class Phase:
    name: str
    stats: Stats
    connected_agents: int
    connected_visitors: int
    states: Counter[str]
    window: float  # seconds the send loop actually took
    drain: float  # seconds waited after it
    server_cpu: dict[str, float]  # per server, CPU seconds during the window (+ drain)
    client_cpu: float
    rss: dict[str, tuple[int, int, int, int]]  # server → (start, after agents, after visitors, end)
    connect_seconds: float
    notes: list[str] = field(default_factory=list)


async def open_socket(url: str, origin: str, headers: dict[str, str] | None = None) -> Any:
    from websockets.asyncio.client import connect

    return await connect(
        url,
        origin=origin,  # type: ignore[arg-type]
        additional_headers=headers or {},
        open_timeout=60,
        ping_interval=None,
        max_size=2**20,
        max_queue=256,
    )


async def run_phase(
    name: str,
    endpoint: Endpoint,
    pids: dict[str, int],
    args: argparse.Namespace,
    profile: Callable[[float], list[subprocess.Popen[bytes]]] | None = None,
) -> Phase:
    stats = Stats()
    loop = asyncio.get_running_loop()
    rss_start = {n: rss_kib(p) for n, p in pids.items()}
    agents = []
    readers = []
    for url, headers in zip(endpoint.agent_urls, endpoint.agent_headers, strict=True):
        ws = await open_socket(url, endpoint.agent_origin, headers)
        agents.append(ws)
        readers.append(asyncio.create_task(agent_reader(ws, stats, name)))
    await asyncio.sleep(1)
    rss_agents = {n: rss_kib(p) for n, p in pids.items()}

    # Visitors: connect with bounded concurrency, hello, wait for the state frame.
    visitors: list[Any] = [None] * len(endpoint.visitor_urls)
    states: list[list[str]] = [["?"] for _ in visitors]
    gate = asyncio.Semaphore(args.connect_concurrency)
    failures: Counter[str] = Counter()

    async def connect_visitor(i: int) -> None:
        async with gate:
            try:
                ws = await open_socket(endpoint.visitor_urls[i], endpoint.origins[i])
            except Exception as error:
                failures[f"{type(error).__name__}: {str(error)[:80]}"] += 1
                return
            ready = asyncio.Event()
            readers.append(asyncio.create_task(visitor_reader(ws, stats, ready, states[i])))
            await ws.send(json.dumps({"op": "hello", "after": 0}))
            try:
                await asyncio.wait_for(ready.wait(), 30)
            except TimeoutError:
                failures["no state frame after hello within 30 s"] += 1
            visitors[i] = ws

    started = time.perf_counter()
    await asyncio.gather(*(connect_visitor(i) for i in range(len(visitors))))
    connect_seconds = time.perf_counter() - started
    await asyncio.sleep(2)
    rss_visitors = {n: rss_kib(p) for n, p in pids.items()}
    live = [ws for ws in visitors if ws is not None]
    notes = [f"visitor connect failures: {dict(failures)}"] if failures else []
    if not live or not agents:
        raise RuntimeError(f"{name}: no visitor or agent socket is open ({dict(failures)})")

    # The measured window.
    total = int(args.rate * args.duration)
    cpu_before = {n: cpu_seconds(p) for n, p in pids.items()}
    client_before = sum(os.times()[:2])
    spies = profile(args.duration) if profile else []
    started = time.perf_counter()
    t0 = loop.time()
    for k in range(total):
        due = t0 + k / args.rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            stats.slip_max = max(stats.slip_max, -delay)
        ws = live[k % len(live)]
        cid = f"{name}-{k}"
        frame = json.dumps({"op": "msg", "text": TEXTS[k % len(TEXTS)].format(n=k), "cid": cid})
        stats.sent[cid] = time.perf_counter()
        try:
            await ws.send(frame)
        except Exception as error:
            stats.errors[f"send {type(error).__name__}"] += 1
    window = time.perf_counter() - started
    drain_start = time.perf_counter()
    while stats.received() < len(stats.sent) and time.perf_counter() - drain_start < args.drain:
        await asyncio.sleep(0.05)
    drain = time.perf_counter() - drain_start
    server_cpu = {n: cpu_seconds(p) - cpu_before[n] for n, p in pids.items()}
    client_cpu = sum(os.times()[:2]) - client_before
    rss_end = {n: rss_kib(p) for n, p in pids.items()}
    for spy in spies:
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(timeout=30)

    for ws in [*agents, *live]:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await asyncio.sleep(1)  # let the servers run their disconnect handlers
    return Phase(
        name=name,
        stats=stats,
        connected_agents=len(agents),
        connected_visitors=len(live),
        states=Counter(s[0] for s in states),
        window=window,
        drain=drain,
        server_cpu=server_cpu,
        client_cpu=client_cpu,
        rss={n: (rss_start[n], rss_agents[n], rss_visitors[n], rss_end[n]) for n in pids},
        connect_seconds=connect_seconds,
        notes=notes,
    )


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

    def kefu_server(self, name: str, extra_env: dict[str, str]) -> Server:
        port = free_port()
        log = self.data_dir / f"{name}.log"
        env = {**self.env, **extra_env}
        process = self.processes.start(
            [*KEFU, "run", "--web-only", "--host", "127.0.0.1", "--port", str(port)], env, log
        )
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
                options = f"--duration {int(duration)} --rate 200 --nonblocking --threads"
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

    async def memory(self) -> Phase:
        server = self.kefu_server("memory", {})
        try:
            self.set_up_visitors(server)
            endpoint = self.kefu_endpoint(server, [server])
            return await run_phase(
                "memory",
                endpoint,
                {"A": server.pid},
                self.args,
                self.profiler([server], "memory"),
            )
        finally:
            self.processes.stop(server.process)
            self.check_log(server)

    async def redis(self) -> Phase:
        extra = {
            "KEFU_REDIS_URL": self.args.redis_url,
            "KEFU_REDIS_PREFIX": f"kefu-chatload-{secrets.token_hex(3)}",
        }
        first = self.kefu_server("redis-A", extra)
        second = self.kefu_server("redis-B", extra)
        try:
            self.set_up_visitors(first)
            endpoint = self.kefu_endpoint(first, [first, second])
            return await run_phase(
                "redis",
                endpoint,
                {"A": first.pid, "B": second.pid},
                self.args,
                self.profiler([first, second], "redis"),
            )
        finally:
            self.processes.stop(first.process)
            self.processes.stop(second.process)
            self.check_log(first)
            self.check_log(second)

    async def bare(self) -> Phase:
        port = free_port()
        log = self.data_dir / "relay.log"
        process = self.processes.start(
            [sys.executable, __file__, "--serve-relay", str(port)], os.environ.copy(), log
        )
        deadline = time.monotonic() + 20
        while "listening" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"relay did not start: {log.read_text()[-2000:]}")
            await asyncio.sleep(0.1)
        base = f"ws://127.0.0.1:{port}"
        origin = f"http://127.0.0.1:{port}"
        endpoint = Endpoint(
            agent_urls=[f"{base}/agent"] * self.args.agents,
            agent_headers=[{} for _ in range(self.args.agents)],
            visitor_urls=[f"{base}/visitor"] * self.args.visitors,
            origins=[origin] * self.args.visitors,
            agent_origin=origin,
        )
        try:
            return await run_phase("bare", endpoint, {"relay": process.pid}, self.args)
        finally:
            self.processes.stop(process)

    def check_log(self, server: Server) -> None:
        """Count tracebacks and error lines in a server's log; keep the first for the report."""
        text = server.log.read_text(errors="replace")
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
    print(
        f"\n## Live chat load: {args.visitors} visitors, {args.agents} agents, "
        f"{args.rate:g} msg/s for {args.duration:g} s (+ up to {args.drain:g} s drain)\n"
    )
    print(
        f"{bench.seed.database_version}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average before {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f}; visitor set-up over HTTP {bench.setup_seconds:.1f} s "
        f"({dict(bench.setup_states)})\n"
    )
    print(
        "| mode | sockets open (agents + visitors) | sent | delivered | lost | dup "
        "| p50 ms | p95 ms | p99 ms | max ms | ack p50 / p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    figures: dict[str, tuple[float, float, float]] = {}
    for phase in phases:
        s = phase.stats
        values = sorted(s.latency.values())
        acks = sorted(s.ack.values())
        p = (percentile(values, 50), percentile(values, 95), percentile(values, 99))
        figures[phase.name] = p
        worst = values[-1] if values else float("nan")
        print(
            f"| {phase.name} | {phase.connected_agents} + {phase.connected_visitors} "
            f"| {len(s.sent)} | {s.received()} | {len(s.sent) - s.received()} | {s.duplicates} "
            f"| {ms(p[0])} | {ms(p[1])} | {ms(p[2])} | {ms(worst)} "
            f"| {ms(percentile(acks, 50))} / {ms(percentile(acks, 99))} |"
        )
    print()
    print(
        "| mode | server CPU s in window (% of one core) | client CPU s | RSS start → +agents → "
        "+visitors → end (MiB) | KiB per visitor socket | KiB per agent socket |"
    )
    print("|---|---|---|---|---|---|")
    for phase in phases:
        busy = phase.window + phase.drain
        cpu = ", ".join(
            f"{n} {v:.1f} ({100 * v / busy:.0f} %)" for n, v in phase.server_cpu.items()
        )
        rss = ", ".join(
            f"{n} {a / 1024:.0f} → {b / 1024:.0f} → {c / 1024:.0f} → {d / 1024:.0f}"
            for n, (a, b, c, d) in phase.rss.items()
        )
        per_visitor = sum(c - b for _, b, c, _ in phase.rss.values()) / max(
            1, phase.connected_visitors
        )
        per_agent = sum(b - a for a, b, _, _ in phase.rss.values()) / max(1, phase.connected_agents)
        print(
            f"| {phase.name} | {cpu} | {phase.client_cpu:.1f} | {rss} | {per_visitor:.0f} "
            f"| {per_agent:.0f} |"
        )
    print()
    if "bare" in figures:
        bare = figures["bare"]
        for name, p in figures.items():
            if name == "bare":
                continue
            ratios = " / ".join(
                "–" if not b else f"{k / b:.1f}×" for k, b in zip(p, bare, strict=True)
            )
            print(f"- {name} ÷ bare relay, p50 / p95 / p99: {ratios}")
    for phase in phases:
        s = phase.stats
        details = [
            f"window {phase.window:.1f} s (sender slip max {s.slip_max * 1000:.0f} ms)",
            f"drain {phase.drain:.1f} s",
            f"visitor sockets opened in {phase.connect_seconds:.1f} s",
            f"states after hello {dict(phase.states)}",
            f"acks {len(s.ack)}, echoes {s.echoed}",
        ]
        if s.errors:
            details.append(f"errors {dict(s.errors)}")
        if s.closed:
            details.append(f"closed {dict(s.closed)}")
        if s.foreign:
            details.append(f"chat frames for other cids {s.foreign}")
        details.append(f"agent frames {dict(s.agent_ops)}")
        details += phase.notes
        print(f"- {phase.name}: " + "; ".join(details))
    if bench.profiles:
        print(f"- profiles: {', '.join(bench.profiles)}")
        for path in bench.profiles:
            if path.endswith(".txt") and Path(path).exists():
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
        threads[frames[0].split(" (")[0] if frames[0].startswith("thread") else "?"] += count
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
    parser.add_argument("--rate", type=float, default=200, help="visitor messages per second")
    parser.add_argument("--duration", type=float, default=30, help="seconds of sending")
    parser.add_argument("--drain", type=float, default=5, help="seconds to wait for stragglers")
    parser.add_argument("--modes", default="memory,redis,bare")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--setup-concurrency", type=int, default=6, help="HTTP set-up threads")
    parser.add_argument("--connect-concurrency", type=int, default=50, help="sockets opening")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the kefu servers into DIR")
    parser.add_argument("--py-spy", help="path of py-spy (default: on PATH)")
    parser.add_argument("--debug", action="store_true", help="KEFU_DEBUG=1 (default 0)")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and database")
    parser.add_argument("--serve-relay", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.capacity * args.agents < args.visitors:
        parser.error("--capacity × --agents must be at least --visitors (else chats queue)")
    return args


def main() -> None:
    args = parse_args()
    if args.serve_relay:
        serve_relay(args.serve_relay)
        return
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - {"memory", "redis", "bare"}
    if unknown:
        sys.exit(f"unknown modes: {sorted(unknown)}")
    load = os.getloadavg()
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
        PYTHONPATH=str(ROOT / "src"),
    )
    os.environ.update(env)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        started = time.perf_counter()
        if modes == ["bare"]:  # the relay alone needs no database
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
        phases = []
        for mode in modes:
            print(f"mode {mode} …", file=sys.stderr)
            phase = run(getattr(bench, mode)())
            phases.append(phase)
            s = phase.stats
            print(
                f"  {mode}: sent {len(s.sent)}, delivered {s.received()}, "
                f"p99 {ms(percentile(sorted(s.latency.values()), 99))} ms",
                file=sys.stderr,
            )
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
