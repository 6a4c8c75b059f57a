"""Write one municipality's records as open files, and read them back into a database.

Layout of an export directory:

    manifest.json              format, municipality, schema revision, counts and SHA-256 of
                               every file below
    tables/<table>.jsonl       the municipality's rows (erased by `erase`), one JSON object
                               per line, sorted by primary key, keys sorted
    context/<table>.jsonl      rows outside it that those rows refer to (a donor who also gave
                               to another municipality, the staff who handled a ticket);
                               exported, never erased
    files/<table>/<key>.<column>.<ext>
                               binary columns (raw mail as .eml, report PDFs); the row holds
                               {"$file": path, "sha256": ...}
    attachments/<message>/<n>-<name>
                               mail attachments re-read from the raw mail, for reading

The same rows in give the same bytes out: re-exporting an import reproduces every checksum.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, LargeBinary, MetaData, Table, func, select, text
from sqlalchemy.types import Date, DateTime, TypeDecorator

from support.db import utcnow
from support.errors import BadInput, Conflict
from support.lifecycle.graph import DEFAULT_RULES, Key, Rules, Selection, chunks, key_condition
from support.lifecycle.graph import pk_columns as _pk

FORMAT = "support-municipality-export/1"
# A value import writes into secret columns: no password verifies against it.
DISABLED_SECRET = "!exported"  # noqa: S105 - not a password: a hash nothing matches

AttachmentReader = Callable[[bytes], list[tuple[str, bytes]]]


@dataclass
class ExportResult:
    """What an export wrote."""

    directory: Path
    counts: dict[str, int]
    context_counts: dict[str, int]
    files: int
    manifest_sha256: str
    checksums: dict[str, str] = field(default_factory=dict)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _safe(name: str) -> str:
    cleaned = re.sub(r"[^\w.\-]+", "_", name, flags=re.UNICODE).strip("._")
    return cleaned[:80] or "file"


def _key_name(key: Key) -> str:
    return "-".join(_safe(str(k)) for k in key)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _is_binary(column: Column[Any]) -> bool:
    kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    return isinstance(kind, LargeBinary)


class _Writer:
    def __init__(self, out: Path, rules: Rules, attachments: AttachmentReader | None) -> None:
        self.out = out
        self.rules = rules
        self.attachments = attachments
        self.files: dict[str, dict[str, Any]] = {}

    def write_file(self, relative: str, data: bytes) -> str:
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        digest = _sha256(data)
        self.files[relative] = {"sha256": digest, "bytes": len(data)}
        return digest

    def rows(
        self, conn: Connection, table: Table, keys: set[Key], *, secrets: bool
    ) -> Iterator[dict[str, Any]]:
        pk = _pk(table)
        wanted = [
            c
            for c in table.columns
            if secrets or (table.name, c.name) not in self.rules.secret_columns
        ]
        for batch in chunks(sorted(keys, key=repr)):
            for row in conn.execute(select(*wanted).where(key_condition(pk, batch))):
                yield dict(zip([c.name for c in wanted], row, strict=True))

    def table_lines(
        self, conn: Connection, table: Table, keys: set[Key], folder: str
    ) -> tuple[bytes, int]:
        pk = _pk(table)
        records: list[tuple[Key, dict[str, Any]]] = []
        for row in self.rows(conn, table, keys, secrets=False):
            key = tuple(row[c.name] for c in pk)
            record: dict[str, Any] = {}
            for column in table.columns:
                if column.name not in row:
                    continue
                value = row[column.name]
                if value is not None and _is_binary(column):
                    ext = self.rules.file_extensions.get((table.name, column.name), "bin")
                    relative = f"files/{table.name}/{_key_name(key)}.{column.name}.{ext}"
                    record[column.name] = {
                        "$file": relative,
                        "sha256": self.write_file(relative, value),
                    }
                else:
                    record[column.name] = _plain(value)
            records.append((tuple(str(k) for k in key), record))
            if folder == "tables" and table.name == "mail_raw" and self.attachments:
                self._attachments(key, row["data"])
        records.sort(key=lambda item: [(len(k), k) for k in item[0]])
        body = "".join(
            json.dumps(r, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
            for _k, r in records
        )
        return body.encode("utf-8"), len(records)

    def _attachments(self, key: Key, raw: bytes) -> None:
        assert self.attachments is not None  # noqa: S101 - checked by the caller
        for index, (name, data) in enumerate(self.attachments(raw)):
            self.write_file(f"attachments/{_key_name(key)}/{index}-{_safe(name)}", data)


def export_selection(
    conn: Connection,
    metadata: MetaData,
    selection: Selection,
    out: Path,
    *,
    revision: str,
    rules: Rules = DEFAULT_RULES,
    attachments: AttachmentReader | None = None,
) -> ExportResult:
    """Write the selection's rows and files under `out` (which must be empty or absent)."""
    if out.exists() and any(out.iterdir()):
        raise BadInput(f"出力先が空ではありません: {out}")
    out.mkdir(parents=True, exist_ok=True)
    writer = _Writer(out, rules, attachments)
    tables: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    context_counts: dict[str, int] = {}
    for table in metadata.sorted_tables:
        if table.name in rules.unexported_tables or table.name in rules.reference_tables:
            continue
        entry: dict[str, Any] = {}
        lines: list[bytes] = []
        for folder, keys, tally in (
            ("tables", selection.owned.get(table.name), counts),
            ("context", selection.context.get(table.name), context_counts),
        ):
            if not keys:
                continue
            body, n = writer.table_lines(conn, table, keys, folder)
            lines += body.splitlines()
            relative = f"{folder}/{table.name}.jsonl"
            entry[folder] = {
                "file": relative,
                "rows": n,
                "sha256": writer.write_file(relative, body),
            }
            tally[table.name] = n
        if entry:
            # Rows in or out of the erased set can change sides between databases (a donor
            # shared with another municipality): this digest covers both, in key order.
            entry["content_sha256"] = _sha256(b"\n".join(sorted(lines)))
            tables[table.name] = entry
    manifest = {
        "format": FORMAT,
        "municipality": selection.municipality_id,
        "schema_revision": revision,
        "exported_at": utcnow().isoformat(),
        "tables": tables,
        "files": dict(sorted(writer.files.items())),
    }
    data = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
    (out / "manifest.json").write_bytes(data)
    checksums = {name: entry["content_sha256"] for name, entry in tables.items()}
    return ExportResult(
        directory=out,
        counts=counts,
        context_counts=context_counts,
        files=len(writer.files),
        manifest_sha256=_sha256(data),
        checksums=checksums,
    )


# -- import -------------------------------------------------------------------------------


def read_manifest(directory: Path) -> dict[str, Any]:
    """Return the manifest after checking every listed file against its SHA-256."""
    path = directory / "manifest.json"
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"エクスポートの manifest.json を読めません: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BadInput(f"エクスポートの形式が違います: {manifest.get('format')!r}")
    for relative, info in manifest.get("files", {}).items():
        target = (directory / relative).resolve()
        if directory.resolve() not in target.parents:
            raise BadInput(f"manifest のパスが不正です: {relative}")
        try:
            data = target.read_bytes()
        except OSError as exc:
            raise BadInput(f"ファイルがありません: {relative}") from exc
        if _sha256(data) != info.get("sha256"):
            raise BadInput(f"チェックサムが一致しません: {relative}")
    return manifest


def _python_value(column: Column[Any], value: Any, directory: Path) -> Any:
    if value is None:
        return None
    if _is_binary(column):
        if isinstance(value, dict) and "$file" in value:
            return (directory / value["$file"]).read_bytes()
        return base64.b64decode(value)
    kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if isinstance(kind, DateTime):
        return datetime.fromisoformat(value)
    if isinstance(kind, Date):
        return date.fromisoformat(value)
    return value


def import_export(
    conn: Connection, metadata: MetaData, directory: Path, *, rules: Rules = DEFAULT_RULES
) -> dict[str, int]:
    """Insert an export's rows in the caller's transaction; return rows inserted per table.

    Context rows already present are kept as they are; an owned row whose key already exists
    is a conflict (the municipality is already here).
    """
    manifest = read_manifest(directory)
    inserted: dict[str, int] = {}
    for table in metadata.sorted_tables:
        entry = manifest["tables"].get(table.name)
        if not entry:
            continue
        pk = _pk(table)
        for folder in ("context", "tables"):
            if folder not in entry:
                continue
            lines = (directory / entry[folder]["file"]).read_text(encoding="utf-8").splitlines()
            rows = []
            for line in lines:
                record = json.loads(line)
                row = {
                    c.name: _python_value(c, record.get(c.name), directory)
                    for c in table.columns
                    if c.name in record
                }
                for t, c in rules.secret_columns:
                    if t == table.name:
                        row[c] = DISABLED_SECRET
                rows.append(row)
            for batch in chunks([tuple(r[c.name] for c in pk) for r in rows]):
                present = {
                    tuple(r) for r in conn.execute(select(*pk).where(key_condition(pk, batch)))
                }
                if present and folder == "tables":
                    raise Conflict(f"{table.name} の行がすでにあります: {sorted(present)[:3]}")
            fresh = [r for r in rows if folder == "tables" or not _exists(conn, table, r)]
            if fresh:
                conn.execute(table.insert(), fresh)
                inserted[table.name] = inserted.get(table.name, 0) + len(fresh)
    if conn.dialect.name == "postgresql":
        _reset_sequences(conn, metadata, inserted)
    return inserted


def _exists(conn: Connection, table: Table, row: dict[str, Any]) -> bool:
    pk = _pk(table)
    condition = key_condition(pk, [tuple(row[c.name] for c in pk)])
    return conn.execute(select(pk[0]).where(condition)).first() is not None


def _reset_sequences(conn: Connection, metadata: MetaData, touched: dict[str, int]) -> None:
    # Explicit ids leave a serial's sequence behind: the next insert would collide.
    for name in touched:
        table = metadata.tables[name]
        pk = _pk(table)
        if len(pk) != 1 or pk[0].type.python_type is not int:
            continue
        highest = conn.execute(select(func.max(pk[0]))).scalar() or 1
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence(:t, :c), :v)"),
            {"t": name, "c": pk[0].name, "v": highest},
        )
