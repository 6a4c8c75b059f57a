"""Input and output types of the outbound send guard, and the directory of known parties.

These are plain frozen dataclasses so that callers can build them from ORM rows, API
payloads or the demo ``world.json`` without the guard depending on any of those.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from support.mail.guards_text import (
    address_core,
    canonical_id,
    digits_only,
    edit_distance,
    email_key,
    org_key,
)

FindingCode = Literal[
    "recipient_not_on_ticket",
    "recipient_domain_typo",
    "foreign_pii",
    "salutation_mismatch",
    "unresolved_placeholder",
    "missing_attachment",
    "visible_recipients",
    "mynumber",
    "wrong_municipality",
]
Severity = Literal["block", "warn"]

# Findings are reported in this order, which is also the order the checks run in.
CODES: tuple[FindingCode, ...] = (
    "recipient_not_on_ticket",
    "recipient_domain_typo",
    "foreign_pii",
    "salutation_mismatch",
    "unresolved_placeholder",
    "missing_attachment",
    "visible_recipients",
    "mynumber",
    "wrong_municipality",
)

# Consumer mail providers whose near-misses are almost always typing errors.
PROVIDER_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.co.jp",
        "yahoo.com",
        "ymail.ne.jp",
        "docomo.ne.jp",
        "ezweb.ne.jp",
        "au.com",
        "softbank.ne.jp",
        "i.softbank.jp",
        "disney.ne.jp",
        "icloud.com",
        "me.com",
        "mac.com",
        "outlook.com",
        "outlook.jp",
        "hotmail.com",
        "hotmail.co.jp",
        "live.jp",
        "live.com",
        "msn.com",
        "nifty.com",
        "biglobe.ne.jp",
        "ocn.ne.jp",
        "so-net.ne.jp",
        "plala.or.jp",
        "ybb.ne.jp",
        "rakuten.jp",
        "excite.co.jp",
        "aol.com",
    }
)

# Domains seen in drafts repeat a lot; the bound only guards against unbounded growth.
_TYPO_CACHE_MAX = 10_000

_COMPANY_FORMS_RE = re.compile(r"株式会社|有限会社|合同会社|合資会社|合名会社|\((?:株|有)\)")


def _strings(value: Any) -> tuple[str, ...]:
    """Return a header value as a tuple of strings; a lone string is one entry."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


@dataclass(frozen=True, slots=True)
class Person:
    """A donor as the guard sees them."""

    id: str
    name: str
    kana: str
    email: str
    phone: str
    postal_code: str
    address: str


@dataclass(frozen=True, slots=True)
class OrderRef:
    """An order (one gift for one donation) and who it belongs to."""

    order_no: str
    donation_no: str
    donor_id: str
    municipality_id: str
    supplier_id: str


@dataclass(frozen=True, slots=True)
class MunicipalityRef:
    """A municipality served by the desk."""

    id: str
    name: str
    contact_email: str


@dataclass(frozen=True, slots=True)
class SupplierRef:
    """A gift supplier (返礼品提供事業者) of one municipality."""

    id: str
    name: str
    municipality_id: str
    email: str

    @property
    def name_forms(self) -> tuple[str, ...]:
        """Return the ways the supplier is named in mail: full and without 株式会社 etc."""
        full = org_key(self.name)
        short = _COMPANY_FORMS_RE.sub("", full)
        return (full, short) if short and short != full else (full,)


@dataclass(frozen=True, slots=True)
class TicketContext:
    """The ticket a draft answers: one donor, their orders, one municipality."""

    donor_id: str
    order_nos: Sequence[str]
    municipality_id: str

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TicketContext:
        """Build a ticket from the ``ticket`` object of an outbound draft record."""
        return cls(
            donor_id=str(data["donor_id"]),
            order_nos=_strings(data.get("order_ids", data.get("order_nos"))),
            municipality_id=str(data["municipality"]),
        )


@dataclass(frozen=True, slots=True)
class DraftMail:
    """An outbound draft exactly as it would be sent."""

    to: Sequence[str]
    cc: Sequence[str] = ()
    bcc: Sequence[str] = ()
    subject: str = ""
    body: str = ""
    attachments: Sequence[tuple[str, str]] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DraftMail:
        """Build a draft from an outbound draft record (``to``, ``cc``, ``attachments`` ...)."""
        return cls(
            to=_strings(data.get("to")),
            cc=_strings(data.get("cc")),
            bcc=_strings(data.get("bcc")),
            subject=str(data.get("subject", "")),
            body=str(data.get("body", "")),
            attachments=tuple(
                (str(a.get("filename", "")), str(a.get("text", "")))
                for a in data.get("attachments", ())
            ),
        )


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a finding was seen: the draft field and a short excerpt."""

    field: str
    snippet: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason a draft must not (block) or should not without a look (warn) be sent."""

    code: FindingCode
    severity: Severity
    message: str
    evidence: Evidence


class Directory:
    """Every donor, order, municipality and supplier the system knows, indexed for lookups."""

    def __init__(
        self,
        donors: Iterable[Person],
        orders: Iterable[OrderRef],
        municipalities: Iterable[MunicipalityRef],
        suppliers: Iterable[SupplierRef],
        *,
        internal_domains: Iterable[str] = (),
        provider_domains: Iterable[str] = PROVIDER_DOMAINS,
    ) -> None:
        self.donors: dict[str, Person] = {d.id: d for d in donors}
        self.orders: dict[str, OrderRef] = {canonical_id(o.order_no): o for o in orders}
        self.municipalities: dict[str, MunicipalityRef] = {m.id: m for m in municipalities}
        self.suppliers: dict[str, SupplierRef] = {s.id: s for s in suppliers}
        self.internal_domains: frozenset[str] = frozenset(d.casefold() for d in internal_domains)
        self.provider_domains: frozenset[str] = frozenset(d.casefold() for d in provider_domains)
        # A memo only: concurrent checks may race on it harmlessly.
        self._typo_cache: dict[str, str | None] = {}

        self.donor_by_email: dict[str, str] = {}
        self.municipality_by_email: dict[str, MunicipalityRef] = {}
        self.supplier_by_email: dict[str, SupplierRef] = {}
        # Identifier values (normalised) to their owners; a value may in theory be shared.
        self.emails: dict[str, set[str]] = {}
        self.phones: dict[str, set[str]] = {}
        self.postal_codes: dict[str, set[str]] = {}
        self.addresses: dict[str, set[str]] = {}
        self.alnum_ids: dict[str, tuple[str, set[str]]] = {}

        for donor in self.donors.values():
            key = email_key(donor.email)
            if key:
                self.donor_by_email.setdefault(key, donor.id)
                self.emails.setdefault(key, set()).add(donor.id)
            if phone := digits_only(donor.phone):
                self.phones.setdefault(phone, set()).add(donor.id)
            if postal := digits_only(donor.postal_code):
                self.postal_codes.setdefault(postal, set()).add(donor.id)
            if (core := address_core(donor.address)) and len(core) >= 6:
                self.addresses.setdefault(core, set()).add(donor.id)
        for order in self.orders.values():
            for kind, value in (("受付番号", order.order_no), ("寄附番号", order.donation_no)):
                if value:
                    entry = self.alnum_ids.setdefault(canonical_id(value), (kind, set()))
                    entry[1].add(order.donor_id)
        for municipality in self.municipalities.values():
            self.municipality_by_email[email_key(municipality.contact_email)] = municipality
        for supplier in self.suppliers.values():
            self.supplier_by_email[email_key(supplier.email)] = supplier

        # Names that mark a greeting as addressed to an organisation, not to a donor.
        self.org_names: tuple[str, ...] = tuple(
            sorted(
                {org_key(m.name) for m in self.municipalities.values() if m.name}
                | {form for s in self.suppliers.values() for form in s.name_forms if form}
            )
        )

        # One alternation over all address cores, longest first, so a scan is a single pass.
        cores = sorted(self.addresses, key=len, reverse=True)
        self.address_re: re.Pattern[str] | None = (
            re.compile("(?:" + "|".join(re.escape(c) for c in cores) + r")(?!\d|-\d)")
            if cores
            else None
        )

    @classmethod
    def from_world(
        cls, world: Mapping[str, Any], *, internal_domains: Iterable[str] = ()
    ) -> Directory:
        """Build a directory from the parsed ``world.json`` structure."""
        return cls(
            donors=[
                Person(
                    id=str(d["id"]),
                    name=str(d.get("name", "")),
                    kana=str(d.get("kana", "")),
                    email=str(d.get("email", "")),
                    phone=str(d.get("phone", "")),
                    postal_code=str(d.get("postal_code", "")),
                    address=str(d.get("address", "")),
                )
                for d in world.get("donors", ())
            ],
            orders=[
                OrderRef(
                    order_no=str(o["id"]),
                    donation_no=str(o.get("donation_no", "")),
                    donor_id=str(o.get("donor_id", "")),
                    municipality_id=str(o.get("municipality", "")),
                    supplier_id=str(o.get("supplier_id", "")),
                )
                for o in world.get("orders", ())
            ],
            municipalities=[
                MunicipalityRef(
                    id=str(m["id"]),
                    name=str(m.get("name", "")),
                    contact_email=str(m.get("contact_email", "")),
                )
                for m in world.get("municipalities", ())
            ],
            suppliers=[
                SupplierRef(
                    id=str(s["id"]),
                    name=str(s.get("name", "")),
                    municipality_id=str(s.get("municipality", "")),
                    email=str(s.get("email", "")),
                )
                for s in world.get("suppliers", ())
            ],
            internal_domains=internal_domains,
        )

    def order(self, order_no: str) -> OrderRef | None:
        """Return the order with this number, in any spelling (full-width, no hyphens)."""
        return self.orders.get(canonical_id(order_no))

    def provider_typo(self, domain: str) -> str | None:
        """Return the provider domain that ``domain`` looks like a typo of, or None."""
        domain = domain.casefold()
        if domain not in self._typo_cache:
            best: tuple[int, str] | None = None
            if domain not in self.provider_domains:
                for provider in sorted(self.provider_domains):
                    # Two edits from a six-letter provider (au.com, me.com) reach too many
                    # legitimate domains, so short providers allow one edit only.
                    limit = 2 if len(provider) >= 8 else 1
                    distance = edit_distance(domain, provider, limit=limit)
                    if distance <= limit and (best is None or distance < best[0]):
                        best = (distance, provider)
            if len(self._typo_cache) >= _TYPO_CACHE_MAX:
                self._typo_cache.clear()
            self._typo_cache[domain] = best[1] if best else None
        return self._typo_cache[domain]
