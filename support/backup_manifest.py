"""Row counts and content checksums of every table, computed the same way on every backend.

A table's checksum is the SHA-256 of its column names and of the sum, modulo 2**256, of the
SHA-256 of each row's canonical encoding. The sum does not depend on row order, so neither a
backend's collation nor a missing ORDER BY changes it, and rows stream through unsorted.
Values are read through the models' column types (aware UTC timestamps, booleans, JSON), so
the same rows give the same checksum on SQLite and on PostgreSQL. Tables the models do not
know (added by a migration that has no model yet) are reflected and hashed too.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
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


def _json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default
    ).encode("utf-8")


def _json_default(value: Any) -> Any:
    return _encode(value).decode("utf-8", "backslashreplace")


def _datetime(value: datetime) -> bytes:
    # Aware values compare by instant (in UTC); naive ones are kept as written.
    if value.tzinfo is not None:
        return b"t" + value.astimezone(UTC).isoformat(timespec="microseconds").encode()
    return b"n" + value.isoformat(timespec="microseconds").encode()


_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    type(None): lambda v: b"N",
    bool: lambda v: b"T" if v else b"F",
    int: lambda v: b"i" + str(v).encode(),
    str: lambda v: b"s" + v.encode("utf-8"),
    float: lambda v: b"f" + v.hex().encode(),
    Decimal: lambda v: b"d" + format(v.normalize(), "f").encode(),
    datetime: _datetime,
    date: lambda v: b"D" + v.isoformat().encode(),
    time: lambda v: b"H" + v.isoformat().encode(),
    timedelta: lambda v: b"I" + repr(v.total_seconds()).encode(),
    bytes: lambda v: b"b" + v,
    bytearray: lambda v: b"b" + bytes(v),
    memoryview: lambda v: b"b" + v.tobytes(),
    uuid.UUID: lambda v: b"u" + str(v).encode(),
    dict: lambda v: b"j" + _json(v),
    list: lambda v: b"j" + _json(v),
    tuple: lambda v: b"j" + _json(list(v)),
}


def _encode(value: Any) -> bytes:
    """Return a type-tagged encoding of one value that does not depend on the backend."""
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        for kind, candidate in _ENCODERS.items():
            if isinstance(value, kind) and kind is not type(None):
                encoder = candidate
                break
        else:
            raise TypeError(f"no canonical form for {type(value).__name__}")
    return encoder(value)


def row_digest(row: tuple[Any, ...]) -> int:
    """Return the SHA-256 of one row's values (length-prefixed, type-tagged), as an integer."""
    digest = hashlib.sha256()
    for value in row:
        encoded = _encode(value)
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return int.from_bytes(digest.digest(), "big")


def table_digest(conn: Connection, table: Table) -> TableDigest:
    """Count and checksum one table's rows (columns in name order, rows in any order)."""
    columns = sorted(table.columns, key=lambda c: c.name)
    total = 0
    count = 0
    result = conn.execute(select(*columns).execution_options(yield_per=_STREAM_ROWS))
    for row in result:
        total += row_digest(tuple(row))
        count += 1
    result.close()
    # The column names seal the sum: the same values under other columns differ.
    header = _json([c.name for c in columns]) + (total % _MODULUS).to_bytes(32, "big")
    return TableDigest(rows=count, sha256=hashlib.sha256(header).hexdigest())


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
