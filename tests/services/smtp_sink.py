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
import ssl
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


def _tls_context(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, cert.with_name("key.pem"))
    return context


def _serve(
    port: int, out: Path, security: str = "none", user: str | None = None, password: str = ""
) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(*args: Any) -> AuthResult:
        data = args[-1]
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            (user or "").encode(),
            password.encode(),
        )
        return AuthResult(success=ok)

    out.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {}
    if security == "starttls":
        options.update(tls_context=_tls_context(out / "cert.pem"), require_starttls=True)
    elif security == "ssl":
        options.update(ssl_context=_tls_context(out / "cert.pem"))
    if user:
        # With implicit TLS aiosmtpd does not see the session as TLS; it is, from the start.
        options.update(
            authenticator=authenticate,
            auth_required=True,
            auth_require_tls=security == "starttls",
        )
    controller = Controller(_Handler(out), hostname="127.0.0.1", port=port, **options)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


class SmtpSink:
    """Start the sink on a free loopback port; read what it received; stop it by PID.

    `security`: "none", "starttls" (required before MAIL) or "ssl" (implicit TLS), with a
    self-signed certificate for 127.0.0.1 made by openssl; `user`/`password` require AUTH.
    """

    def __init__(
        self,
        out: Path,
        port: int | None = None,
        *,
        security: str = "none",
        user: str | None = None,
        password: str = "",
    ) -> None:
        self.out = out
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.security = security
        self.user = user
        self.password = password

    def tls_client_context(self) -> ssl.SSLContext:
        """Return a client context that trusts the sink's certificate."""
        return ssl.create_default_context(cafile=str(self.out / "cert.pem"))

    def _make_certificate(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout",
                str(self.out / "key.pem"),
                "-out",
                str(self.out / "cert.pem"),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=True,
            timeout=60,
        )

    def _banner(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                if self.security == "ssl":
                    context = self.tls_client_context()
                    with context.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
                        return tls.recv(3) == b"220"
                return sock.recv(3) == b"220"
        except OSError:
            return False

    def start(self) -> SmtpSink:
        """Start the server process and wait for its 220 banner."""
        if self.security != "none" and not (self.out / "cert.pem").exists():
            self._make_certificate()
        env = dict(os.environ, SMTP_SINK_PASSWORD=self.password)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.services.smtp_sink",
                "--port",
                str(self.port),
                "--out",
                str(self.out),
                "--security",
                self.security,
                *(["--user", self.user] if self.user else []),
            ],
            env=env,
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
    parser.add_argument("--security", choices=["none", "starttls", "ssl"], default="none")
    parser.add_argument("--user")
    args = parser.parse_args()
    _serve(args.port, args.out, args.security, args.user, os.environ.get("SMTP_SINK_PASSWORD", ""))
