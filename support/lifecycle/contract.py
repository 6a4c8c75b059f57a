"""Contract end for one municipality: export, erase (with a certificate) and re-import."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, MetaData, select
from sqlalchemy.orm import Session

from support.adapters.ports import SearchIndex
from support.auth import audit
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.db import utcnow
from support.errors import BadInput
from support.lifecycle.certificate import render_certificate
from support.lifecycle.erase import EraseResult, delete_selection, scrub_database
from support.lifecycle.export import ExportResult, export_selection, import_export, read_manifest
from support.lifecycle.graph import DEFAULT_RULES, Rules, select_municipality
from support.mail.parsing import parse_message
from support.metadata import target_metadata
from support.migrations import current_heads

SYSTEM = Actor(user_id=None, username="system:contract-end", role=RoleName.ADMIN)


def _attachments(raw: bytes) -> list[tuple[str, bytes]]:
    return [(a.filename, a.data) for a in parse_message(raw).attachments]


def _revision() -> str:
    return ",".join(sorted(current_heads()))


def export_municipality(
    engine: Engine,
    municipality_id: str,
    out: Path,
    *,
    metadata: MetaData = target_metadata,
    rules: Rules = DEFAULT_RULES,
) -> ExportResult:
    """Write every record and file of one municipality under `out`, in one snapshot."""
    with engine.begin() as conn:
        selection = select_municipality(conn, metadata, municipality_id, rules)
        return export_selection(
            conn,
            metadata,
            selection,
            out,
            revision=_revision(),
            rules=rules,
            attachments=_attachments,
        )


@dataclass
class Erasure:
    """The outcome of an erase: counts and the certificate's bytes."""

    result: EraseResult
    certificate: bytes


def erase_municipality(
    engine: Engine,
    municipality_id: str,
    *,
    search: SearchIndex,
    export_dir: Path | None = None,
    font_path: Path | None = None,
    metadata: MetaData = target_metadata,
    rules: Rules = DEFAULT_RULES,
) -> Erasure:
    """Remove the municipality from the database and the search index; certify it."""
    manifest_sha = None
    if export_dir is not None:
        manifest = read_manifest(export_dir)  # every checksum must hold before erasing
        if manifest.get("municipality") != municipality_id:
            raise BadInput("エクスポートの自治体が違います")
        manifest_sha = hashlib.sha256((export_dir / "manifest.json").read_bytes()).hexdigest()
    root = metadata.tables[rules.root]
    with engine.begin() as conn:
        selection = select_municipality(conn, metadata, municipality_id, rules)
        name = conn.execute(select(root.c.name).where(root.c.id == municipality_id)).scalar_one()
        deleted, nullified = delete_selection(conn, metadata, selection, rules)
        # Inside the transaction: if the index fails, nothing is erased and a rerun starts
        # over; if the commit fails after it, the rows are still here and a rerun finishes.
        index_documents = search.delete_municipality(municipality_id)
        search.compact()
    result = EraseResult(
        municipality_id=municipality_id,
        counts=deleted,
        nullified=nullified,
        kept_context={t: len(k) for t, k in selection.context.items()},
        index_documents=index_documents,
    )
    result.steps = scrub_database(
        engine, list(deleted) + [t for t, _ in _nullified_tables(nullified)]
    )
    result.steps.append("search index: delete + compact")
    erased_at = utcnow()
    pdf = render_certificate(
        result,
        municipality_name=name,
        erased_at=erased_at,
        export_manifest_sha256=manifest_sha,
        font_path=font_path,
    )
    with Session(engine) as session:
        # The record of the erasure itself: counts only, no donor, kept by the intermediary.
        audit.record(
            session,
            SYSTEM,
            action="municipality.erase",
            resource_type="municipality",
            resource_id=municipality_id,
            detail={
                "counts": result.counts,
                "nullified": result.nullified,
                "kept_context": result.kept_context,
                "index_documents": result.index_documents,
                "export_manifest_sha256": manifest_sha,
            },
        )
        session.commit()
    return Erasure(result=result, certificate=pdf)


def _nullified_tables(nullified: dict[str, int]) -> list[tuple[str, int]]:
    return [(label.split(".", 1)[0], n) for label, n in nullified.items()]


def import_municipality(
    engine: Engine,
    directory: Path,
    *,
    metadata: MetaData = target_metadata,
    rules: Rules = DEFAULT_RULES,
) -> dict[str, int]:
    """Load an export into this database in one transaction; return rows inserted per table."""
    with engine.begin() as conn:
        return import_export(conn, metadata, directory, rules=rules)
