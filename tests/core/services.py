"""Whether the machine's own services are up (tests against them skip otherwise)."""

from __future__ import annotations

import socket


def redis_up(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
