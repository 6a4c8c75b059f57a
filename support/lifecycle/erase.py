"""Erase one municipality's rows so that no file keeps them, and say what was erased.

SQLite: the deletes run with `PRAGMA secure_delete = ON` (freed cells and pages are zeroed),
then `VACUUM` rewrites the file without free pages and `PRAGMA wal_checkpoint(TRUNCATE)`
copies the WAL back and truncates it to zero bytes, so neither the database file nor its -wal
holds the old rows. PostgreSQL: `VACUUM (FULL)` rewrites every touched table into new files
and drops the old ones, so no dead tuple stays in the table or index files. What neither can
reach: WAL segments already written or archived (PostgreSQL recycles pg_wal after
checkpoints; archived WAL and base backups keep the rows until they expire), backups and
snapshots, replicas' own WAL, and blocks the file system or SSD has not overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, update

from support.lifecycle.graph import (
    DEFAULT_RULES,
    Rules,
    Selection,
    chunks,
    key_condition,
    nullable_actor_refs,
    pk_columns,
)


@dataclass
class EraseResult:
    """What an erase removed (counts only) and how the storage was scrubbed."""

    municipality_id: str
    counts: dict[str, int]
    nullified: dict[str, int]
    kept_context: dict[str, int]
    index_documents: int = 0
    steps: list[str] = field(default_factory=list)


def delete_selection(
    conn: Connection, metadata: MetaData, selection: Selection, rules: Rules = DEFAULT_RULES
) -> tuple[dict[str, int], dict[str, int]]:
    """Delete the owned rows in the caller's transaction; return (deleted, nullified) counts."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete = ON")
    nullified: dict[str, int] = {}
    for edge, keys in nullable_actor_refs(conn, metadata, selection, rules):
        table = metadata.tables[edge.child]
        pk = pk_columns(table)
        for batch in chunks(sorted(keys, key=repr)):
            conn.execute(
                update(table)
                .where(key_condition(pk, batch))
                .values(dict.fromkeys(edge.child_cols, None))
            )
        label = f"{edge.child}.{','.join(edge.child_cols)}"
        nullified[label] = nullified.get(label, 0) + len(keys)
    deleted: dict[str, int] = {}
    for table in reversed(metadata.sorted_tables):
        owned = selection.owned.get(table.name)
        if not owned:
            continue
        pk = pk_columns(table)
        ordered = sorted(owned, key=repr)
        # A row may point at another row of its own table (a merged ticket, a bounce):
        # cut those links first, so the deletes can go in any order.
        for fk in table.foreign_key_constraints:
            if fk.referred_table is table and all(c.nullable for c in fk.columns):
                for batch in chunks(ordered):
                    conn.execute(
                        update(table)
                        .where(key_condition(pk, batch))
                        .values({c.name: None for c in fk.columns})
                    )
        total = 0
        for batch in chunks(ordered):
            total += conn.execute(table.delete().where(key_condition(pk, batch))).rowcount
        deleted[table.name] = total
    return dict(sorted(deleted.items())), nullified


def scrub_database(engine: Engine, tables: list[str]) -> list[str]:
    """Rewrite the database storage so that deleted rows leave no bytes; return the steps."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            driver: Any = raw.driver_connection
            driver.execute("PRAGMA secure_delete = ON")
            driver.execute("VACUUM")
            busy, _log, _done = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            raw.close()
        if busy:
            raise RuntimeError("SQLite WAL checkpoint was blocked by an open reader; run again")
        return ["sqlite: secure_delete", "sqlite: VACUUM", "sqlite: wal_checkpoint(TRUNCATE)"]
    steps: list[str] = []
    with engine.connect() as conn:
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        for name in sorted(tables):
            auto.exec_driver_sql(f'VACUUM (FULL, ANALYZE) "{name}"')
            steps.append(f"postgresql: VACUUM (FULL) {name}")
    return steps
