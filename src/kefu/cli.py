"""The ``kefu`` command: setup, demo, run, worker, and every Django management command."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from typing import Any

logger = logging.getLogger("kefu")

USAGE = """kefu: self-hosted customer service

  kefu setup                      compile translations, collect static files, migrate
  kefu demo [--host H] [--port N] set up, load demo data and serve (embedded default)
  kefu run [--host H] [--port N]  serve HTTP + websockets, with task worker and scheduler
           [--web-only]           (web only: run workers apart with `kefu worker`)
  kefu worker [--no-scheduler]    background task worker (and the periodic scheduler)
  kefu token create USERNAME      print a new API token for USERNAME
  kefu loaddemo                   load the demo data (idempotent)
  kefu <django command> ...       e.g. kefu migrate, kefu createsuperuser, kefu shell
"""


def _django(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
    import django

    django.setup()


def setup(quiet: bool = False) -> None:
    from django.core.management import call_command

    from kefu.core.i18n import compile_catalogs

    compile_catalogs()
    call_command("migrate", interactive=False, verbosity=0 if quiet else 1)


def _start_background(scheduler: bool = True) -> tuple[threading.Event, list[threading.Thread]]:
    """Start the task worker and the scheduler as threads of this process."""
    from django_tasks_db.management.commands.db_worker import Worker

    from kefu.core import scheduler as sched

    stop = threading.Event()
    worker = Worker(
        queue_names=["*"],
        interval=0.5,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=f"{socket.gethostname()}-{os.getpid()}",
        excluded_queue_names=[],
    )

    def run_worker() -> None:
        try:
            worker.run()
        except Exception:
            logger.exception("task worker stopped")

    def stop_worker() -> None:
        stop.wait()
        worker.running = False

    threads = [
        threading.Thread(target=run_worker, name="kefu-worker", daemon=True),
        threading.Thread(target=stop_worker, name="kefu-worker-stop", daemon=True),
    ]
    if scheduler:
        threads.append(
            threading.Thread(
                target=sched.run_forever, args=(stop,), name="kefu-scheduler", daemon=True
            )
        )
        for name, loop in sched.watchers().items():
            threads.append(
                threading.Thread(target=loop, args=(stop,), name=f"kefu-{name}", daemon=True)
            )
    for thread in threads:
        thread.start()
    return stop, threads


def serve(host: str, port: int, web_only: bool = False) -> None:
    import uvicorn

    from kefu.core import realtime, webprocess

    stop = None
    if not web_only:
        stop, _ = _start_background()

    class Server(uvicorn.Server):
        collector: Any = None  # the garbage collection task (kefu.core.webprocess)

        async def startup(self, sockets: Any = None) -> None:
            import asyncio

            from kefu.livechat import lines

            realtime.set_server_loop(asyncio.get_running_loop())
            lines.use_writer_process()  # chat lines stored beside the sockets, not among them
            webprocess.prepare()
            self.collector = asyncio.create_task(webprocess.keep_pauses_short())
            await super().startup(sockets=sockets)

    config = uvicorn.Config(
        "kefu.asgi:application",
        host=host,
        port=port,
        log_level="info",
        lifespan="off",
        ws="websockets-sansio" if _has_sansio() else "auto",
        proxy_headers=True,
    )
    try:
        Server(config).run()
    finally:
        if stop is not None:
            stop.set()


def _has_sansio() -> bool:
    try:
        import websockets  # noqa: F401
        from uvicorn.protocols.websockets import websockets_sansio_impl  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(USAGE)
        return
    command, rest = argv[0], argv[1:]
    if command in {"demo", "run", "worker", "setup"}:
        parser = argparse.ArgumentParser(prog=f"kefu {command}")
        parser.add_argument("--host", default=os.environ.get("KEFU_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("KEFU_PORT", "8000")))
        parser.add_argument("--web-only", action="store_true")
        parser.add_argument("--no-scheduler", action="store_true")
        args = parser.parse_args(rest)
        if command == "demo":
            os.environ.setdefault("KEFU_DEMO", "1")
        _django()
        logging.basicConfig(level=logging.INFO)
        if command == "setup":
            from django.core.management import call_command

            setup()
            call_command("collectstatic", interactive=False, verbosity=0)
            print("kefu is set up.")
            return
        if command == "demo":
            from kefu.demo import load_demo

            setup(quiet=True)
            load_demo()
            shown = "127.0.0.1" if args.host in {"0.0.0.0", "::"} else args.host  # noqa: S104
            url = f"http://{shown}:{args.port}/"
            print(
                f"\n  kefu demo is starting at {url}\n"
                "  Sign in as  demo / kefu-demo  (supervisor; agents: li.na, chen.wei, "
                "amy.wong, tom.baker, same password)\n"
                "  Admin pages: /admin/   API: /api/docs\n"
                f"  Live chat as a visitor: {url}chat/w/demo-shop/sample/\n",
                flush=True,
            )
        if command == "worker":
            from kefu.core import webprocess

            webprocess.settle()  # as the server does: start-up's objects stay
            stop, threads = _start_background(scheduler=not args.no_scheduler)
            try:
                threads[0].join()
            except KeyboardInterrupt:
                stop.set()
            return
        serve(args.host, args.port, web_only=args.web_only)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["kefu", *argv])


if __name__ == "__main__":
    main()
