"""Orders and donations from a portal's CSV export, with one column mapping file per portal.

The file is read as a stream: rows are checked one by one and written in batches, so memory
stays bounded by the batch (plus one short key per order for duplicate detection) however long
the file is. Upserts are idempotent by (portal, order number); donations by donation number.
A bad row is reported with its line number and reason and skipped; the others still load.

Encoding: the mapping declares it (portal exports are UTF-8, UTF-8 with a BOM, or Shift_JIS).
A file that does not decode as declared is refused as a whole before anything is written, with
the line of the first bad byte and, when the bytes read as Shift_JIS (cp932), a hint to fix
the mapping. We do not guess: cp932, EUC-JP and UTF-8 overlap enough that a wrong guess would
store garbled names and addresses without anyone noticing.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from support.db import utcnow
from support.errors import BadInput
from support.tickets.models import Donation, Donor, GiftItem, Municipality, Order, Supplier
from support.tickets.world import ImportCounts

BATCH = 1000
Field_ = Literal[
    "order_no",
    "donation_no",
    "donor_id",
    "donor_name",
    "donor_kana",
    "donor_email",
    "donor_phone",
    "donor_postal_code",
    "donor_address",
    "donor_residence",
    "municipality",
    "supplier_id",
    "item",
    "amount_yen",
    "donated_on",
    "status",
    "ordered_on",
    "shipped_on",
    "delivered_on",
    "carrier",
    "tracking_no",
]
REQUIRED: tuple[str, ...] = ("order_no", "donor_id", "donor_name", "supplier_id", "item", "status")
_DATES = ("donated_on", "ordered_on", "shipped_on", "delivered_on")
_LIMITS = {
    "order_no": 60,
    "donation_no": 40,
    "donor_name": 200,
    "donor_kana": 200,
    "donor_email": 254,
    "donor_phone": 40,
    "donor_postal_code": 10,
    "donor_residence": 100,
    "item": 300,
    "status": 30,
    "carrier": 60,
    "tracking_no": 60,
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ImportFailed(BadInput):
    """The file as a whole cannot be imported (encoding, header, mapping)."""

    code = "invalid_import"


class Mapping(BaseModel):
    """How one portal's CSV export maps onto orders, donations and donors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    portal: str = Field(min_length=1, max_length=60)
    encoding: Literal["utf-8", "utf-8-sig", "cp932", "shift_jis", "euc_jp"] = "utf-8"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    date_format: str = "%Y-%m-%d"
    # Portal donor numbers are made ours by a prefix, so two portals' "12345" stay apart.
    donor_id_prefix: str = Field(default="", max_length=20)
    # A fixed municipality for exports of one city, or a column naming it.
    municipality: str | None = None
    columns: dict[Field_, str]
    # Translations of portal values into ours (e.g. portal supplier codes to supplier ids).
    supplier_ids: dict[str, str] = {}
    municipality_ids: dict[str, str] = {}
    status_values: dict[str, str] = {}

    @model_validator(mode="after")
    def _required_columns(self) -> Mapping:
        """Require a column for every required field, and a municipality one way or another."""
        missing = [f for f in REQUIRED if f not in self.columns]
        if self.municipality is None and "municipality" not in self.columns:
            missing.append("municipality")
        if missing:
            raise ValueError(f"columns: no column mapped for {', '.join(missing)}")
        if "donation_no" in self.columns and "amount_yen" not in self.columns:
            raise ValueError("columns: amount_yen is required when donation_no is mapped")
        return self


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping file; any problem is one line naming the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ImportFailed(f"{path}: mapping file not found") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ImportFailed(f"{path}: cannot read the mapping ({exc})".replace("\n", " ")) from exc
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ImportFailed(f"{path}: {where}: {message}") from exc


def check_encoding(stream: IO[bytes], encoding: str, name: str) -> None:
    """Decode the whole stream incrementally; refuse it at the first bad byte, with its line."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    while chunk := stream.read(1 << 16):
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            line += chunk[: exc.start].decode(encoding, errors="replace").count("\n")
            hint = ""
            if encoding.startswith("utf-8") and _reads_as_cp932(chunk):
                hint = "; the bytes read as Shift_JIS: set `encoding: cp932` in the mapping"
            raise ImportFailed(
                f"{name}: line {line}: not valid {encoding}{hint} (nothing was imported)"
            ) from exc
        line += text.count("\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise ImportFailed(f"{name}: line {line}: truncated {encoding} character") from exc


def _reads_as_cp932(chunk: bytes) -> bool:
    try:
        chunk.decode("cp932")
    except UnicodeDecodeError:
        # The chunk may cut a two-byte character at its end.
        try:
            chunk[:-1].decode("cp932")
        except UnicodeDecodeError:
            return False
    return True


@dataclass
class ImportReport:
    """What an import did: counts per kind, and the rows it could not load."""

    counts: ImportCounts = field(default_factory=ImportCounts)
    rows: int = 0
    bad_rows: int = 0
    duplicates: int = 0


Problem = Callable[[int, str], None]


@dataclass
class _Row:
    line: int
    values: dict[str, Any]


def _rows(
    text: IO[str], mapping: Mapping, name: str, on_problem: Problem, report: ImportReport
) -> Iterator[_Row]:
    reader = csv.reader(text, delimiter=mapping.delimiter)
    header = next(reader, None)
    if header is None:
        raise ImportFailed(f"{name}: the file is empty")
    header = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in mapping.columns.values() if c not in header]
    if missing:
        raise ImportFailed(f"{name}: missing columns: {', '.join(missing)}")
    index = {f: header.index(c) for f, c in mapping.columns.items()}
    seen: dict[str, tuple[int, int]] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        report.rows += 1
        try:
            values = _convert(cells, index, mapping)
        except ValueError as exc:
            report.bad_rows += 1
            on_problem(line, str(exc))
            continue
        digest = hash(tuple(values.values()))
        earlier = seen.get(values["order_no"])
        if earlier is not None:
            if earlier[1] == digest:
                report.duplicates += 1
                on_problem(line, f"duplicate of line {earlier[0]} (skipped)")
            else:
                report.bad_rows += 1
                on_problem(line, f"order {values['order_no']} differs from line {earlier[0]}")
            continue
        seen[values["order_no"]] = (line, digest)
        yield _Row(line, values)


def _convert(cells: list[str], index: dict[Any, int], mapping: Mapping) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, at in index.items():
        raw = cells[at].strip() if at < len(cells) else ""
        values[name] = raw or None
    for name in REQUIRED:
        if values.get(name) is None:
            raise ValueError(f"{mapping.columns[name]}: empty")  # type: ignore[index]
    for name, limit in _LIMITS.items():
        if values.get(name) and len(values[name]) > limit:
            raise ValueError(f"{mapping.columns[name]}: longer than {limit} characters")  # type: ignore[index]
    for name in _DATES:
        if values.get(name):
            try:
                values[name] = _parse_date(values[name], mapping.date_format)
            except ValueError:
                column = mapping.columns[name]  # type: ignore[index]
                raise ValueError(
                    f"{column}: '{values[name][:20]}' is not a date ({mapping.date_format})"
                ) from None
    if values.get("amount_yen"):
        amount = values["amount_yen"].replace(",", "").removesuffix("円")
        if not amount.isdigit():
            raise ValueError(f"{mapping.columns['amount_yen']}: not an amount of yen")
        values["amount_yen"] = int(amount)
    if values.get("donation_no") and values.get("amount_yen") is None:
        raise ValueError(f"{mapping.columns['amount_yen']}: empty")
    email = values.get("donor_email")
    if email:
        if not _EMAIL.match(email):
            raise ValueError(f"{mapping.columns['donor_email']}: not an e-mail address")
        values["donor_email"] = email.lower()
    city = values.get("municipality") or mapping.municipality
    values["municipality"] = mapping.municipality_ids.get(city or "", city)
    supplier = values["supplier_id"]
    values["supplier_id"] = mapping.supplier_ids.get(supplier, supplier)
    values["status"] = mapping.status_values.get(values["status"], values["status"])
    donor_id = f"{mapping.donor_id_prefix}{values['donor_id']}"
    if len(donor_id) > 40:
        raise ValueError(f"{mapping.columns['donor_id']}: longer than 40 characters")
    values["donor_id"] = donor_id
    return values


@lru_cache(maxsize=4096)
def _parse_date(text: str, fmt: str) -> date:
    """Parse a date; cached, since an export repeats the same few hundred dates."""
    return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no zone


def import_orders(
    *,
    session: Session,
    stream: IO[bytes],
    mapping: Mapping,
    name: str,
    on_problem: Problem,
    batch: int = BATCH,
) -> ImportReport:
    """Import a portal CSV export (seekable binary stream); flushes per batch, never commits.

    Rows are written with Core statements per batch, so no ORM object outlives its batch.
    """
    check_encoding(stream, mapping.encoding, name)
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=mapping.encoding, newline="")
    report = ImportReport()
    cities = set(session.scalars(select(Municipality.id)))
    suppliers = {
        row.id: row.municipality_id
        for row in session.execute(select(Supplier.id, Supplier.municipality_id))
    }
    pending: list[_Row] = []
    try:
        for row in _rows(text, mapping, name, on_problem, report):
            pending.append(row)
            if len(pending) >= batch:
                _write(session, mapping, pending, cities, suppliers, report, on_problem)
                pending = []
        if pending:
            _write(session, mapping, pending, cities, suppliers, report, on_problem)
    finally:
        text.detach()
    return report


def _write(
    session: Session,
    mapping: Mapping,
    rows: list[_Row],
    cities: set[str],
    suppliers: dict[str, str],
    report: ImportReport,
    on_problem: Problem,
) -> None:
    """Upsert one batch: donors, gift items, donations, then orders; skip rows that clash."""
    good: list[_Row] = []
    for row in rows:
        v = row.values
        if v["municipality"] not in cities:
            problem = f"unknown municipality '{str(v['municipality'])[:40]}'"
        elif v["supplier_id"] not in suppliers:
            problem = f"unknown supplier '{v['supplier_id'][:40]}'"
        elif suppliers[v["supplier_id"]] != v["municipality"]:
            problem = f"supplier {v['supplier_id']} does not serve {v['municipality']}"
        else:
            good.append(row)
            continue
        report.bad_rows += 1
        on_problem(row.line, problem)
    counts = report.counts
    portal = mapping.portal
    donations = _rows_by(
        session, Donation, Donation.donation_no, {r.values["donation_no"] for r in good} - {None}
    )
    orders = _rows_by(session, Order, Order.order_no, {r.values["order_no"] for r in good}, portal)
    rows_ok: list[_Row] = []
    for row in good:
        v = row.values
        donation = donations.get(v["donation_no"]) if v["donation_no"] else None
        order = orders.get(v["order_no"])
        if donation is not None and donation["donor_id"] != v["donor_id"]:
            problem = f"donation {v['donation_no']} belongs to another donor"
        elif order is not None and order["donor_id"] != v["donor_id"]:
            problem = f"order {v['order_no']} belongs to another donor"
        else:
            rows_ok.append(row)
            continue
        report.bad_rows += 1
        on_problem(row.line, problem)
    donors: dict[str, dict[str, Any]] = {}
    for row in rows_ok:
        v = row.values
        fields = {
            "id": v["donor_id"],
            "name": v["donor_name"],
            "kana": v.get("donor_kana"),
            "email": v.get("donor_email"),
            "phone": v.get("donor_phone"),
            "postal_code": v.get("donor_postal_code"),
            "address": v.get("donor_address"),
            "municipality_of_residence": v.get("donor_residence"),
        }
        # An export without a column never blanks what we hold; the last row of a donor wins.
        donors.setdefault(v["donor_id"], {}).update(
            {k: val for k, val in fields.items() if val is not None}
        )
    stored_donors = _rows_by(session, Donor, Donor.id, set(donors))
    _upsert_many(session, counts, "donors", Donor, Donor.id, donors, stored_donors)
    gifts = _gift_items(session, counts, rows_ok)
    wanted_donations = {
        v["donation_no"]: {
            "donation_no": v["donation_no"],
            "donor_id": v["donor_id"],
            "municipality_id": v["municipality"],
            "amount_yen": v["amount_yen"],
            "portal": portal,
            "donated_on": v.get("donated_on") or v.get("ordered_on"),
        }
        for v in (r.values for r in rows_ok)
        if v["donation_no"]
    }
    donation_ids = _upsert_many(
        session,
        counts,
        "donations",
        Donation,
        Donation.donation_no,
        wanted_donations,
        donations,
        want_ids=True,
    )
    wanted: dict[str, dict[str, Any]] = {}
    for row in rows_ok:
        v = row.values
        values: dict[str, Any] = {
            "portal": portal,
            "order_no": v["order_no"],
            "donor_id": v["donor_id"],
            "municipality_id": v["municipality"],
            "supplier_id": v["supplier_id"],
            "gift_item_id": gifts[(v["supplier_id"], v["item"])],
            "status": v["status"],
        }
        if v["donation_no"]:
            values["donation_id"] = donation_ids[v["donation_no"]]
        for name in ("ordered_on", "shipped_on", "delivered_on", "carrier", "tracking_no"):
            if v.get(name) is not None:
                values[name] = v[name]
        wanted[v["order_no"]] = values
    _upsert_many(session, counts, "orders", Order, Order.order_no, wanted, orders)


def _rows_by(
    session: Session, model: Any, key: Any, values: set[Any], portal: str | None = None
) -> dict[Any, dict[str, Any]]:
    """Return the stored rows (as dicts of columns) whose key is among `values`."""
    found: dict[Any, dict[str, Any]] = {}
    items = sorted(values)
    for start in range(0, len(items), 500):
        query = select(model.__table__).where(key.in_(items[start : start + 500]))
        if portal is not None:
            query = query.where(model.portal == portal)
        for row in session.execute(query).mappings():
            found[row[key.key]] = dict(row)
    return found


def _upsert_many(
    session: Session,
    counts: ImportCounts,
    kind: str,
    model: Any,
    key: Any,
    wanted: dict[Any, dict[str, Any]],
    stored: dict[Any, dict[str, Any]],
    *,
    want_ids: bool = False,
) -> dict[Any, Any]:
    """Insert the new rows and update the changed ones in a few statements (Core, no ORM);
    return key -> primary key of every wanted row."""
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    ids: dict[Any, Any] = {}
    now = utcnow()
    for value, fields in wanted.items():
        row = stored.get(value)
        if row is None:
            new.append({**fields, "created_at": now, "updated_at": now})
            counts.bump(kind, "created")
            continue
        ids[value] = row["id"]
        if any(row.get(k) != v for k, v in fields.items()):
            changed.append({**fields, "id": row["id"], "updated_at": now})
            counts.bump(kind, "updated")
        else:
            counts.bump(kind, "unchanged")
    table = model.__table__
    if new:
        # A plain executemany (pipelined by psycopg) is far cheaper than INSERT .. RETURNING
        # of a thousand rows; the new ids are read back by key, an indexed lookup.
        session.execute(table.insert(), _same_keys(new))
        if want_ids:
            fresh = _rows_by(session, model, key, {r[key.key] for r in new})
            ids.update((value, row["id"]) for value, row in fresh.items())
    for group in _by_keys(changed):
        statement = (
            table.update()
            .where(table.c.id == bindparam("_id"))
            .values({k: bindparam(k) for k in group[0] if k != "id"})
        )
        session.execute(statement, [{**g, "_id": g["id"]} for g in group])
    return ids


def _same_keys(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every row the same keys (absent ones None) so one executemany inserts them all."""
    keys = {k for row in rows for k in row}
    return [{k: row.get(k) for k in keys} for row in rows]


def _by_keys(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return list(groups.values())


def _gift_items(
    session: Session, counts: ImportCounts, rows: list[_Row]
) -> dict[tuple[str, str], int]:
    """Return (supplier, item name) -> gift item id, creating the missing items."""
    gifts: dict[tuple[str, str], int] = {}
    wanted = sorted({r.values["supplier_id"] for r in rows})
    for gift in session.execute(
        select(GiftItem.id, GiftItem.supplier_id, GiftItem.name).where(
            GiftItem.supplier_id.in_(wanted)
        )
    ):
        gifts[(gift.supplier_id, gift.name)] = gift.id
    for row in rows:
        v = row.values
        key = (v["supplier_id"], v["item"])
        if key not in gifts:
            item = GiftItem(supplier_id=key[0], municipality_id=v["municipality"], name=key[1])
            session.add(item)
            session.flush()
            gifts[key] = item.id
            counts.bump("gift_items", "created")
    return gifts
