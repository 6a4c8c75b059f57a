"""The `support` command: help, demo load on both backends, users, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from support.auth.models import User
from support.tickets.models import Donor, Municipality, Order, Supplier
from tests.cli_util import run_support, support_env
from tests.conftest import Database
from tests.factories import world_path


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("{")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


class TestHelp:
    def test_console_script_prints_help(self) -> None:
        script = Path(sys.executable).parent / "support"
        result = subprocess.run(
            [str(script), "--help"], capture_output=True, text=True, check=False, timeout=60
        )
        assert result.returncode == 0
        for command in ("serve", "worker", "db", "demo", "user"):
            assert command in result.stdout

    def test_unknown_command_is_a_one_line_error(self, tmp_path: Path) -> None:
        env = support_env(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
        _one_line_error(run_support(["frobnicate"], env))


class TestDemoLoad:
    def test_loads_the_world_and_counts_match(self, database: Database, tmp_path: Path) -> None:
        env = support_env(database.url, tmp_path)
        result = run_support(["demo", "load", str(world_path())], env)
        assert result.returncode == 0, result.stderr
        raw = json.loads(world_path().read_text(encoding="utf-8"))
        with database.factory() as s:
            for model, key in (
                (Municipality, "municipalities"),
                (Supplier, "suppliers"),
                (Donor, "donors"),
                (Order, "orders"),
            ):
                assert s.scalar(select(func.count()).select_from(model)) == len(raw[key])
        again = run_support(["demo", "load", str(world_path())], env)
        assert json.loads(again.stdout)["created"] == {}
        assert json.loads(again.stdout)["updated"] == {}

    def test_loads_into_an_empty_sqlite_file(self, tmp_path: Path) -> None:
        data_dir = tmp_path / "fresh"
        env = support_env("", data_dir)
        result = run_support(["demo", "load", str(world_path())], env)
        assert result.returncode == 0, result.stderr
        assert (data_dir / "support.db").exists()
        assert json.loads(result.stdout)["created"]["orders"] == 120

    @pytest.mark.parametrize(
        ("content", "reason"),
        [("{", "JSON"), ('{"donors": [{"id": 5}]}', "donors.0")],
    )
    def test_broken_file_exits_2_with_one_line(
        self, tmp_path: Path, content: str, reason: str
    ) -> None:
        bad = tmp_path / "bad.json"
        bad.write_text(content, encoding="utf-8")
        env = support_env(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
        assert reason in _one_line_error(run_support(["demo", "load", str(bad)], env))

    def test_missing_file_exits_2(self, tmp_path: Path) -> None:
        env = support_env(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
        _one_line_error(run_support(["demo", "load", str(tmp_path / "none.json")], env))


class TestUserAdd:
    def test_adds_a_municipality_user(self, database: Database, tmp_path: Path) -> None:
        env = support_env(database.url, tmp_path)
        run_support(["demo", "load", str(world_path())], env)
        result = run_support(
            [
                "user",
                "add",
                "ise-tanaka",
                "--role",
                "municipality",
                "--municipality",
                "ise",
                "--password-stdin",
            ],
            env,
            stdin="a-long-enough-password\n",
        )
        assert result.returncode == 0, result.stderr
        with database.factory() as s:
            user = s.scalar(select(User).where(User.username == "ise-tanaka"))
            assert user is not None and user.municipality_id == "ise"
            assert "a-long-enough-password" not in user.password_hash

    @pytest.mark.parametrize(
        ("args", "stdin"),
        [
            (["weak", "--role", "operator", "--password-stdin"], "short\n"),
            (["orphan", "--role", "municipality", "--password-stdin"], "a-long-enough-password\n"),
            (
                ["ghost", "--role", "supplier", "--supplier", "sup-404", "--password-stdin"],
                "a-long-enough-password\n",
            ),
            (["bad", "--role", "emperor", "--password-stdin"], "a-long-enough-password\n"),
        ],
    )
    def test_bad_user_exits_2_and_creates_nothing(
        self, database: Database, tmp_path: Path, args: list[str], stdin: str
    ) -> None:
        env = support_env(database.url, tmp_path)
        _one_line_error(run_support(["user", "add", *args], env, stdin=stdin))
        with database.factory() as s:
            assert s.scalar(select(func.count()).select_from(User)) == 0


class TestWorkerAndDb:
    def test_db_upgrade_and_worker_once(self, database: Database, tmp_path: Path) -> None:
        env = support_env(database.url, tmp_path)
        upgraded = run_support(["db", "upgrade"], env)
        assert upgraded.returncode == 0, upgraded.stderr
        worker = run_support(["worker", "--once"], env)
        assert worker.returncode == 0, worker.stderr
        from support.worker import PERIODIC

        assert f"ran {len(PERIODIC)} jobs" in worker.stdout

    def test_bad_setting_is_a_one_line_error(self, tmp_path: Path) -> None:
        env = support_env("", tmp_path, SUPPORT_LOG_LEVEL="LOUD")
        _one_line_error(run_support(["db", "upgrade"], env))


class TestPolicies:
    def test_serve_refuses_a_policy_file_with_a_typo_naming_file_and_line(
        self, tmp_path: Path
    ) -> None:
        from support.tickets.policy import default_policy_dir

        policies = tmp_path / "policies"
        policies.mkdir()
        for source in default_policy_dir().glob("*.yaml"):
            text = source.read_text(encoding="utf-8")
            if source.name == "ise.yaml":
                text = text.replace("shipping_deadline_days:", "shiping_deadline_days:", 1)
            (policies / source.name).write_text(text, encoding="utf-8")
        env = support_env(
            f"sqlite:///{tmp_path / 'x.db'}", tmp_path, SUPPORT_POLICY_DIR=str(policies)
        )
        line = _one_line_error(run_support(["serve", "--port", "1"], env))
        assert "ise.yaml:" in line and "shiping_deadline_days" in line
