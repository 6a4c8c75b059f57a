"""Contract end: ise is exported, erased without residue, and re-imported; yokohama untouched."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from support.adapters.fakes import InMemorySearchIndex
from support.adapters.ports import SearchDocument
from support.adapters.search_sqlite import SqliteSearchIndex
from support.auth import audit
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.cli import main
from support.db import make_engine
from support.errors import NotFound
from support.jobs import enqueue
from support.lifecycle.contract import erase_municipality, export_municipality, import_municipality
from support.lifecycle.graph import DEFAULT_RULES, edges, pk_columns, select_municipality
from support.mail.ingest import MailboxConfig, ingest
from support.mail.models import MailMessage
from support.metadata import target_metadata
from support.migrations import upgrade
from support.tickets.models import Ticket, TicketNote
from tests.conftest import Database
from tests.factories import load_demo_world, make_user, world_path

MUNICIPALITIES = ("ise", "yokohama", "chiyoda", "shizuoka")
CONFIG = MailboxConfig(
    our_addresses=frozenset(f"support-{m}@furusato-desk.example.jp" for m in MUNICIPALITIES),
    municipality_by_address={f"support-{m}@furusato-desk.example.jp": m for m in MUNICIPALITIES},
)


def _world() -> dict[str, Any]:
    world: dict[str, Any] = json.loads(world_path().read_text(encoding="utf-8"))
    return world


def _donors_of(municipality: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (donors only this municipality has, donors it shares with another)."""
    world = _world()
    places: dict[str, set[str]] = {}
    for order in world["orders"]:
        places.setdefault(order["donor_id"], set()).add(order["municipality"])
    donors = {d["id"]: d for d in world["donors"]}
    mine = [d for d, where in places.items() if municipality in where]
    only = [donors[d] for d in sorted(mine) if places[d] == {municipality}]
    shared = [donors[d] for d in sorted(mine) if places[d] != {municipality}]
    return only, shared


def _needles(donors: list[dict[str, Any]]) -> list[str]:
    values = []
    for donor in donors:
        values += [donor["name"], donor["email"].lower(), donor["phone"], donor["address"]]
    return values


def _forms(value: str) -> list[bytes]:
    """Return the byte forms a value takes on disk: UTF-8, and JSON's \\u escapes."""
    escaped = json.dumps(value)[1:-1].encode("ascii")
    return list({value.encode("utf-8"), escaped, escaped.lower()})


def _mail(donor: dict[str, Any], municipality: str, *, attachment: bool = True) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{donor['name']} <{donor['email']}>"
    msg["To"] = f"support-{municipality}@furusato-desk.example.jp"
    msg["Subject"] = f"返礼品が届きません({donor['name']})"
    msg["Message-ID"] = make_msgid(domain="example.ne.jp")
    msg.set_content(f"{donor['name']}です。電話は {donor['phone']}、住所は {donor['address']}。")
    if attachment:
        msg.add_attachment(
            f"{donor['name']} {donor['phone']}".encode(),
            maintype="text",
            subtype="plain",
            filename="伝票.txt",
        )
    return msg.as_bytes()


def _populate(db: Database, index: SqliteSearchIndex) -> dict[str, Any]:
    """Fill the database with mail, notes, audit, jobs and users of ise and yokohama."""
    load_demo_world(db.factory)
    ise_only, ise_shared = _donors_of("ise")
    yoko_only, _ = _donors_of("yokohama")
    ise_user, _ = make_user(db.factory, RoleName.MUNICIPALITY, municipality_id="ise")
    operator, _ = make_user(db.factory, RoleName.OPERATOR)
    with db.factory() as s:
        for donor in [*ise_only[:4], ise_shared[0]]:
            ingest(session=s, raw=_mail(donor, "ise"), config=CONFIG)
        for donor in yoko_only[:3]:
            ingest(session=s, raw=_mail(donor, "yokohama"), config=CONFIG)
        s.flush()
        ise_ticket = s.scalars(select(Ticket).where(Ticket.municipality_id == "ise")).first()
        yoko_ticket = s.scalars(select(Ticket).where(Ticket.municipality_id == "yokohama")).first()
        assert ise_ticket is not None and yoko_ticket is not None
        ise_ticket.assignee_id = operator.id
        # An ise user once touched a yokohama ticket: the link is cut, the ticket stays.
        yoko_ticket.created_by = ise_user.id
        s.add(TicketNote(ticket_id=ise_ticket.id, author_id=operator.id, body=ise_only[0]["name"]))
        s.add(TicketNote(ticket_id=yoko_ticket.id, author_id=ise_user.id, body="確認済み"))
        staff = Actor(user_id=operator.id, username=operator.username, role=RoleName.OPERATOR)
        audit.record(s, staff, action="read", resource_type="donor", donor_id=ise_only[1]["id"])
        city = Actor(ise_user.id, ise_user.username, RoleName.MUNICIPALITY, municipality_id="ise")
        audit.record(
            s,
            city,
            action="read",
            resource_type="ticket",
            municipality_id="ise",
            resource_id=str(ise_ticket.id),
        )
        message = s.scalars(select(MailMessage).where(MailMessage.ticket_id == ise_ticket.id)).one()
        enqueue(s, "mail.send_ack", {"message_id": message.id})
        enqueue(s, "tickets.serious_notice", {"ticket_id": yoko_ticket.id})
        ise_ids = {
            "tickets": set(s.scalars(select(Ticket.id).where(Ticket.municipality_id == "ise"))),
            "mail_messages": set(
                s.scalars(
                    select(MailMessage.id).join(Ticket).where(Ticket.municipality_id == "ise")
                )
            ),
        }
        s.commit()
    first = ise_only[0]
    index.upsert(
        [
            SearchDocument(
                id="ise-case",
                title=f"{first['name']} 様",
                body=f"{first['email']} {first['phone']}",
                municipality="ise",
            ),
            SearchDocument(
                id="yoko-faq",
                title="横浜市の返礼品の配送",
                body="配送日の指定について",
                municipality="yokohama",
            ),
        ]
    )
    return {"ise_only": ise_only, "ise_shared": ise_shared, "ise_ids": ise_ids}


def _all_values(conn: Connection) -> list[tuple[str, bytes]]:
    """Return every value of every table as bytes, with the table it came from."""
    found: list[tuple[str, bytes]] = []
    for table in target_metadata.sorted_tables:
        for row in conn.execute(select(table)):
            for value in row:
                if value is None:
                    continue
                if isinstance(value, bytes):
                    found.append((table.name, value))
                elif isinstance(value, dict | list):
                    found.append((table.name, json.dumps(value, ensure_ascii=False).encode()))
                else:
                    found.append((table.name, str(value).encode("utf-8")))
    return found


def _counts(conn: Connection, municipality: str) -> tuple[dict[str, int], dict[str, int]]:
    selection = select_municipality(conn, target_metadata, municipality)
    return selection.counts(), {t: len(k) for t, k in selection.context.items()}


def _reach(conn: Connection, municipality: str) -> dict[str, int]:
    """Return the rows a municipality owns or refers to (a shared donor may change sides)."""
    selection = select_municipality(conn, target_metadata, municipality)
    tables = set(selection.owned) | set(selection.context)
    return {t: len(selection.owned.get(t, set()) | selection.context.get(t, set())) for t in tables}


def _postgres_relation_files(database: Database, request: pytest.FixtureRequest) -> list[Path]:
    """Return the files of every table, TOAST table and index, flushed by a checkpoint first."""
    data_dir: Path = request.getfixturevalue("pg_server").data_dir
    with database.engine.connect() as conn:
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        auto.exec_driver_sql("CHECKPOINT")
        names = [t.name for t in target_metadata.sorted_tables]
        rows = auto.execute(
            text(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c"
                " WHERE c.oid IN (SELECT oid FROM pg_class WHERE relname = ANY(:names)"
                " UNION SELECT reltoastrelid FROM pg_class WHERE relname = ANY(:names)"
                " UNION SELECT indexrelid FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
                " WHERE t.relname = ANY(:names))"
            ),
            {"names": names},
        ).scalars()
        paths = [data_dir / p for p in rows if p]
    assert len(paths) > len(names)
    return paths


def _empty_database(database: Database, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if database.backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        url = request.getfixturevalue("pg_server").create_database()
    upgrade(url)
    return url


class TestContractEnd:
    def test_erases_ise_everywhere_and_the_export_reimports_identically(
        self, database: Database, tmp_path: Path, request: pytest.FixtureRequest
    ) -> None:
        index_path = tmp_path / "search.db"
        index = SqliteSearchIndex(index_path)
        world = _populate(database, index)
        with database.engine.connect() as conn:
            yokohama_before = _reach(conn, "yokohama")
            ise_before = _counts(conn, "ise")
        exported = export_municipality(database.engine, "ise", tmp_path / "export")
        unexported = DEFAULT_RULES.unexported_tables
        assert exported.counts == {t: n for t, n in ise_before[0].items() if t not in unexported}
        assert ise_before[0]["jobs"] == 1
        assert exported.counts["tickets"] == 5 and exported.counts["mail_raw"] == 5
        assert exported.context_counts["donors"] == len(world["ise_shared"])
        manifest = json.loads((tmp_path / "export" / "manifest.json").read_text("utf-8"))
        assert any(p.startswith("attachments/") for p in manifest["files"])
        assert any(p.endswith(".eml") for p in manifest["files"])
        assert "password_hash" not in (tmp_path / "export" / "tables" / "users.jsonl").read_text()

        erasure = erase_municipality(
            database.engine, "ise", search=index, export_dir=tmp_path / "export"
        )
        index.close()
        assert erasure.result.counts == ise_before[0]
        assert erasure.result.index_documents == 1
        assert erasure.result.nullified == {"tickets.created_by": 1, "ticket_notes.author_id": 1}
        assert erasure.certificate.startswith(b"%PDF")
        if shutil.which("pdftotext"):
            text = subprocess.run(
                ["pdftotext", "-layout", "-", "-"],
                input=erasure.certificate,
                capture_output=True,
                check=True,
                timeout=60,
            ).stdout.decode("utf-8")
            assert "消去証明書" in text and "伊勢市" in text
            assert re.search(rf"注文\s+orders\s+{ise_before[0]['orders']}\b", text)
            for needle in _needles(world["ise_only"] + world["ise_shared"]):
                assert needle not in text  # counts, never contents

        with database.engine.connect() as conn:
            with pytest.raises(NotFound):
                select_municipality(conn, target_metadata, "ise")
            after = _reach(conn, "yokohama")
            # The only change: yokohama's rows no longer point at the erased ise user (and,
            # through it, at ise itself), the two links the erase cut.
            assert yokohama_before.pop("users") == 1 and after.pop("users") == 0
            assert yokohama_before.pop("municipalities") == 2 and after.pop("municipalities") == 1
            assert after == yokohama_before
            values = _all_values(conn)
            # No row anywhere refers to an ise ticket or mail by key.
            for edge in edges(target_metadata):
                if edge.parent in world["ise_ids"] and edge.hard:
                    column = target_metadata.tables[edge.child].c[edge.child_cols[0]]
                    hits = conn.execute(
                        select(column).where(column.in_(world["ise_ids"][edge.parent]))
                    ).all()
                    assert not hits, f"{edge.child}.{column.name} still refers to ise"
            for name, keys in world["ise_ids"].items():
                pk = pk_columns(target_metadata.tables[name])[0]
                assert not conn.execute(select(pk).where(pk.in_(keys))).all()
        for needle in _needles(world["ise_only"]):
            for table, value in values:
                assert not any(f in value for f in _forms(needle)), f"ise data left in {table}"
        files = [index_path, Path(f"{index_path}-wal")]
        if database.backend == "sqlite":
            db_file = Path(database.url.removeprefix("sqlite:///"))
            files += [db_file, Path(f"{db_file}-wal")]
            # Closing any descriptor of the file drops this process's POSIX locks on it, the
            # ones SQLite's open connections rely on: none may be open while we read it.
            database.engine.dispose()
        if database.backend == "postgresql":
            files += _postgres_relation_files(database, request)
        for path in files:
            data = path.read_bytes() if path.exists() else b""
            for needle in _needles(world["ise_only"]):
                assert not any(f in data for f in _forms(needle)), f"ise data left in {path.name}"
        reopened = SqliteSearchIndex(index_path)
        assert [h.id for h in reopened.search("配送", municipality="yokohama")] == ["yoko-faq"]
        reopened.close()

        # The export, loaded into an empty database, gives back the same rows, byte for byte.
        url = _empty_database(database, request, tmp_path)
        engine = make_engine(url)
        try:
            inserted = import_municipality(engine, tmp_path / "export")
            expected = {
                t: exported.counts.get(t, 0) + exported.context_counts.get(t, 0)
                for t in set(exported.counts) | set(exported.context_counts)
            }
            assert inserted == expected
            again = export_municipality(engine, "ise", tmp_path / "again")
        finally:
            engine.dispose()
        # Donors ise shared with others are ise's alone in the new database: same rows, sides
        # aside, so the counts add up and each table's content digest is the same.
        for table in set(exported.counts) | set(again.counts):
            total = exported.counts.get(table, 0) + exported.context_counts.get(table, 0)
            assert again.counts.get(table, 0) + again.context_counts.get(table, 0) == total
        assert again.checksums == exported.checksums
        assert again.counts["orders"] == exported.counts["orders"] == 34


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command in this process (the subprocess path is covered by tests/test_cli.py)."""
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class TestCommands:
    def test_erase_refuses_without_confirm_and_the_commands_round_trip(
        self,
        database: Database,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        if database.backend != "sqlite":
            pytest.skip("the command path is the same on both backends; once is enough")
        # The command would re-point logging at this test's captured stderr, closed after it.
        monkeypatch.setattr("support.cli.configure_logging", lambda *_a, **_k: None)
        # Its own database file, so the shared one keeps its connections to itself.
        monkeypatch.setenv("SUPPORT_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
        monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path / "data"))
        assert _cli(["demo", "load", str(world_path())], capsys)[0] == 0
        code, _, err = _cli(["municipality", "erase", "ise"], capsys)
        assert code == 2 and err.startswith("error: ") and "--confirm" in err
        code, _, err = _cli(
            ["municipality", "export", "nowhere", "--out", str(tmp_path / "x")], capsys
        )
        assert code == 2 and "nowhere" in err
        out = tmp_path / "ise"
        code, stdout, err = _cli(["municipality", "export", "ise", "--out", str(out)], capsys)
        assert code == 0, err
        assert json.loads(stdout)["rows"]["orders"] == 34
        assert _cli(["municipality", "export", "ise", "--out", str(out)], capsys)[0] == 2
        cert = tmp_path / "cert.pdf"
        code, stdout, err = _cli(
            [
                "municipality",
                "erase",
                "ise",
                "--confirm",
                "--export",
                str(out),
                "--certificate",
                str(cert),
            ],
            capsys,
        )
        assert code == 0, err
        assert json.loads(stdout)["erased"]["orders"] == 34
        assert cert.read_bytes().startswith(b"%PDF")
        code, stdout, err = _cli(["municipality", "import", str(out)], capsys)
        assert code == 0, err
        assert json.loads(stdout)["inserted"]["orders"] == 34
        # A tampered export is refused before anything is written.
        (out / "tables" / "orders.jsonl").write_text("{}\n", encoding="utf-8")
        code, _, err = _cli(["municipality", "import", str(out)], capsys)
        assert code == 2 and "チェックサム" in err


class _BrokenIndex(InMemorySearchIndex):
    def delete_municipality(self, municipality: str) -> int:
        raise ConnectionError("search index unreachable")


class TestEraseFailure:
    def test_an_unreachable_index_erases_nothing_so_a_rerun_starts_over(
        self, database: Database
    ) -> None:
        load_demo_world(database.factory)
        with pytest.raises(ConnectionError):
            erase_municipality(database.engine, "ise", search=_BrokenIndex())
        with database.engine.connect() as conn:
            assert _counts(conn, "ise")[0]["orders"] == 34
        erasure = erase_municipality(database.engine, "ise", search=InMemorySearchIndex())
        assert erasure.result.counts["orders"] == 34
