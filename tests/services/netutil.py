"""Small networking and polling helpers for test harnesses that start real servers."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

__all__ = ["free_port", "wait_for_port", "wait_until"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    # Binding to port 0 lets the kernel pick an unused port; the caller must still cope
    # with another process grabbing it between now and its own bind (see PostgresServer).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    interval: float = 0.05,
    *,
    what: str,
) -> None:
    """Poll `predicate` until it returns true, raising TimeoutError after `timeout` seconds."""
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0, got {timeout}")
    if interval <= 0:
        raise ValueError(f"interval must be > 0, got {interval}")
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        # Never sleep past the deadline so the total wait stays bounded by `timeout`.
        time.sleep(min(interval, remaining))


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Wait until a TCP connection to host:port succeeds, raising TimeoutError otherwise."""

    def accepts() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            return False

    wait_until(accepts, timeout, what=f"TCP port {host}:{port} to accept connections")
