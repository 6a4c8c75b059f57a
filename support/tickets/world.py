"""Import of a world file (municipalities, suppliers, donors, orders), idempotent.

Loading the same file twice changes nothing: rows are matched by their natural keys and only
fields that differ are written. The whole file loads in the caller's transaction or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from support.db import Base
from support.errors import InvalidWorldFile
from support.tickets.models import Donation, Donor, GiftItem, Municipality, Order, Supplier

_CHUNK = 500
M = TypeVar("M", bound=Base)


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class WorldMunicipality(_Item):
    id: str = Field(min_length=1, max_length=40)
    name: str
    prefecture: str
    contact_email: str


class WorldSupplier(_Item):
    id: str = Field(min_length=1, max_length=40)
    name: str
    municipality: str
    email: str
    fax: str | None = None


class WorldDonor(_Item):
    id: str = Field(min_length=1, max_length=40)
    name: str
    kana: str | None = None
    email: str | None = None

    @field_validator("email")
    @classmethod
    def _lower_email(cls, value: str | None) -> str | None:
        # Stored lower-cased so that inbound mail finds its donor through the plain index.
        return value.lower() if value else value

    phone: str | None = None
    postal_code: str | None = None
    address: str | None = None
    municipality_of_residence: str | None = None


class WorldOrder(_Item):
    id: str = Field(min_length=1, max_length=60)
    donation_no: str | None = None
    donor_id: str
    municipality: str
    supplier_id: str
    item: str
    amount_yen: int = Field(ge=0)
    status: str
    tracking_no: str | None = None
    portal: str
    ordered_at: date | None = None
    shipped_at: date | None = None
    delivered_at: date | None = None
    carrier: str | None = None


class World(_Item):
    """The whole file."""

    municipalities: list[WorldMunicipality] = []
    suppliers: list[WorldSupplier] = []
    donors: list[WorldDonor] = []
    orders: list[WorldOrder] = []


@dataclass
class ImportCounts:
    """How many rows of each kind were created, updated or already equal."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    def bump(self, kind: str, outcome: str) -> None:
        """Count one row."""
        bucket: dict[str, int] = getattr(self, outcome)
        bucket[kind] = bucket.get(kind, 0) + 1


def read_world(path: Path) -> World:
    """Parse and validate a world file; raise InvalidWorldFile with a one-line reason."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidWorldFile(f"{path}: ファイルがありません") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidWorldFile(f"{path}: 読み込めません ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise InvalidWorldFile(f"{path}: JSON の形式が不正です (line {exc.lineno})") from exc
    try:
        return World.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidWorldFile(f"{path}: {where}: {first['msg']}") from exc


def _apply(row: Base, values: dict[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def _chunks(keys: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(keys), _CHUNK):
        yield keys[start : start + _CHUNK]


def _existing(session: Session, model: type[M], column: Any, keys: Sequence[Any]) -> dict[Any, M]:
    found: dict[Any, M] = {}
    for chunk in _chunks(list(dict.fromkeys(keys))):
        for row in session.scalars(select(model).where(column.in_(chunk))):
            found[getattr(row, column.key)] = row
    return found


def _upsert(
    session: Session,
    counts: ImportCounts,
    kind: str,
    existing: dict[Any, M],
    key: Any,
    values: dict[str, Any],
    model: type[M],
) -> M:
    row = existing.get(key)
    if row is None:
        row = model(**values)
        session.add(row)
        existing[key] = row
        counts.bump(kind, "created")
    elif _apply(row, values):
        counts.bump(kind, "updated")
    else:
        counts.bump(kind, "unchanged")
    return row


def _check_refs(world: World, session: Session) -> None:
    def known(model: type[Base], ids: set[str], wanted: set[str]) -> set[str]:
        missing = wanted - ids
        if missing:
            col = model.__table__.c.id
            missing -= set(session.scalars(select(col).where(col.in_(sorted(missing)))))
        return missing

    munis = {m.id for m in world.municipalities}
    sups = {s.id for s in world.suppliers}
    donors = {d.id for d in world.donors}
    for label, model, ids, wanted in (
        (
            "municipality",
            Municipality,
            munis,
            {s.municipality for s in world.suppliers} | {o.municipality for o in world.orders},
        ),
        ("supplier", Supplier, sups, {o.supplier_id for o in world.orders}),
        ("donor", Donor, donors, {o.donor_id for o in world.orders}),
    ):
        missing = known(model, ids, wanted)
        if missing:
            raise InvalidWorldFile(f"未登録の{label}を参照しています: {', '.join(sorted(missing))}")
    supplier_city = {s.id: s.municipality for s in world.suppliers}
    for order in world.orders:
        city = supplier_city.get(order.supplier_id)
        if city is not None and city != order.municipality:
            raise InvalidWorldFile(
                f"注文 {order.id}: 事業者 {order.supplier_id} は"
                f" {order.municipality} の事業者ではありません"
            )


def load_world(*, session: Session, world: World) -> ImportCounts:
    """Upsert every record of the world into the caller's transaction."""
    _check_refs(world, session)
    counts = ImportCounts()
    munis = _existing(session, Municipality, Municipality.id, [m.id for m in world.municipalities])
    for m in world.municipalities:
        _upsert(
            session,
            counts,
            "municipalities",
            munis,
            m.id,
            {
                "id": m.id,
                "name": m.name,
                "prefecture": m.prefecture,
                "contact_email": m.contact_email,
            },
            Municipality,
        )
    session.flush()
    sups = _existing(session, Supplier, Supplier.id, [s.id for s in world.suppliers])
    for s in world.suppliers:
        _upsert(
            session,
            counts,
            "suppliers",
            sups,
            s.id,
            {
                "id": s.id,
                "name": s.name,
                "municipality_id": s.municipality,
                "email": s.email,
                "fax": s.fax,
            },
            Supplier,
        )
    donors = _existing(session, Donor, Donor.id, [d.id for d in world.donors])
    for d in world.donors:
        _upsert(session, counts, "donors", donors, d.id, d.model_dump(), Donor)
    session.flush()
    _load_orders(session, counts, world.orders)
    session.flush()
    return counts


def _load_orders(session: Session, counts: ImportCounts, orders: list[WorldOrder]) -> None:
    gifts: dict[tuple[str, str], GiftItem] = {}
    for chunk in _chunks(sorted({o.supplier_id for o in orders})):
        for gift in session.scalars(select(GiftItem).where(GiftItem.supplier_id.in_(chunk))):
            gifts[(gift.supplier_id, gift.name)] = gift
    offered = {(o.supplier_id, o.item): o.municipality for o in orders}
    for (supplier_id, item), municipality_id in offered.items():
        _upsert(
            session,
            counts,
            "gift_items",
            gifts,
            (supplier_id, item),
            {"supplier_id": supplier_id, "municipality_id": municipality_id, "name": item},
            GiftItem,
        )
    session.flush()
    donations = _existing(
        session, Donation, Donation.donation_no, [o.donation_no for o in orders if o.donation_no]
    )
    for o in orders:
        if o.donation_no:
            _upsert(
                session,
                counts,
                "donations",
                donations,
                o.donation_no,
                {
                    "donation_no": o.donation_no,
                    "donor_id": o.donor_id,
                    "municipality_id": o.municipality,
                    "amount_yen": o.amount_yen,
                    "portal": o.portal,
                    "donated_on": o.ordered_at,
                },
                Donation,
            )
    session.flush()
    existing: dict[tuple[str, str], Order] = {}
    keys = [(o.portal, o.id) for o in orders]
    for chunk in _chunks(keys):
        for row in session.scalars(
            select(Order).where(tuple_(Order.portal, Order.order_no).in_(chunk))
        ):
            existing[(row.portal, row.order_no)] = row
    for o in orders:
        values = {
            "portal": o.portal,
            "order_no": o.id,
            "donation_id": donations[o.donation_no].id if o.donation_no else None,
            "donor_id": o.donor_id,
            "municipality_id": o.municipality,
            "supplier_id": o.supplier_id,
            "gift_item_id": gifts[(o.supplier_id, o.item)].id,
            "status": o.status,
            "ordered_on": o.ordered_at,
            "shipped_on": o.shipped_at,
            "delivered_on": o.delivered_at,
            "carrier": o.carrier,
            "tracking_no": o.tracking_no,
        }
        _upsert(session, counts, "orders", existing, (o.portal, o.id), values, Order)
