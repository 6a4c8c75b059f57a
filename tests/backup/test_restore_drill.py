"""The restore drill: the demo world plus 10,000 tickets and mails, backed up, destroyed, restored.

bench/restore.py runs the same drill and prints the timings scaled to production; here it
must simply come back identical, table by table, on both backends.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bench.restore import fill
from support.backup import create_backup, restore_backup
from support.backup_manifest import row_counts
from support.db import make_engine
from support.metadata import target_metadata
from tests.services.postgres import PostgresServer

TICKETS = 10_000


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_drill_restores_every_table_identically(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        source, target = f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'new.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        source, target = server.create_database(), server.create_database()
    fill(source, TICKETS)
    archive = tmp_path / "drill.backup"
    # The manifest's digests are read from the source itself (the snapshot that was dumped).
    before = create_backup(url=source, metadata=target_metadata, out=archive).tables
    for table in ("tickets", "mail_messages", "mail_raw"):
        assert before[table].rows == TICKETS
    assert before["municipalities"].rows > 0 and before["donors"].rows > 0
    # Destroy the source.
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"source.db{suffix}").unlink(missing_ok=True)
    else:
        _drop(server, source)
    # The restore compares every table's count and checksum with the manifest (and undoes
    # itself on a difference); count the restored rows once more on our own.
    restored = restore_backup(url=target, metadata=target_metadata, archive=archive)
    assert restored.tables == before
    engine = make_engine(target)
    try:
        with engine.connect() as conn:
            counts = row_counts(conn, target_metadata)
    finally:
        engine.dispose()
    assert counts == {name: digest.rows for name, digest in before.items()}
    if backend == "postgresql":
        # Dropped, its dirty pages need no checkpoint when the shared server stops.
        _drop(server, target)


def _drop(server: PostgresServer, url: str) -> None:
    engine = make_engine(server.url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        name = url.rsplit("/", 1)[1]
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    engine.dispose()
