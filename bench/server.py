"""Start `support serve` for a benchmark on a free loopback port, stopped by its PID after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.services.netutil import free_port, wait_until


@contextmanager
def serving(url: str, data_dir: Path, name: str, **env_extra: str) -> Iterator[str]:
    """Serve the database at `url` until the block ends; yield the base URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    env.update(SUPPORT_DATABASE_URL=url, SUPPORT_DATA_DIR=str(data_dir))
    env.setdefault("SUPPORT_LOG_LEVEL", "WARNING")
    env.update(env_extra)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = data_dir / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "support", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(log_path.read_text()[-2000:])
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=120, what=f"{name} server")
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def each_backend(backends: str, prefix: str, run: Callable[[str, str, Path], None]) -> None:
    """Call `run(name, url, data_dir)` for each of "sqlite,postgresql" on a throwaway database."""
    names = [b.strip() for b in backends.split(",") if b.strip()]
    unknown = [n for n in names if n not in ("sqlite", "postgresql")]
    if unknown:
        raise SystemExit(f"error: unknown backend {unknown[0]!r}")
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        for name in names:
            data_dir = Path(tmp) / name
            data_dir.mkdir()
            if name == "sqlite":
                run(name, f"sqlite:///{data_dir / 'support.db'}", data_dir)
            else:
                from tests.services.postgres import PostgresServer

                with PostgresServer() as server:
                    run(name, server.create_database("bench"), data_dir)
