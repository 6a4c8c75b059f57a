"""A real SMTP server (aiosmtpd) in its own process that stores every message it accepts.

Run as `python -m tests.services.smtp_sink --port P --out DIR`; each accepted message is
written to DIR as NNNNNN.eml with NNNNNN.json holding the envelope.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.services.netutil import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


class _Handler:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.count += 1
            stem = self.out / f"{os.getpid()}-{self.count:06d}"
        data = envelope.original_content or envelope.content
        tmp = stem.with_suffix(".tmp")
        tmp.write_bytes(data if isinstance(data, bytes) else data.encode())
        stem.with_suffix(".json").write_text(
            json.dumps({"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos)})
        )
        tmp.rename(stem.with_suffix(".eml"))
        return "250 OK"


def _serve(port: int, out: Path) -> None:
    from aiosmtpd.controller import Controller

    out.mkdir(parents=True, exist_ok=True)
    controller = Controller(_Handler(out), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


class SmtpSink:
    """Start the sink on a free loopback port; read what it received; stop it by PID."""

    def __init__(self, out: Path, port: int | None = None) -> None:
        self.out = out
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def _banner(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(3) == b"220"
        except OSError:
            return False

    def start(self) -> SmtpSink:
        """Start the server process and wait for its 220 banner."""
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.services.smtp_sink",
                "--port",
                str(self.port),
                "--out",
                str(self.out),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._banner, timeout=30, what="the SMTP sink to answer")
        return self

    def stop(self) -> None:
        """Stop the server by PID."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def messages(self) -> list[tuple[dict[str, Any], bytes]]:
        """Return (envelope, raw bytes) of every message received so far."""
        found = []
        for eml in sorted(self.out.glob("*.eml")):
            envelope = json.loads(eml.with_suffix(".json").read_text())
            found.append((envelope, eml.read_bytes()))
        return found

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    _serve(args.port, args.out)
