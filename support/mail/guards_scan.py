"""One draft normalised against its ticket, shared by every send-guard check.

Normalising, parsing recipients and reading numbers happens once here, so each check is a
cheap pass over prepared data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import getaddresses

from support.mail.guards_model import (
    Directory,
    DraftMail,
    Evidence,
    Finding,
    FindingCode,
    MunicipalityRef,
    OrderRef,
    Person,
    Severity,
    TicketContext,
)
from support.mail.guards_text import (
    NumberCandidate,
    canonical_id,
    edit_distance,
    email_key,
    normalize,
    number_candidates,
    org_key,
    own_part,
)

# Leaks to the wrong person and lost mail block; wrong-but-harmless text only warns, because
# those checks are heuristic and an operator may knowingly override them.
SEVERITY: dict[FindingCode, Severity] = {
    "recipient_not_on_ticket": "block",
    "recipient_domain_typo": "block",
    "foreign_pii": "block",
    "salutation_mismatch": "warn",
    "unresolved_placeholder": "warn",
    "missing_attachment": "warn",
    "visible_recipients": "block",
    "mynumber": "block",
    "wrong_municipality": "warn",
}

# A line that says who else receives the mail: "（cc：…）", "…にもccにて共有", "写しを…",
# "…にも本メールをお送りしております".
_CC_NOTE_RE = re.compile(
    r"(?<![A-Za-z])cc(?![A-Za-z])|写し|同報|にも[^。\n]{0,12}(?:お送り|送付|共有|転送)",
    re.IGNORECASE,
)
# The greeting block is the opening lines up to the first blank line, kept short so that a
# draft without a blank line does not turn its whole first paragraph into "greeting".
_GREETING_MAX_LINES = 3


def make_finding(code: FindingCode, message: str, where: str, excerpt: str) -> Finding:
    """Return a finding with the severity that belongs to ``code``."""
    return Finding(code, SEVERITY[code], message, Evidence(where, excerpt))


@dataclass(frozen=True, slots=True)
class TextField:
    """One normalised piece of the draft, labelled for the operator."""

    label: str
    text: str
    is_attachment: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a To/Cc address may receive the draft, and whose personal address it is."""

    allowed: bool
    reason: str
    person: str | None


class DraftScan:
    """A draft normalised once against its ticket and the directory."""

    def __init__(self, draft: DraftMail, ticket: TicketContext, directory: Directory) -> None:
        self.draft = draft
        self.ticket = ticket
        self.directory = directory
        self.donor: Person | None = directory.donors.get(ticket.donor_id)
        self.municipality: MunicipalityRef | None = directory.municipalities.get(
            ticket.municipality_id
        )
        self.subject = normalize(draft.subject)
        self.body = normalize(draft.body)
        self.own_body = own_part(self.body)

        # Everything that leaves the house, quoted history included.
        self.sent: list[TextField] = [TextField("件名", self.subject), TextField("本文", self.body)]
        # What the desk wrote itself: quoted donor text cannot be a template mistake.
        self.authored: list[TextField] = [
            TextField("件名", self.subject),
            TextField("本文", self.own_body),
        ]
        for raw_name, raw_text in draft.attachments:
            name, text = normalize(raw_name), normalize(raw_text)
            for target in (self.sent, self.authored):
                target.append(TextField(f"添付「{name}」", text, is_attachment=True))
                target.append(TextField("添付ファイル名", name))

        lines = self.body.splitlines()
        start = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
        self.first_line = lines[start].strip() if start < len(lines) else ""
        greeting: list[str] = []
        for line in lines[start : start + _GREETING_MAX_LINES]:
            if not line.strip():
                break
            greeting.append(line)
        notes = [line for line in self.own_body.splitlines() if _CC_NOTE_RE.search(line)]
        # Addressing a city office or a supplier counts only in the greeting or a cc note.
        self.addressed_text = org_key("\n".join(greeting + notes))

        self.ticket_orders: list[OrderRef] = [
            o for o in (directory.order(n) for n in ticket.order_nos) if o is not None
        ]
        self.ticket_supplier_ids = {o.supplier_id for o in self.ticket_orders}
        # Orders on the ticket are the donor's own even if the directory disagrees.
        self.own_ids = {canonical_id(n) for n in ticket.order_nos}
        self.own_ids |= {canonical_id(o.donation_no) for o in self.ticket_orders}

        self._recipients: list[tuple[str, str]] = []
        for header in ("to", "cc", "bcc"):
            values = [normalize(v) for v in getattr(draft, header)]
            self._recipients += [(header, email_key(a)) for _, a in getaddresses(values) if a]
        self._verdicts: dict[str, Verdict] = {}
        self._numbers: dict[str, list[NumberCandidate]] = {}

    def recipients(self, *headers: str) -> Iterator[tuple[str, str]]:
        """Yield (header, case-folded address) for the given headers ("to", "cc", "bcc")."""
        return ((h, a) for h, a in self._recipients if h in headers)

    def numbers(self, text: str) -> list[NumberCandidate]:
        """Return the number candidates of one field's text, read once per draft."""
        if text not in self._numbers:
            self._numbers[text] = list(number_candidates(text))
        return self._numbers[text]

    def names_org(self, forms: tuple[str, ...]) -> bool:
        """Return True when the greeting or a cc note names the organisation."""
        return any(form and form in self.addressed_text for form in forms)

    def verdict(self, address: str) -> Verdict:
        """Return whether a To/Cc address belongs on this ticket, and whose it is."""
        if address not in self._verdicts:
            self._verdicts[address] = self._judge(address)
        return self._verdicts[address]

    def _judge(self, address: str) -> Verdict:
        d = self.directory
        if self.donor is not None and address == email_key(self.donor.email):
            return Verdict(True, "", self.donor.id)
        if address.rsplit("@", 1)[-1] in d.internal_domains:
            return Verdict(True, "", None)
        municipality = d.municipality_by_email.get(address)
        if municipality is not None:
            if municipality.id != self.ticket.municipality_id:
                return Verdict(False, f"他の自治体（{municipality.name}）の窓口です", None)
            if self.names_org((org_key(municipality.name),)):
                return Verdict(True, "", None)
            return Verdict(
                False, f"{municipality.name}の窓口ですが、宛名にもcc注記にも出てきません", None
            )
        supplier = d.supplier_by_email.get(address)
        if supplier is not None:
            if supplier.id not in self.ticket_supplier_ids:
                return Verdict(False, f"この注文の事業者ではありません（{supplier.name}）", None)
            if self.names_org(supplier.name_forms):
                return Verdict(True, "", None)
            return Verdict(
                False, f"事業者（{supplier.name}）ですが、宛名にもcc注記にも出てきません", None
            )
        other = d.donor_by_email.get(address)
        if other is not None:
            return Verdict(False, f"別の寄附者（{d.donors[other].name} 様）のアドレスです", other)
        if self.donor is not None and _same_person(address, self.donor):
            return Verdict(False, "寄附者の登録アドレスと違います（入力ミスの疑い）", self.donor.id)
        for person in d.donors.values():
            if _same_person(address, person):
                return Verdict(
                    False, f"登録のないアドレスです（{person.name} 様のものに類似）", person.id
                )
        return Verdict(False, "登録のないアドレスです", address)


def _same_person(address: str, person: Person) -> bool:
    """Return True when an unknown address looks like a variant of the person's address."""
    own = email_key(person.email)
    if not own:
        return False
    local, own_local = address.split("@")[0], own.split("@")[0]
    return (
        local == own_local
        or local.startswith(own_local + ".")
        or edit_distance(address, own, limit=2) <= 2
    )
