"""`support mail parse --json`: one line per file, matching the shared expectations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_util import run_support, support_env
from tests.conftest import SHARED, Database
from tests.factories import world_path

INBOUND = SHARED / "data" / "inbound"


@pytest.mark.skipif(not INBOUND.exists(), reason="shared inbound corpus absent")
def test_every_inbound_file_prints_its_expected_summary(tmp_path: Path) -> None:
    expected = {
        json.loads(line)["file"]: json.loads(line)
        for line in (INBOUND / "expected.jsonl").open(encoding="utf-8")
    }
    files = [str(INBOUND / name) for name in expected]
    result = run_support(["mail", "parse", *files, "--json"], support_env("", tmp_path))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(expected)
    for line in lines:
        case = expected[Path(line["file"]).name]
        assert set(line) == {
            "file",
            "message_id",
            "from",
            "to",
            "cc",
            "subject",
            "date",
            "text",
            "attachments",
            "is_auto",
            "auto_kind",
            "problems",
        }
        assert line["from"] == case["from"]
        assert line["subject"] == case["subject"]
        assert line["is_auto"] == case["is_auto"]
        assert all(snippet in line["text"] for snippet in case["body_contains"])
        assert [a["filename"] for a in line["attachments"]] == case["attachments"]
        if "message_id" in case:
            assert line["message_id"] == case["message_id"]
        assert line["auto_kind"] in (None, "auto_reply", "bounce")


def test_unreadable_and_garbage_files_still_yield_a_line(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.eml"
    garbage.write_bytes(b"\x00\xff\xfe not a mail")
    missing = tmp_path / "missing.eml"
    result = run_support(
        ["mail", "parse", str(garbage), str(missing), "--json"], support_env("", tmp_path)
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(line["file"]).name for line in lines] == ["garbage.eml", "missing.eml"]
    assert lines[1]["problems"] and lines[0]["problems"]
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


DRAFTS = SHARED / "data" / "outbound" / "drafts-dev.jsonl"


@pytest.mark.skipif(not DRAFTS.exists(), reason="shared outbound drafts absent")
def test_mail_check_finds_the_labelled_mistakes_from_the_database(
    database: Database, tmp_path: Path
) -> None:
    env = support_env(database.url, tmp_path)
    assert run_support(["demo", "load", str(world_path())], env).returncode == 0
    text = DRAFTS.read_text(encoding="utf-8")
    result = run_support(["mail", "check", "--stdin", "--json"], env, stdin=text)
    assert result.returncode == 0, result.stderr
    expected = {d["id"]: set(d["expect"]) for d in map(json.loads, text.splitlines())}
    found = {
        line["id"]: {f["code"] for f in line["findings"]}
        for line in map(json.loads, result.stdout.splitlines())
    }
    assert found.keys() == expected.keys()
    codes = set().union(*expected.values())
    for code in codes:
        labelled = [i for i, e in expected.items() if code in e]
        hit = [i for i in labelled if code in found[i]]
        assert len(hit) / len(labelled) >= 0.95, code
    clean = [i for i, e in expected.items() if not e]
    noisy = [i for i in clean if found[i]]
    assert len(noisy) <= 0.05 * len(clean)
