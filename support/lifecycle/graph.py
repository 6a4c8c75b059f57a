"""Which rows belong to one municipality, found by walking the schema's foreign keys.

A row belongs to the municipality when it refers, through any foreign key, to a row that
belongs to it (starting at the municipality itself), with two exceptions:

- actor tables (`users`): a nullable reference to an owned user (an ise user who once
  assigned a yokohama ticket) is set to NULL on erase, not followed;
- subject tables (`donors`): a donor has no municipality of its own; it belongs to the
  municipality when every row that refers to it belongs to it. A donor who also gave to
  another municipality stays (that contract still covers them); the export carries them
  as context rows.

Columns that refer to a row without a declared foreign key (the audit trail's `donor_id`,
a job's JSON payload) are declared as soft references: in `Rules` here, or on the model
with `mapped_column(..., info={"refers_to": "donors"})`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table, select, tuple_

from support.errors import NotFound

Key = tuple[Any, ...]
_CHUNK = 500


@dataclass(frozen=True)
class SoftRef:
    """A column that holds another row's key without a foreign key constraint."""

    table: str
    column: str
    parent: str


@dataclass(frozen=True)
class JsonRef:
    """A key inside a JSON column that holds another row's key."""

    table: str
    column: str
    key: str
    parent: str


@dataclass(frozen=True)
class Rules:
    """What the walker cannot read from the foreign keys; a merged table may add entries."""

    root: str = "municipalities"
    actor_tables: frozenset[str] = frozenset({"users"})
    subject_tables: frozenset[str] = frozenset({"donors"})
    # Reference data that every database has from its migrations: never exported or erased.
    reference_tables: frozenset[str] = frozenset({"roles", "alembic_version"})
    # Erased with their owner but never exported: secrets and machinery.
    unexported_tables: frozenset[str] = frozenset({"auth_sessions", "jobs", "ticket_presence"})
    # Columns left out of every export (secrets); import fills them with a disabled value.
    secret_columns: frozenset[tuple[str, str]] = frozenset({("users", "password_hash")})
    soft_refs: tuple[SoftRef, ...] = (
        SoftRef("audit_events", "donor_id", "donors"),
        SoftRef("audit_events", "municipality_id", "municipalities"),
        # A municipality's own FAQ articles (kb imports no other domain, so no foreign key);
        # their revisions follow them. General articles (no municipality) are left alone.
        SoftRef("kb_articles", "municipality_id", "municipalities"),
    )
    json_refs: tuple[JsonRef, ...] = (
        JsonRef("jobs", "payload", "ticket_id", "tickets"),
        JsonRef("jobs", "payload", "message_id", "mail_messages"),
        JsonRef("jobs", "payload", "municipality_id", "municipalities"),
        JsonRef("jobs", "payload", "donor_id", "donors"),
        JsonRef("jobs", "payload", "order_id", "orders"),
    )
    # Tables that belong to no municipality (machinery, counts-only logs): left by an erase.
    global_tables: frozenset[str] = frozenset({"mail_cursors", "privacy_purge_runs"})
    # Columns that name a municipality, donor or ticket on purpose without being followed.
    unrelated_columns: frozenset[tuple[str, str]] = frozenset(
        {("privacy_purge_runs", "municipality_id")}  # a counts-only log outlives the contract
    )
    # File extensions for binary columns written as files by the export.
    file_extensions: dict[tuple[str, str], str] = field(
        default_factory=lambda: {
            ("mail_raw", "data"): "eml",
            ("municipality_reports", "pdf"): "pdf",
            ("municipality_reports", "csv_data"): "csv",
        }
    )


DEFAULT_RULES = Rules()


@dataclass(frozen=True)
class Edge:
    """A reference from child rows to parent rows (a foreign key or a soft reference)."""

    child: str
    child_cols: tuple[str, ...]
    parent: str
    parent_cols: tuple[str, ...]
    nullable: bool
    hard: bool = True  # a declared foreign key
    json_key: str | None = None


@dataclass
class Selection:
    """The rows of one municipality: owned (erased) and context (exported, kept)."""

    municipality_id: str
    owned: dict[str, set[Key]] = field(default_factory=lambda: defaultdict(set))
    context: dict[str, set[Key]] = field(default_factory=lambda: defaultdict(set))

    def counts(self) -> dict[str, int]:
        """Return the number of owned rows per table, tables with none left out."""
        return {t: len(keys) for t, keys in sorted(self.owned.items()) if keys}


def pk_columns(table: Table) -> list[Column[Any]]:
    """Return the primary-key columns of a table, in order."""
    return list(table.primary_key.columns)


def edges(metadata: MetaData, rules: Rules = DEFAULT_RULES) -> list[Edge]:
    """Return every reference between tables: foreign keys, soft and JSON references."""
    found: list[Edge] = []
    for table in metadata.sorted_tables:
        for fk in table.foreign_key_constraints:
            cols = tuple(c.name for c in fk.columns)
            found.append(
                Edge(
                    child=table.name,
                    child_cols=cols,
                    parent=fk.referred_table.name,
                    parent_cols=tuple(e.column.name for e in fk.elements),
                    nullable=all(c.nullable for c in fk.columns),
                )
            )
        for column in table.columns:
            parent = column.info.get("refers_to")
            if parent:
                found.append(_soft_edge(metadata, SoftRef(table.name, column.name, parent)))
    for soft in rules.soft_refs:
        if soft.table in metadata.tables:
            found.append(_soft_edge(metadata, soft))
    for ref in rules.json_refs:
        if ref.table in metadata.tables:
            parent_pk = pk_columns(metadata.tables[ref.parent])
            found.append(
                Edge(
                    ref.table,
                    (ref.column,),
                    ref.parent,
                    (parent_pk[0].name,),
                    nullable=True,
                    hard=False,
                    json_key=ref.key,
                )
            )
    return found


def _soft_edge(metadata: MetaData, soft: SoftRef) -> Edge:
    parent_pk = pk_columns(metadata.tables[soft.parent])
    return Edge(
        soft.table, (soft.column,), soft.parent, (parent_pk[0].name,), nullable=True, hard=False
    )


def chunks(keys: Iterable[Key], size: int = _CHUNK) -> Iterator[list[Key]]:
    """Yield lists of at most `size` keys."""
    batch: list[Key] = []
    for key in keys:
        batch.append(key)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def key_condition(columns: Sequence[Column[Any]], keys: Sequence[Key]) -> Any:
    """Return `columns IN keys` for one or several columns."""
    if len(columns) == 1:
        return columns[0].in_([k[0] for k in keys])
    return tuple_(*columns).in_(keys)


class _Walker:
    def __init__(self, conn: Connection, metadata: MetaData, rules: Rules) -> None:
        self.conn = conn
        self.metadata = metadata
        self.rules = rules
        self.edges = edges(metadata, rules)
        self._json_rows: dict[tuple[str, str], list[tuple[Key, Any]]] = {}

    def table(self, name: str) -> Table:
        return self.metadata.tables[name]

    def parent_values(self, edge: Edge, keys: Sequence[Key]) -> set[Key]:
        """Return the values of the referred columns for the given parent keys."""
        parent = self.table(edge.parent)
        pk = pk_columns(parent)
        if [c.name for c in pk] == list(edge.parent_cols):
            return set(keys)
        cols = [parent.c[name] for name in edge.parent_cols]
        values: set[Key] = set()
        for batch in chunks(keys):
            rows = self.conn.execute(select(*cols).where(key_condition(pk, batch)))
            values |= {tuple(r) for r in rows}
        return values

    def children(self, edge: Edge, parent_keys: Sequence[Key]) -> dict[Key, Key]:
        """Return {child key: referred value} of child rows referring to the parent keys."""
        child = self.table(edge.child)
        pk = pk_columns(child)
        values = self.parent_values(edge, parent_keys)
        found: dict[Key, Key] = {}
        if edge.json_key is not None:
            wanted = {str(v[0]) for v in values}
            for key, payload in self._json(edge):
                value = payload.get(edge.json_key) if isinstance(payload, dict) else None
                if value is not None and str(value) in wanted:
                    found[key] = (value,)
            return found
        cols = [child.c[name] for name in edge.child_cols]
        for batch in chunks(values):
            rows = self.conn.execute(select(*pk, *cols).where(key_condition(cols, batch)))
            for row in rows:
                found[tuple(row[: len(pk)])] = tuple(row[len(pk) :])
        return found

    def _json(self, edge: Edge) -> list[tuple[Key, Any]]:
        cache_key = (edge.child, edge.child_cols[0])
        if cache_key not in self._json_rows:
            child = self.table(edge.child)
            pk = pk_columns(child)
            rows = self.conn.execute(select(*pk, child.c[edge.child_cols[0]]))
            self._json_rows[cache_key] = [(tuple(r[:-1]), r[-1]) for r in rows]
        return self._json_rows[cache_key]

    def referenced(self, edge: Edge, child_keys: Sequence[Key]) -> set[Key]:
        """Return the parent keys that the given child rows refer to (hard edges only)."""
        child = self.table(edge.child)
        pk = pk_columns(child)
        cols = [child.c[name] for name in edge.child_cols]
        parent_pk = [c.name for c in pk_columns(self.table(edge.parent))]
        if list(edge.parent_cols) != parent_pk:
            raise NotImplementedError(f"{edge.child} refers to a non-key column of {edge.parent}")
        found: set[Key] = set()
        for batch in chunks(child_keys):
            rows = self.conn.execute(select(*cols).where(key_condition(pk, batch)))
            found |= {tuple(r) for r in rows if all(v is not None for v in r)}
        return found

    def follows(self, edge: Edge) -> bool:
        if edge.child in self.rules.reference_tables:
            return False
        if edge.parent in self.rules.actor_tables and edge.nullable:
            return False
        return True

    def walk(self, municipality_id: str) -> Selection:
        root = self.table(self.rules.root)
        root_pk = pk_columns(root)
        if (
            self.conn.execute(select(root_pk[0]).where(root_pk[0] == municipality_id)).first()
            is None
        ):
            raise NotFound(f"自治体 {municipality_id} が見つかりません")
        selection = self.closure({self.rules.root: {(municipality_id,)}}, municipality_id)
        selection.context = self._context(selection.owned)
        return selection

    def closure(self, seeds: dict[str, set[Key]], label: str = "") -> Selection:
        """Return the seed rows and every row that depends on them."""
        selection = Selection(label)
        owned = selection.owned
        pending: dict[str, set[Key]] = {t: set(k) for t, k in seeds.items() if k}
        for table, keys in pending.items():
            owned[table] |= keys
        while pending:
            while pending:
                table, keys = pending.popitem()
                for edge in self.edges:
                    if edge.parent != table or not self.follows(edge):
                        continue
                    new = set(self.children(edge, sorted(keys, key=repr))) - owned[edge.child]
                    if new:
                        owned[edge.child] |= new
                        pending.setdefault(edge.child, set()).update(new)
            for subject in sorted(self.rules.subject_tables):
                pulled = self._exclusive(subject, owned) - owned[subject]
                if pulled:
                    owned[subject] |= pulled
                    pending[subject] = pulled
        return selection

    def _hard_edges_into(self, table: str) -> list[Edge]:
        return [e for e in self.edges if e.parent == table and e.hard]

    def _exclusive(self, subject: str, owned: dict[str, set[Key]]) -> set[Key]:
        """Return subject rows referred to by owned rows and by no other row."""
        candidates: set[Key] = set()
        into = self._hard_edges_into(subject)
        for edge in into:
            if owned.get(edge.child):
                candidates |= self.referenced(edge, sorted(owned[edge.child], key=repr))
        if not candidates:
            return set()
        blocked: set[Key] = set()
        for edge in into:
            for child_key, value in self.children(edge, sorted(candidates, key=repr)).items():
                if child_key not in owned.get(edge.child, set()):
                    blocked.add(value)
        return candidates - blocked

    def _context(self, owned: dict[str, set[Key]]) -> dict[str, set[Key]]:
        """Return rows outside the selection that owned rows (or context rows) refer to."""
        context: dict[str, set[Key]] = defaultdict(set)
        pending = {t: set(k) for t, k in owned.items() if k}
        while pending:
            table, keys = pending.popitem()
            for edge in self.edges:
                if edge.child != table or not edge.hard:
                    continue
                if edge.parent in self.rules.reference_tables:
                    continue
                parents = self.referenced(edge, sorted(keys, key=repr))
                new = parents - owned.get(edge.parent, set()) - context[edge.parent]
                if new:
                    context[edge.parent] |= new
                    pending.setdefault(edge.parent, set()).update(new)
        return {t: k for t, k in context.items() if k}


def select_municipality(
    conn: Connection, metadata: MetaData, municipality_id: str, rules: Rules = DEFAULT_RULES
) -> Selection:
    """Return every row of one municipality, and the rows outside it that they refer to."""
    return _Walker(conn, metadata, rules).walk(municipality_id)


def select_closure(
    conn: Connection, metadata: MetaData, seeds: dict[str, set[Key]], rules: Rules = DEFAULT_RULES
) -> Selection:
    """Return the seed rows and every row that depends on them (for a retention purge)."""
    return _Walker(conn, metadata, rules).closure(seeds, "purge")


def nullable_actor_refs(
    conn: Connection, metadata: MetaData, selection: Selection, rules: Rules = DEFAULT_RULES
) -> list[tuple[Edge, set[Key]]]:
    """Return the rows outside the selection whose nullable actor references go to owned rows."""
    walker = _Walker(conn, metadata, rules)
    found: list[tuple[Edge, set[Key]]] = []
    for edge in walker.edges:
        if not (edge.hard and edge.nullable and edge.parent in rules.actor_tables):
            continue
        actors = selection.owned.get(edge.parent)
        if not actors:
            continue
        outside = set(walker.children(edge, sorted(actors, key=repr))) - selection.owned.get(
            edge.child, set()
        )
        if outside:
            found.append((edge, outside))
    return found
