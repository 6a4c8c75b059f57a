"""The walk knows no table by heart: a schema it has never seen (a merged branch's) is covered."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    select,
)

from support.lifecycle.erase import delete_selection
from support.lifecycle.export import export_selection
from support.lifecycle.graph import Rules, select_municipality

RULES = Rules(soft_refs=(), json_refs=(), unexported_tables=frozenset(), secret_columns=frozenset())


def _schema() -> MetaData:
    md = MetaData()
    Table("municipalities", md, Column("id", String(10), primary_key=True))
    Table("donors", md, Column("id", String(10), primary_key=True), Column("name", String(50)))
    Table(
        "users",
        md,
        Column("id", Integer, primary_key=True),
        Column("municipality_id", ForeignKey("municipalities.id"), nullable=True),
    )
    Table(
        "tickets",
        md,
        Column("id", Integer, primary_key=True),
        Column("municipality_id", ForeignKey("municipalities.id")),
        Column("donor_id", ForeignKey("donors.id"), nullable=True),
        Column("assignee_id", ForeignKey("users.id"), nullable=True),
    )
    # What another branch might add: call recordings on a ticket, and a note that names its
    # ticket without a foreign key.
    Table(
        "calls",
        md,
        Column("id", Integer, primary_key=True),
        Column("ticket_id", ForeignKey("tickets.id")),
        Column("recording", LargeBinary),
    )
    Table(
        "call_notes",
        md,
        Column("id", Integer, primary_key=True),
        Column("ticket_ref", Integer, info={"refers_to": "tickets"}),
    )
    return md


def test_a_new_table_is_exported_and_erased_with_its_municipality(tmp_path: Path) -> None:
    md = _schema()
    engine = create_engine("sqlite://")
    md.create_all(engine)
    t = md.tables
    with engine.begin() as conn:
        conn.execute(t["municipalities"].insert(), [{"id": "ise"}, {"id": "yoko"}])
        conn.execute(
            t["donors"].insert(),
            [
                {"id": "d1", "name": "伊勢だけ"},
                {"id": "d2", "name": "両方"},
                {"id": "d3", "name": "横浜"},
            ],
        )
        conn.execute(t["users"].insert(), [{"id": 1, "municipality_id": "ise"}])
        conn.execute(
            t["tickets"].insert(),
            [
                {"id": 1, "municipality_id": "ise", "donor_id": "d1", "assignee_id": None},
                {"id": 2, "municipality_id": "ise", "donor_id": "d2", "assignee_id": None},
                {"id": 3, "municipality_id": "yoko", "donor_id": "d2", "assignee_id": 1},
                {"id": 4, "municipality_id": "yoko", "donor_id": "d3", "assignee_id": None},
            ],
        )
        conn.execute(
            t["calls"].insert(),
            [
                {"id": 1, "ticket_id": 1, "recording": b"RIFF-ise"},
                {"id": 2, "ticket_id": 4, "recording": None},
            ],
        )
        conn.execute(
            t["call_notes"].insert(), [{"id": 1, "ticket_ref": 2}, {"id": 2, "ticket_ref": 4}]
        )

        selection = select_municipality(conn, md, "ise", RULES)
        assert selection.counts() == {
            "call_notes": 1,
            "calls": 1,
            "donors": 1,
            "municipalities": 1,
            "tickets": 2,
            "users": 1,
        }
        assert selection.context == {"donors": {("d2",)}}
        result = export_selection(conn, md, selection, tmp_path / "out", revision="x", rules=RULES)
        assert (
            tmp_path / "out" / "files" / "calls" / "1.recording.bin"
        ).read_bytes() == b"RIFF-ise"
        assert result.counts["calls"] == 1

        deleted, nullified = delete_selection(conn, md, selection, RULES)
        assert nullified == {"tickets.assignee_id": 1}  # yokohama's ticket stays, unassigned
        assert deleted["tickets"] == 2
        assert conn.execute(select(func.count()).select_from(t["tickets"])).scalar() == 2
        assert conn.execute(
            select(t["donors"].c.id).order_by(t["donors"].c.id)
        ).scalars().all() == [
            "d2",
            "d3",
        ]
        assert conn.execute(select(t["call_notes"].c.id)).scalars().all() == [2]
