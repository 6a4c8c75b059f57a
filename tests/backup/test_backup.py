"""Backups: a round trip keeps every table, and a restore refuses what it cannot trust."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from support import backup_pg
from support.backup import (
    BackupError,
    Manifest,
    create_backup,
    restore_backup,
    verify_archive,
)
from support.backup_manifest import database_digests
from support.db import make_engine
from support.mail.models import MailMessage, MailRaw
from support.metadata import target_metadata
from support.tickets.models import Municipality, Ticket, TicketEvent
from tests.cli_util import run_support, support_env
from tests.conftest import Database
from tests.factories import load_demo_world
from tests.services.postgres import PostgresServer


def _digests(url: str) -> dict[str, object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return dict(database_digests(conn, target_metadata))
    finally:
        engine.dispose()


def _fill(database: Database) -> None:
    load_demo_world(database.factory)
    at = datetime(2026, 5, 1, 9, 30, 15, 123456, tzinfo=UTC)
    with database.factory() as s:
        ticket = Ticket(
            subject="返礼品が届きません",
            channel="mail",
            municipality_id="ise",
            created_at=at,
            updated_at=at,
            last_activity_at=at,
        )
        s.add(ticket)
        s.flush()
        message = MailMessage(
            ticket_id=ticket.id,
            direction="inbound",
            dedupe_key="k" * 64,
            subject="返礼品が届きません",
            received_at=at,
            raw_size=5,
            references=["<a@b>"],
            source={"uid": 1, "folder": "INBOX"},
        )
        s.add(message)
        s.flush()
        s.add(MailRaw(message_id=message.id, data=b"\x00\xffraw"))
        s.commit()


def _one_line_error(result: object) -> str:
    assert getattr(result, "returncode", None) == 2, getattr(result, "stderr", "")
    lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("{")]  # type: ignore[attr-defined]
    assert len(lines) == 1, result.stderr  # type: ignore[attr-defined]
    assert lines[0].startswith("error: ")
    return lines[0]


def _rewrite(
    archive: Path,
    out: Path,
    *,
    manifest: dict[str, object] | None = None,
    data: bytes | None = None,
) -> None:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        raw_manifest = tar.extractfile(members[0]).read()  # type: ignore[union-attr]
        raw_data = tar.extractfile(members[1]).read()  # type: ignore[union-attr]
    doc = manifest if manifest is not None else json.loads(raw_manifest)
    body = json.dumps(doc).encode()
    with tarfile.open(out, "w") as tar:
        for name, content in ((members[0].name, body), (members[1].name, data or raw_data)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


class TestRoundTrip:
    def test_restores_every_table_with_the_same_rows(
        self, database: Database, empty_url: str, tmp_path: Path
    ) -> None:
        _fill(database)
        archive = tmp_path / "support.backup"
        made = create_backup(url=database.url, metadata=target_metadata, out=archive)
        restored = restore_backup(url=empty_url, metadata=target_metadata, archive=archive)
        assert restored == made
        assert _digests(empty_url) == _digests(database.url)
        assert made.tables["mail_raw"].rows == 1
        assert made.tables["donors"].rows > 0
        assert made.backend == database.backend
        assert made.alembic_revision

    def test_the_archive_is_readable_by_its_owner_only(
        self, database: Database, tmp_path: Path
    ) -> None:
        archive = tmp_path / "support.backup"
        create_backup(url=database.url, metadata=target_metadata, out=archive)
        assert stat.S_IMODE(os.stat(archive).st_mode) == 0o600
        assert verify_archive(archive).backend == database.backend

    def test_restored_database_takes_new_rows(
        self, database: Database, empty_url: str, tmp_path: Path
    ) -> None:
        _fill(database)
        archive = tmp_path / "support.backup"
        create_backup(url=database.url, metadata=target_metadata, out=archive)
        restore_backup(url=empty_url, metadata=target_metadata, archive=archive)
        engine = make_engine(empty_url)
        try:
            with engine.begin() as conn:
                # Sequences came along: a new ticket gets a fresh id, not a duplicate.
                conn.execute(insert(Ticket).values(subject="新規", municipality_id="ise"))
                ids = conn.execute(select(Ticket.id)).scalars().all()
        finally:
            engine.dispose()
        assert len(set(ids)) == len(ids) == 2

    def test_postgresql_restores_with_parallel_jobs(
        self, postgresql_db: Database, pg_server: PostgresServer, tmp_path: Path
    ) -> None:
        try:
            _fill(postgresql_db)
            archive = tmp_path / "support.backup"
            create_backup(url=postgresql_db.url, metadata=target_metadata, out=archive)
            target = pg_server.create_database()
            restore_backup(url=target, metadata=target_metadata, archive=archive, jobs=2)
            assert _digests(target) == _digests(postgresql_db.url)
        finally:
            postgresql_db.truncate()


class TestRefusals:
    def test_refuses_a_database_that_is_not_empty(self, database: Database, tmp_path: Path) -> None:
        archive = tmp_path / "support.backup"
        create_backup(url=database.url, metadata=target_metadata, out=archive)
        with pytest.raises(BackupError, match="空ではありません"):
            restore_backup(url=database.url, metadata=target_metadata, archive=archive)

    @pytest.mark.parametrize("keep", [0.5, 0.99])
    def test_refuses_a_truncated_archive(
        self, database: Database, empty_url: str, tmp_path: Path, keep: float
    ) -> None:
        _fill(database)
        archive = tmp_path / "support.backup"
        create_backup(url=database.url, metadata=target_metadata, out=archive)
        cut = tmp_path / "cut.backup"
        raw = archive.read_bytes()
        cut.write_bytes(raw[: int(len(raw) * keep)])
        with pytest.raises(BackupError, match="切れて"):
            restore_backup(url=empty_url, metadata=target_metadata, archive=cut)
        assert _digests(empty_url) == {}

    def test_refuses_data_that_does_not_match_the_manifest(
        self, database: Database, empty_url: str, tmp_path: Path
    ) -> None:
        archive = tmp_path / "support.backup"
        create_backup(url=database.url, metadata=target_metadata, out=archive)
        with tarfile.open(archive) as tar:
            data = bytearray(tar.extractfile(tar.getmembers()[1]).read())  # type: ignore[union-attr]
        data[len(data) // 2] ^= 0xFF
        bad = tmp_path / "bad.backup"
        _rewrite(archive, bad, data=bytes(data))
        with pytest.raises(BackupError, match="チェックサム"):
            restore_backup(url=empty_url, metadata=target_metadata, archive=bad)

    def test_undoes_a_restore_whose_tables_do_not_match(
        self, database: Database, empty_url: str, tmp_path: Path
    ) -> None:
        _fill(database)
        archive = tmp_path / "support.backup"
        manifest = create_backup(url=database.url, metadata=target_metadata, out=archive)
        doc = json.loads(manifest.to_json())
        doc["tables"]["tickets"]["rows"] += 1
        lying = tmp_path / "lying.backup"
        _rewrite(archive, lying, manifest=doc)
        with pytest.raises(BackupError, match="tickets"):
            restore_backup(url=empty_url, metadata=target_metadata, archive=lying)
        # The configured database is as empty as before: a second try is possible.
        assert _digests(empty_url) == {}
        restore_backup(url=empty_url, metadata=target_metadata, archive=archive)

    def test_refuses_a_backup_of_another_backend(
        self, database: Database, empty_url: str, tmp_path: Path
    ) -> None:
        archive = tmp_path / "support.backup"
        manifest = create_backup(url=database.url, metadata=target_metadata, out=archive)
        doc = json.loads(manifest.to_json())
        doc["backend"] = "postgresql" if database.backend == "sqlite" else "sqlite"
        other = tmp_path / "other.backup"
        _rewrite(archive, other, manifest=doc)
        with pytest.raises(BackupError, match="復元できません"):
            restore_backup(url=empty_url, metadata=target_metadata, archive=other)

    def test_refuses_a_revision_this_code_does_not_know(
        self, database: Database, empty_url: str, tmp_path: Path
    ) -> None:
        archive = tmp_path / "support.backup"
        doc = json.loads(
            create_backup(url=database.url, metadata=target_metadata, out=archive).to_json()
        )
        doc["alembic_revision"] = "9999"
        newer = tmp_path / "newer.backup"
        _rewrite(archive, newer, manifest=doc)
        with pytest.raises(BackupError, match="9999"):
            restore_backup(url=empty_url, metadata=target_metadata, archive=newer)

    def test_an_unreachable_database_is_a_one_line_reason_without_the_password(
        self, pg_server: PostgresServer, tmp_path: Path
    ) -> None:
        url = pg_server.url_for("no_such_database")
        with pytest.raises(BackupError, match="データベースを使えません") as caught:
            create_backup(url=url, metadata=target_metadata, out=tmp_path / "x.backup")
        assert pg_server.password not in str(caught.value)
        assert "\n" not in str(caught.value)


class TestManifest:
    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"{",
            b"[]",
            b'{"format": "other"}',
            b'{"format": "support-backup", "format_version": 9}',
            b'{"format": "support-backup", "format_version": 1, "backend": "sqlite"}',
        ],
    )
    def test_refuses_a_broken_manifest(self, raw: bytes) -> None:
        with pytest.raises(BackupError):
            Manifest.from_json(raw)

    def test_checksums_do_not_depend_on_the_backend(
        self, sqlite_db: Database, postgresql_db: Database
    ) -> None:
        at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
        stamps = {"created_at": at, "updated_at": at}
        rows = [
            (
                Municipality,
                {
                    "id": "drill",
                    "name": "検証市",
                    "prefecture": "三重県",
                    "contact_email": "city@example.jp",
                    **stamps,
                },
            ),
            (
                Ticket,
                {
                    "id": 7,
                    "subject": "件名",
                    "municipality_id": "drill",
                    "last_activity_at": at,
                    **stamps,
                },
            ),
            (
                TicketEvent,
                {
                    "id": 3,
                    "ticket_id": 7,
                    "kind": "status",
                    "occurred_at": at,
                    "detail": {"to": "closed", "n": [1, 2.5, None], "ok": True},
                },
            ),
            (
                MailMessage,
                {
                    "id": 5,
                    "ticket_id": 7,
                    "direction": "inbound",
                    "dedupe_key": "d" * 64,
                    "received_at": at,
                    "raw_size": 3,
                    "is_auto": True,
                    "references": ["<x@y>"],
                    "source": {"b": 1, "a": "é"},
                },
            ),
            (MailRaw, {"message_id": 5, "data": b"\x00\x01\xff"}),
        ]
        try:
            for db in (sqlite_db, postgresql_db):
                with db.engine.begin() as conn:
                    for model, values in rows:
                        conn.execute(insert(model), [values])
            left, right = _digests(sqlite_db.url), _digests(postgresql_db.url)
            for name in ("municipalities", "tickets", "ticket_events", "mail_messages", "mail_raw"):
                assert left[name] == right[name], name
                assert left[name].rows == 1  # type: ignore[attr-defined]
        finally:
            sqlite_db.truncate()
            postgresql_db.truncate()


class TestPassword:
    def test_the_password_reaches_pg_tools_only_through_a_private_passfile(self) -> None:
        url = "postgresql+psycopg://support:s3cr%3At@db.internal:5433/support?sslmode=verify-full"
        with backup_pg.libpq_env(url) as env:
            passfile = Path(env["PGPASSFILE"])
            assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
            assert passfile.read_text() == "*:*:*:*:s3cr\\:t\n"
            assert not any("s3cr" in v for k, v in env.items() if k != "PGPASSFILE")
            assert env["PGHOST"] == "db.internal" and env["PGPORT"] == "5433"
            assert env["PGSSLMODE"] == "verify-full"
        assert not passfile.exists()


class TestCommand:
    def test_create_then_restore_through_the_command(
        self, database: Database, empty_url: str, tmp_path: Path
    ) -> None:
        _fill(database)
        archive = tmp_path / "cli.backup"
        created = run_support(
            ["backup", "create", "--out", str(archive)], support_env(database.url, tmp_path)
        )
        assert created.returncode == 0, created.stderr
        target = support_env(empty_url, tmp_path / "target")
        restored = run_support(["backup", "restore", str(archive)], target)
        assert restored.returncode == 0, restored.stderr
        assert "every table matches" in restored.stdout
        assert _digests(empty_url) == _digests(database.url)
        password = (
            database.url.split(":")[2].split("@")[0] if database.backend == "postgresql" else None
        )
        if password:
            assert password not in created.stderr + created.stdout + restored.stderr

    def test_a_file_that_is_no_backup_is_a_one_line_error(self, tmp_path: Path) -> None:
        junk = tmp_path / "junk.backup"
        junk.write_text("not a backup")
        env = support_env(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
        line = _one_line_error(run_support(["backup", "restore", str(junk)], env))
        assert "バックアップ" in line
        missing = _one_line_error(run_support(["backup", "restore", str(tmp_path / "none")], env))
        assert "ありません" in missing


class TestSnapshot:
    def test_postgresql_dump_and_manifest_see_the_same_moment(
        self, postgresql_db: Database, pg_server: PostgresServer, tmp_path: Path
    ) -> None:
        # A pg_dump that first commits a new ticket through psql, i.e. a write that lands
        # after the checksums' snapshot was exported but before pg_dump starts reading.
        real = backup_pg.find_pg_bindir()
        tools = tmp_path / "bin"
        tools.mkdir()
        (tools / "pg_restore").symlink_to(real / "pg_restore")
        insert = (
            "INSERT INTO tickets (subject, category, priority, status, channel, created_at,"
            " updated_at, last_activity_at, thread_version) VALUES ('後から', 'その他', 'normal',"
            " 'open', 'operator', now(), now(), now(), 0)"
        )
        wrapper = tools / "pg_dump"
        wrapper.write_text(
            "#!/bin/sh\n"
            f'"{real / "psql"}" -q -v ON_ERROR_STOP=1 -c "{insert}" || exit 9\n'
            f'exec "{real / "pg_dump"}" "$@"\n'
        )
        wrapper.chmod(0o755)
        try:
            _fill(postgresql_db)
            archive = tmp_path / "support.backup"
            manifest = create_backup(
                url=postgresql_db.url, metadata=target_metadata, out=archive, pg_bindir=tools
            )
            assert manifest.tables["tickets"].rows == 1
            assert _digests(postgresql_db.url)["tickets"].rows == 2  # type: ignore[attr-defined]
            target = pg_server.create_database()
            restored = restore_backup(url=target, metadata=target_metadata, archive=archive)
            assert restored.tables["tickets"].rows == 1
        finally:
            postgresql_db.truncate()
