"""Row counts and content checksums of every table, computed the same way on every backend.

A table's checksum is the sum, modulo 2**256, of the SHA-256 of each row's canonical encoding.
The sum does not depend on row order, so neither a backend's collation nor a missing ORDER BY
changes it, and the rows stream through without being sorted. Values are read through the
models' column types (aware UTC timestamps, booleans, JSON), so the same rows give the same
checksum on SQLite and on PostgreSQL. Tables the models do not know (added by a migration the
code has no model for yet) are reflected and hashed too, through their reflected types.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, MetaData, Table, func, inspect, select, text

ALEMBIC_TABLE = "alembic_version"
_MODULUS = 1 << 256
_STREAM_ROWS = 2000


@dataclass(frozen=True)
class TableDigest:
    """One table's row count and order-independent content checksum."""

    rows: int
    sha256: str


def _canonical(value: Any) -> Any:
    """Return a JSON-encodable form of one value that does not depend on the backend."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return {"f": value.hex()}
    if isinstance(value, Decimal):
        return {"d": format(value.normalize(), "f")}
    if isinstance(value, datetime):
        # Aware values compare by instant; naive ones are kept as written.
        if value.tzinfo is not None:
            return {"t": value.astimezone(UTC).isoformat(timespec="microseconds")}
        return {"n": value.isoformat(timespec="microseconds")}
    if isinstance(value, date):
        return {"D": value.isoformat()}
    if isinstance(value, time):
        return {"T": value.isoformat()}
    if isinstance(value, timedelta):
        return {"i": value.total_seconds()}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    if isinstance(value, dict):
        return {"j": json.dumps(value, sort_keys=True, ensure_ascii=False, default=_json_default)}
    if isinstance(value, list | tuple):
        return {"j": json.dumps(value, sort_keys=True, ensure_ascii=False, default=_json_default)}
    raise TypeError(f"no canonical form for {type(value).__name__}")


def _json_default(value: Any) -> Any:
    return _canonical(value)


def row_digest(names: list[str], row: tuple[Any, ...]) -> int:
    """Return the SHA-256 of one row's canonical encoding, as an integer."""
    encoded = json.dumps(
        [[name, _canonical(value)] for name, value in zip(names, row, strict=True)],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    return int.from_bytes(hashlib.sha256(encoded).digest(), "big")


def table_digest(conn: Connection, table: Table) -> TableDigest:
    """Count and checksum one table's rows (columns in name order, rows in any order)."""
    columns = sorted(table.columns, key=lambda c: c.name)
    names = [c.name for c in columns]
    total = 0
    count = 0
    result = conn.execute(select(*columns).execution_options(yield_per=_STREAM_ROWS))
    for row in result:
        total = (total + row_digest(names, tuple(row))) % _MODULUS
        count += 1
    result.close()
    return TableDigest(rows=count, sha256=f"{total:064x}")


def database_tables(conn: Connection, metadata: MetaData) -> dict[str, Table]:
    """Return every table in the database: the models' tables, then any reflected extra one."""
    present = set(inspect(conn).get_table_names())
    tables = {t.name: t for t in metadata.sorted_tables if t.name in present}
    extra = sorted(present - set(tables))
    if extra:
        reflected = MetaData()
        reflected.reflect(bind=conn, only=extra)
        tables.update({name: reflected.tables[name] for name in extra})
    return tables


def alembic_revision(conn: Connection) -> str | None:
    """Return the migration revision recorded in the database, or None."""
    if ALEMBIC_TABLE not in inspect(conn).get_table_names():
        return None
    revisions = sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    return ",".join(revisions) or None


def database_digests(conn: Connection, metadata: MetaData) -> dict[str, TableDigest]:
    """Return the digest of every table, keyed by table name."""
    return {
        name: table_digest(conn, table)
        for name, table in sorted(database_tables(conn, metadata).items())
    }


def row_counts(conn: Connection, metadata: MetaData) -> dict[str, int]:
    """Return every table's row count (cheap: for the emptiness check and reports)."""
    return {
        name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in sorted(database_tables(conn, metadata).items())
    }


def compare(expected: dict[str, TableDigest], actual: dict[str, TableDigest]) -> list[str]:
    """Return one line per table whose count or checksum differs (empty when all match)."""
    problems: list[str] = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name), actual.get(name)
        if want is None:
            problems.append(f"{name}: 復元先にだけあるテーブルです")
        elif got is None:
            problems.append(f"{name}: 復元先にありません")
        elif want.rows != got.rows:
            problems.append(f"{name}: 行数 {got.rows} (期待 {want.rows})")
        elif want.sha256 != got.sha256:
            problems.append(f"{name}: 内容のチェックサムが一致しません")
    return problems
