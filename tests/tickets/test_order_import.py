"""Portal CSV import: idempotent upserts, bad rows by line, wrong encodings, big files."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, func, select, text

from support.tickets.models import Donation, Donor, Order
from support.tickets.order_import import (
    ImportFailed,
    ImportReport,
    Mapping,
    import_orders,
    load_mapping,
)
from tests.cli_util import run_support, support_env
from tests.conftest import Database
from tests.factories import load_demo_world, world_path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "import"
SATOFULL = load_mapping(EXAMPLES / "satofull.yaml")
# The shipped さとふる mapping reduced to the columns these tests write.
MINIMAL = Mapping.model_validate(
    {
        **SATOFULL.model_dump(),
        "columns": {
            k: v
            for k, v in SATOFULL.columns.items()
            if k in ("order_no", "donation_no", "donor_id", "donor_name", "supplier_id", "item")
            or k in ("amount_yen", "donated_on", "status")
        },
    }
)
HEADER = [
    "注文番号",
    "申込番号",
    "会員ID",
    "氏名",
    "お礼品事業者",
    "お礼品名",
    "金額",
    "申込日",
    "ステータス",
]


@pytest.fixture
def world(database: Database) -> Database:
    load_demo_world(database.factory)
    return database


def _csv(rows: list[list[str]], header: list[str] = HEADER, encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    return out.getvalue().encode(encoding)


def _row(
    n: int, *, supplier: str = "S-0010", day: str = "2025-12-10", amount: str = "10000"
) -> list[str]:
    return [
        f"SF-{n:06d}",
        f"SFD-{n:06d}",
        f"M{n % 5000}",
        "見本 太郎",
        supplier,
        "釜揚げしらす 1kg",
        amount,
        day,
        "発送済",
    ]


def _run(
    world: Database, data: bytes, mapping: Mapping = MINIMAL
) -> tuple[list[tuple[int, str]], ImportReport]:
    problems: list[tuple[int, str]] = []
    with world.factory() as s:
        report = import_orders(
            session=s,
            stream=io.BytesIO(data),
            mapping=mapping,
            name="t.csv",
            on_problem=lambda line, why: problems.append((line, why)),
        )
        s.commit()
    return problems, report


def _count(world: Database, model: type) -> int:
    with world.factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


class TestImport:
    def test_the_shipped_examples_load_and_reloading_changes_nothing(self, world: Database) -> None:
        before = _count(world, Order)
        for name in ("choice", "satofull"):
            data = (EXAMPLES / f"{name}-sample.csv").read_bytes()
            mapping = load_mapping(EXAMPLES / f"{name}.yaml")
            problems, report = _run(world, data, mapping)
            assert problems == []
            assert report.counts.created["orders"] == 2
            again_problems, again = _run(world, data, mapping)
            assert again_problems == [] and again.counts.created == {}
            assert again.counts.updated == {}
        assert _count(world, Order) == before + 4
        with world.factory() as s:
            order = s.scalars(select(Order).where(Order.order_no == "CH-2025-0002")).one()
            assert (order.municipality_id, order.status, order.portal) == (
                "yokohama",
                "配達完了",
                "ふるさとチョイス",
            )
            donor = s.get_one(Donor, "choice-100202")
            assert donor.name == "例示 一郎" and donor.email == "ichiro.reiji@example.ne.jp"

    def test_a_changed_row_updates_the_order(self, world: Database) -> None:
        _run(world, _csv([_row(1)]))
        changed = _row(1)
        changed[8] = "配達完了"
        problems, report = _run(world, _csv([changed]))
        assert problems == [] and report.counts.updated["orders"] == 1
        with world.factory() as s:
            assert (
                s.scalars(select(Order.status).where(Order.order_no == "SF-000001")).one()
                == "配達完了"
            )

    def test_bad_rows_are_reported_by_line_and_the_rest_loads(self, world: Database) -> None:
        rows = [
            _row(1),
            _row(2, supplier="S-9999"),  # line 3: unknown supplier
            _row(3, day="2025-13-40"),  # line 4: not a date
            _row(4, amount="一万円"),  # line 5: not an amount
            [*_row(5)[:3], "", *_row(5)[4:]],  # line 6: no name
            _row(6, supplier="sup-01"),  # line 7: a supplier of 伊勢市 in 静岡市's export
            _row(7),
        ]
        problems, report = _run(world, _csv(rows))
        assert sorted(line for line, _ in problems) == [3, 4, 5, 6, 7]
        reasons = dict(problems)
        assert "unknown supplier" in reasons[3] and "not a date" in reasons[4]
        assert (
            "金額" in reasons[5] and "氏名: empty" in reasons[6] and "does not serve" in reasons[7]
        )
        assert report.counts.created["orders"] == 2

    def test_a_quoted_field_over_two_lines_keeps_the_line_numbers_right(
        self, world: Database
    ) -> None:
        first = _row(1)
        first[5] = "釜揚げしらす\n1kg"
        problems, _ = _run(world, _csv([first, _row(2, supplier="nobody")]))
        assert problems == [(4, "unknown supplier 'nobody'")]

    def test_duplicated_rows_load_once_and_a_conflicting_copy_is_refused(
        self, world: Database
    ) -> None:
        other = _row(1)
        other[8] = "配達完了"
        problems, report = _run(world, _csv([_row(1), _row(1), other]))
        assert problems == [
            (3, "duplicate of line 2 (skipped)"),
            (4, "order SF-000001 differs from line 2"),
        ]
        assert report.counts.created["orders"] == 1

    def test_a_shift_jis_file_declared_utf8_is_refused_whole_with_a_hint(
        self, world: Database
    ) -> None:
        data = _csv([_row(1), _row(2)], encoding="cp932")
        with pytest.raises(ImportFailed) as caught:
            _run(world, data)
        assert "line 1" in caught.value.detail and "encoding: cp932" in caught.value.detail
        with world.factory() as s:
            imported = s.scalar(select(func.count()).where(Donation.portal == "さとふる"))
            assert imported == _satofull_in_world()

    def test_a_bad_byte_deep_in_the_file_names_its_line(self, world: Database) -> None:
        data = _csv([_row(n) for n in range(1, 5000)]) + "見本".encode("cp932") + b"\r\n"
        with pytest.raises(ImportFailed, match="line 5001"):
            _run(world, data)
        with world.factory() as s:
            assert (
                s.scalar(select(func.count()).where(Order.portal == "さとふる"))
                == _satofull_in_world()
            )

    def test_a_thousand_rows_load_in_batches_on_both_backends(self, world: Database) -> None:
        problems, report = _run(world, _csv([_row(n) for n in range(1, 1201)]))
        assert problems == [] and report.counts.created["orders"] == 1200
        assert report.counts.created["donors"] == 1200


def _peak_rss_kib(args: list[str], env: dict[str, str]) -> int:
    """Run the command in a fresh interpreter and return its peak resident memory."""
    code = (
        "import resource, sys\n"
        "from support.cli import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "finally:\n"
        "    print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stderr.rsplit("maxrss ", 1)[1].split()[0])


def test_fifty_thousand_rows_stream_in_bounded_memory(tmp_path: Path) -> None:
    # SQLite only: this measures the reader's memory, which does not depend on the backend,
    # and 50,000 rows take a minute on a loaded PostgreSQL (the batches are the same code).
    env = support_env(f"sqlite:///{tmp_path / 'big.db'}", tmp_path)
    assert run_support(["demo", "load", str(world_path())], env).returncode == 0
    mapping = tmp_path / "minimal.yaml"
    mapping.write_text(yaml.safe_dump(MINIMAL.model_dump(), allow_unicode=True), "utf-8")
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    small.write_bytes(_csv([_row(n) for n in range(1, 5_001)]))
    big.write_bytes(_csv([_row(n) for n in range(100_001, 150_001)]))
    peaks = [
        _peak_rss_kib(["import", "orders", str(path), "--mapping", str(mapping)], env)
        for path in (small, big)
    ]
    engine = create_engine(f"sqlite:///{tmp_path / 'big.db'}")
    with engine.connect() as conn:
        count = conn.scalar(text("SELECT count(*) FROM orders WHERE portal = 'さとふる'"))
    engine.dispose()
    assert count == 55_000 + _satofull_in_world()
    # Ten times the rows (a 5 MB file) may cost the duplicate-check keys, not the rows.
    assert peaks[1] - peaks[0] < 40 * 1024, peaks


def _satofull_in_world() -> int:
    import json

    raw = json.loads(world_path().read_text(encoding="utf-8"))
    return sum(o["portal"] == "さとふる" for o in raw["orders"])


class TestCommand:
    def _error(self, result: subprocess.CompletedProcess[str]) -> str:
        assert result.returncode == 2, result.stderr
        lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("{")]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        return lines[0]

    def test_missing_columns_exit_2_with_one_line(self, world: Database, tmp_path: Path) -> None:
        bad = tmp_path / "short.csv"
        bad.write_bytes(_csv([["SF-1", "M1"]], header=["注文番号", "会員ID"]))
        result = run_support(
            ["import", "orders", str(bad), "--mapping", str(EXAMPLES / "satofull.yaml")],
            support_env(world.url, tmp_path),
        )
        assert "missing columns: 申込番号, 氏名" in self._error(result)

    def test_a_mapping_with_a_typo_exits_2(self, tmp_path: Path) -> None:
        mapping = tmp_path / "m.yaml"
        mapping.write_text("portal: x\ncolums: {}\n", encoding="utf-8")
        result = run_support(
            ["import", "orders", str(tmp_path / "x.csv"), "--mapping", str(mapping)],
            support_env(f"sqlite:///{tmp_path / 'x.db'}", tmp_path),
        )
        assert "m.yaml" in self._error(result)

    def test_bad_rows_are_listed_and_the_command_exits_1(
        self, world: Database, tmp_path: Path
    ) -> None:
        path = tmp_path / "orders.csv"
        path.write_bytes(_csv([_row(1), _row(2, supplier="S-9999")]))
        mapping = tmp_path / "minimal.yaml"
        mapping.write_text(yaml.safe_dump(MINIMAL.model_dump(), allow_unicode=True), "utf-8")
        result = run_support(
            ["import", "orders", str(path), "--mapping", str(mapping)],
            support_env(world.url, tmp_path),
        )
        assert result.returncode == 1, result.stderr
        assert "orders.csv:3: unknown supplier 'S-9999'" in result.stderr
        assert "orders created 1" in result.stdout
