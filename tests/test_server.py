"""The real server (`support serve`) over HTTP, on each backend, with its log checked for PII."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli_util import run_support, support_env
from tests.conftest import Database
from tests.factories import world_path
from tests.services.netutil import free_port, wait_until

PASSWORD = "server-test-password"


class Server:
    """A `support serve` process on a free loopback port."""

    def __init__(self, env: dict[str, str], log_path: Path, command: str = "serve") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "support", command, "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(self.log_path.read_text(encoding="utf-8")[-3000:])
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def server(database: Database, tmp_path: Path) -> Iterator[Server]:
    """Load the world and three users, then start the server on the backend under test."""
    env = support_env(database.url, tmp_path / "data", SUPPORT_LOG_LEVEL="DEBUG")
    assert run_support(["demo", "load", str(world_path())], env).returncode == 0
    for args in (
        ["op1", "--role", "operator"],
        ["adm1", "--role", "admin"],
        ["ise1", "--role", "municipality", "--municipality", "ise"],
        ["sup1", "--role", "supplier", "--supplier", "sup-01"],
    ):
        result = run_support(["user", "add", *args, "--password-stdin"], env, stdin=PASSWORD)
        assert result.returncode == 0, result.stderr
    srv = Server(env, tmp_path / "server.log")
    try:
        wait_until(srv.ready, timeout=60, what="support serve to become ready")
        yield srv
    finally:
        srv.stop()


def _token(srv: Server, username: str) -> dict[str, str]:
    response = httpx.post(
        f"{srv.url}/api/auth/token", json={"username": username, "password": PASSWORD}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_scoping_audit_and_clean_logs_over_real_http(server: Server) -> None:
    world = json.loads(world_path().read_text(encoding="utf-8"))
    operator, admin = _token(server, "op1"), _token(server, "adm1")
    ise, sup = _token(server, "ise1"), _token(server, "sup1")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yokohama = http.get(
            "/api/orders", params={"municipality_id": "yokohama", "limit": 1}, headers=operator
        ).json()["items"][0]
        ticket = http.post(
            "/api/tickets",
            headers=operator,
            json={"subject": "配送について", "order_id": yokohama["id"]},
        ).json()
        ise_donors = {o["donor_id"] for o in world["orders"] if o["municipality"] == "ise"}
        foreign = next(
            o["donor_id"]
            for o in world["orders"]
            if o["municipality"] == "yokohama" and o["donor_id"] not in ise_donors
        )
        assert http.get(f"/api/donors/{foreign}", headers=ise).status_code == 404
        assert http.get(f"/api/orders/{yokohama['id']}", headers=ise).status_code == 404
        assert http.get(f"/api/tickets/{ticket['id']}", headers=ise).status_code == 404

        own = http.get("/api/orders", params={"limit": 500}, headers=sup).json()
        expected = sum(1 for o in world["orders"] if o["supplier_id"] == "sup-01")
        assert own["total"] == expected
        shipped = http.get(f"/api/orders/{own['items'][0]['id']}", headers=sup).json()
        assert shipped["ship_to"]["address"]

        donor_ids = [d["id"] for d in world["donors"][:5]]
        for donor_id in donor_ids:
            body = http.get(f"/api/donors/{donor_id}", headers=operator).json()
            assert body["email"]
        me = http.get("/api/auth/me", headers=operator).json()
        audit = http.get("/api/audit", params={"user_id": me["id"]}, headers=admin).json()
        assert sorted(e["donor_id"] for e in audit if e["action"] == "read") == sorted(donor_ids)
        assert all(e["client_ip"] == "127.0.0.1" for e in audit)

    server.stop()
    log = server.log_path.read_text(encoding="utf-8")
    assert '"logger": "support.access"' in log
    for donor in world["donors"]:
        assert donor["email"] not in log
        assert donor["phone"] not in log
        assert donor["phone"].replace("-", "") not in log
    if os.environ.get("SUPPORT_LOG_FILE"):
        assert Path(os.environ["SUPPORT_LOG_FILE"]).exists()


def test_the_readme_first_command_serves_the_demo_world_users_and_faq(tmp_path: Path) -> None:
    # `support demo` on the embedded defaults: SQLite and the built-in search in DATA_DIR.
    data = tmp_path / "data"
    env = support_env("", data)
    srv = Server(env, tmp_path / "demo.log", command="demo")
    try:
        wait_until(srv.ready, timeout=90, what="support demo to become ready")
        credentials = data / "demo-credentials.json"
        assert credentials.stat().st_mode & 0o777 == 0o600
        logins = json.loads(credentials.read_text(encoding="utf-8"))
        assert {"operator", "supervisor", "admin", "ise", "yokohama", "sup-01"} <= set(logins)
        with httpx.Client(base_url=srv.url, timeout=10) as http:
            token = http.post(
                "/api/auth/token",
                json={"username": "operator", "password": logins["operator"]},
            ).json()["access_token"]
            orders = http.get("/api/orders", headers={"Authorization": f"Bearer {token}"})
            assert orders.status_code == 200 and orders.json()["total"] == 120
            found = http.post("/api/kb/public/search", json={"q": "ワンストップ特例の申請期限"})
            assert found.status_code == 200
            assert found.json()["hits"], found.text
            assert http.get("/console/login").status_code == 200
    finally:
        srv.stop()
