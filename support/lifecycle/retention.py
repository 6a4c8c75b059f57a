"""Retention: erase what is older than its municipality's rule, except what is on legal hold.

The rules are data (`retention.yaml`, or SUPPORT_RETENTION_FILE): per kind of data a table,
the timestamp that ages it and a number of days, overridable per municipality. A purge takes
each kind's expired rows as seeds and erases them with every row that depends on them (the
same foreign-key walk as the contract-end erase), so a closed ticket goes with its mail, raw
bytes, attachments, notes and events. It records what it erased as counts in
`privacy_purge_runs`, never the contents.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import MetaData, and_, select
from sqlalchemy.orm import Session

from support.auth import audit
from support.auth.actor import Actor
from support.db import utcnow
from support.errors import BadInput, Conflict, NotFound
from support.lifecycle.erase import delete_selection
from support.lifecycle.graph import DEFAULT_RULES, Key, Rules, pk_columns, select_closure
from support.lifecycle.models import LegalHold, PurgeRun
from support.metadata import target_metadata
from support.tickets.models import Ticket

log = logging.getLogger(__name__)
PURGE = "privacy.retention_purge"
DEFAULT_FILE = Path(__file__).with_name("retention.yaml")


class Kind(BaseModel):
    """One kind of data and how long it is kept by default."""

    model_config = ConfigDict(extra="forbid")
    label: str
    table: str
    age_column: str
    where: dict[str, str | int | bool] = Field(default_factory=dict)
    municipality_column: str
    file_column: str | None = None
    days: int = Field(ge=1, le=36500)


class RetentionRules(BaseModel):
    """Every kind, and each municipality's overrides in days."""

    model_config = ConfigDict(extra="forbid")
    kinds: dict[str, Kind]
    municipalities: dict[str, dict[str, int]] = Field(default_factory=dict)

    def days(self, kind: str, municipality_id: str) -> int:
        """Return how many days a kind is kept for a municipality."""
        return self.municipalities.get(municipality_id, {}).get(kind, self.kinds[kind].days)


def load_rules(path: Path | None = None) -> RetentionRules:
    """Read and validate the retention rules; an unknown kind in an override is an error."""
    source = path or DEFAULT_FILE
    try:
        rules = RetentionRules.model_validate(yaml.safe_load(source.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise BadInput(f"保存期間の設定を読めません: {source.name}: {exc}") from exc
    for municipality, overrides in rules.municipalities.items():
        unknown = set(overrides) - set(rules.kinds)
        if unknown:
            raise BadInput(
                f"保存期間の設定に不明な種類があります ({municipality}): {sorted(unknown)}"
            )
    return rules


class FileStore(Protocol):
    """Where stored files (recordings, attachments kept outside the database) live."""

    def delete(self, key: str) -> None:
        """Remove one file; a missing key is not an error."""
        ...


@dataclass
class PurgeReport:
    """What a purge erased: counts per kind and municipality."""

    runs: list[dict[str, Any]] = field(default_factory=list)


def _held_tickets(session: Session) -> set[int]:
    return set(session.scalars(select(LegalHold.ticket_id).where(LegalHold.released_at.is_(None))))


def purge(
    *,
    session: Session,
    rules: RetentionRules,
    now: datetime | None = None,
    files: FileStore | None = None,
    metadata: MetaData = target_metadata,
    walk: Rules = DEFAULT_RULES,
) -> PurgeReport:
    """Erase expired rows and their dependants, except under legal hold; the caller commits."""
    now = now or utcnow()
    conn = session.connection()
    held = _held_tickets(session)
    report = PurgeReport()
    municipalities = metadata.tables[walk.root]
    for name, kind in rules.kinds.items():
        table = metadata.tables.get(kind.table)
        if table is None:
            continue  # that domain's table is not here (yet)
        pk = pk_columns(table)
        for (municipality_id,) in conn.execute(select(pk_columns(municipalities)[0])):
            cutoff = now - timedelta(days=rules.days(name, municipality_id))
            conditions = [
                table.c[kind.age_column] < cutoff,
                table.c[kind.municipality_column] == municipality_id,
                *(table.c[col] == value for col, value in kind.where.items()),
            ]
            rows = conn.execute(select(*pk, *_file_cols(table, kind)).where(and_(*conditions)))
            seeds: set[Key] = set()
            keys_files: list[str] = []
            for row in rows:
                seeds.add(tuple(row[: len(pk)]))
                if kind.file_column and row[-1]:
                    keys_files.append(str(row[-1]))
            if not seeds:
                continue
            selection = select_closure(conn, metadata, {table.name: seeds}, walk)
            blocked = held & {k[0] for k in selection.owned.get("tickets", set())}
            if blocked:
                # Drop every seed whose closure reaches a held ticket, then walk again.
                seeds = {
                    s
                    for s in seeds
                    if not held
                    & {
                        k[0]
                        for k in select_closure(conn, metadata, {table.name: {s}}, walk).owned.get(
                            "tickets", set()
                        )
                    }
                }
                selection = select_closure(conn, metadata, {table.name: seeds}, walk)
            counts, _nullified = delete_selection(conn, metadata, selection, walk)
            removed_files = 0
            if files is not None:
                for key in keys_files:
                    files.delete(key)
                    removed_files += 1
            run = PurgeRun(
                kind=name,
                municipality_id=municipality_id,
                cutoff=cutoff,
                counts=counts,
                held=len(blocked),
                files=removed_files,
                ran_at=now,
            )
            session.add(run)
            report.runs.append({"kind": name, "municipality": municipality_id, "counts": counts})
            log.info("retention purge", extra={"kind": name, "municipality": municipality_id})
    session.flush()
    return report


def _file_cols(table: Any, kind: Kind) -> list[Any]:
    return [table.c[kind.file_column]] if kind.file_column else []


def place_hold(*, session: Session, actor: Actor, ticket_id: int, reason: str) -> LegalHold:
    """Put a ticket on legal hold (audited)."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound()
    hold = LegalHold(ticket_id=ticket.id, reason=reason, created_by=actor.user_id)
    session.add(hold)
    session.flush()
    audit.record(
        session,
        actor,
        action="legal_hold.place",
        resource_type="ticket",
        resource_id=str(ticket.id),
        municipality_id=ticket.municipality_id,
    )
    return hold


def release_hold(*, session: Session, actor: Actor, hold_id: int) -> LegalHold:
    """Release a legal hold (audited)."""
    hold = session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound()
    if hold.released_at is not None:
        raise Conflict("この保全はすでに解除されています")
    hold.released_at = utcnow()
    audit.record(
        session,
        actor,
        action="legal_hold.release",
        resource_type="ticket",
        resource_id=str(hold.ticket_id),
    )
    return hold
