"""Importing the world file: counts, idempotency, and refusal of broken files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from support.errors import InvalidWorldFile
from support.tickets.models import Donation, Donor, GiftItem, Municipality, Order, Supplier
from support.tickets.world import load_world, read_world
from tests.conftest import Database
from tests.factories import load_demo_world, world_path


def _counts(db: Database) -> dict[str, int]:
    with db.factory() as s:
        return {
            model.__tablename__: int(s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Municipality, Supplier, Donor, Order, Donation, GiftItem)
        }


class TestLoadWorld:
    def test_counts_equal_the_files(self, database: Database) -> None:
        raw = json.loads(world_path().read_text(encoding="utf-8"))
        load_demo_world(database.factory)
        counts = _counts(database)
        assert counts["municipalities"] == len(raw["municipalities"])
        assert counts["suppliers"] == len(raw["suppliers"])
        assert counts["donors"] == len(raw["donors"])
        assert counts["orders"] == len(raw["orders"])
        assert counts["donations"] == len({o["donation_no"] for o in raw["orders"]})
        assert counts["gift_items"] == len({(o["supplier_id"], o["item"]) for o in raw["orders"]})

    def test_loading_twice_changes_nothing(self, database: Database) -> None:
        load_demo_world(database.factory)
        before = _counts(database)
        with database.factory() as s:
            stamps = dict(s.execute(select(Order.order_no, Order.updated_at)).all())
        second = load_demo_world(database.factory)
        assert second.created == {}
        assert second.updated == {}
        assert _counts(database) == before
        with database.factory() as s:
            assert dict(s.execute(select(Order.order_no, Order.updated_at)).all()) == (stamps)

    def test_changed_field_is_updated_in_place(self, database: Database, tmp_path: Path) -> None:
        load_demo_world(database.factory)
        raw = json.loads(world_path().read_text(encoding="utf-8"))
        raw["orders"][0]["status"] = "発送済"
        raw["orders"][0]["tracking_no"] = "123456789012"
        changed = tmp_path / "world.json"
        changed.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
        with database.factory() as s:
            counts = load_world(session=s, world=read_world(changed))
            s.commit()
        assert counts.updated == {"orders": 1}
        with database.factory() as s:
            order = s.scalar(select(Order).where(Order.order_no == raw["orders"][0]["id"]))
            assert order is not None and order.tracking_no == "123456789012"


class TestBrokenWorldFiles:
    def test_reference_to_unknown_donor_writes_nothing(
        self, database: Database, tmp_path: Path
    ) -> None:
        raw = json.loads(world_path().read_text(encoding="utf-8"))
        raw["orders"][-1]["donor_id"] = "don-999"
        broken = tmp_path / "world.json"
        broken.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
        with database.factory() as s, pytest.raises(InvalidWorldFile, match="don-999"):
            load_world(session=s, world=read_world(broken))
        assert set(_counts(database).values()) == {0}

    def test_supplier_of_another_city_is_refused(self, database: Database, tmp_path: Path) -> None:
        raw = json.loads(world_path().read_text(encoding="utf-8"))
        order = raw["orders"][0]
        order["municipality"] = next(
            m["id"] for m in raw["municipalities"] if m["id"] != order["municipality"]
        )
        broken = tmp_path / "world.json"
        broken.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
        with database.factory() as s, pytest.raises(InvalidWorldFile, match="事業者"):
            load_world(session=s, world=read_world(broken))

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            ("{not json", "JSON"),
            ('{"donors": [{"id": "d1"}]}', "donors.0.name"),
            ('{"orders": "many"}', "orders"),
            ('{"orders": [{"id": "o", "amount_yen": -5}]}', "orders.0"),
        ],
    )
    def test_bad_file_gives_one_line_reason(
        self, tmp_path: Path, content: str, reason: str
    ) -> None:
        path = tmp_path / "bad.json"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(InvalidWorldFile) as info:
            read_world(path)
        assert reason in info.value.detail
        assert "\n" not in info.value.detail

    def test_missing_file_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidWorldFile, match="ファイルがありません"):
            read_world(tmp_path / "nope.json")
