"""`support kb`: import, export, search and the batch mode, as a user runs them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import main
from tests.cli_util import run_support, support_env
from tests.conftest import Database

SHARED_KB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kb"
FAQ_FILE = SHARED_KB / "faq.jsonl"
DEV_QUERIES = SHARED_KB / "queries-dev.jsonl"


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("{")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


class Runner:
    """Run `support ...` inside the test process (the analyser loads once per run)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def env(self, database_url: str, data_dir: Path) -> None:
        for name, value in support_env(database_url, data_dir).items():
            if name.startswith("SUPPORT_"):
                self.monkeypatch.setenv(name, value)

    def run(self, args: list[str], stdin: str = "") -> tuple[int, str, str]:
        self.capsys.readouterr()
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = 0
        try:
            main(args)
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def __call__(self, args: list[str], stdin: str = "") -> tuple[int, str]:
        code, out, _ = self.run(args, stdin)
        return code, out

    def error(self, args: list[str], stdin: str = "") -> str:
        code, _, err = self.run(args, stdin)
        lines = [ln for ln in err.splitlines() if not ln.startswith("{")]
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
        return lines[0]


@pytest.fixture
def in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Runner]:
    yield Runner(monkeypatch, capsys)


def reciprocal_rank(ranked: list[str], relevant: list[str], k: int = 5) -> float:
    for rank, doc_id in enumerate(ranked[:k], start=1):
        if doc_id in relevant:
            return 1.0 / rank
    return 0.0


class TestImportAndSearch:
    def test_dev_queries_meet_the_quality_bar_through_the_batch_mode(
        self, database: Database, tmp_path: Path, in_process: Runner
    ) -> None:
        in_process.env(database.url, tmp_path / "data")
        assert in_process(["kb", "import", str(FAQ_FILE)])[0] == 0

        queries = [json.loads(line) for line in DEV_QUERIES.read_text("utf-8").splitlines()]
        batch = "".join(
            json.dumps({"q": q["q"], "municipality": q["municipality"]}, ensure_ascii=False) + "\n"
            for q in queries
        )
        code, out = in_process(["kb", "search", "--stdin", "--json"], stdin=batch)
        assert code == 0
        answers = [json.loads(line) for line in out.splitlines()]
        assert [a["q"] for a in answers] == [q["q"] for q in queries]

        by_kind: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for query, answer in zip(queries, answers, strict=True):
            first = 1.0 if answer["ids"][:1] and answer["ids"][0] in query["relevant"] else 0.0
            rr = reciprocal_rank(answer["ids"], query["relevant"])
            by_kind[query["kind"]].append((first, rr))
        every = [pair for pairs in by_kind.values() for pair in pairs]
        hit1 = sum(p[0] for p in every) / len(every)
        mrr5 = sum(p[1] for p in every) / len(every)
        assert hit1 >= 0.80, by_kind
        assert mrr5 >= 0.85, by_kind

    def test_export_gives_back_what_was_imported_and_search_prints_json(
        self, database: Database, tmp_path: Path, in_process: Runner
    ) -> None:
        in_process.env(database.url, tmp_path / "data")
        assert in_process(["kb", "import", str(FAQ_FILE)]) == (
            0,
            "created 90, updated 0, unchanged 0\n",
        )
        code, out = in_process(["kb", "export"])
        assert code == 0
        original = [json.loads(line) for line in FAQ_FILE.read_text("utf-8").splitlines()]
        assert [json.loads(line) for line in out.splitlines()] == original

        args = ["kb", "search", "伊勢の体験チケットの有効期限", "--municipality", "ise", "--json"]
        code, out = in_process(args)
        assert code == 0
        answer = json.loads(out)
        assert 1 <= len(answer["ids"]) <= 5
        assert {"id", "title", "answer_short", "score"} <= set(answer["hits"][0])


class TestBadInput:
    def test_a_broken_faq_line_imports_nothing_and_exits_2(
        self, tmp_path: Path, in_process: Runner
    ) -> None:
        in_process.env(f"sqlite:///{tmp_path / 'kb.db'}", tmp_path / "data")
        good = FAQ_FILE.read_text("utf-8").splitlines()[0]
        path = tmp_path / "faq.jsonl"
        for bad in ("{not json", '{"id": "x", "title": ""}', "[1, 2]"):
            path.write_text(good + "\n" + bad + "\n", encoding="utf-8")
            assert "line 2" in in_process.error(["kb", "import", str(path)])
        path.write_bytes(b"\xff\xfe\x00")
        in_process.error(["kb", "import", str(path)])
        in_process.error(["kb", "import", str(tmp_path / "missing.jsonl")])
        assert in_process(["kb", "export"]) == (0, "")

    def test_bad_batch_lines_and_arguments_exit_2(self, tmp_path: Path, in_process: Runner) -> None:
        in_process.env(f"sqlite:///{tmp_path / 'kb.db'}", tmp_path / "data")
        for stdin in (
            '{"q": "控除"}\n{"q": 5}\n',
            '{"q": "控除"}\nnot json\n',
            '{"q": "a", "municipality": 1}\n',
        ):
            error = in_process.error(["kb", "search", "--stdin", "--json"], stdin=stdin)
            assert "line" in error
        in_process.error(["kb", "search", "控除", "--stdin"])
        in_process.error(["kb", "search"])
        in_process.error(["kb", "search", "控除", "--top", "0"])
        # The installed command itself, once: the same one-line error and status.
        env = support_env(f"sqlite:///{tmp_path / 'kb.db'}", tmp_path / "data")
        one_line_error(run_support(["kb", "search", "--stdin"], env, stdin="[]\n"))

    def test_odd_single_queries_answer_an_empty_list_or_hits(
        self, tmp_path: Path, in_process: Runner
    ) -> None:
        in_process.env(f"sqlite:///{tmp_path / 'kb.db'}", tmp_path / "data")
        in_process(["kb", "import", str(FAQ_FILE)])
        for q in ("", "🎁🎁", '" OR * NEAR', "控除" * 5000):
            code, out = in_process(["kb", "search", q, "--json"])
            assert code == 0
            assert isinstance(json.loads(out)["ids"], list)
