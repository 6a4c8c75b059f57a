"""Send guard: check every outbound draft for misdirection before it may be sent.

Pure code over plain dataclasses: no I/O, no database. Build a ``Directory`` once from all
known donors, orders, municipalities and suppliers, then call ``check_draft`` per draft.
It runs one small check per finding code, in the order of ``CODES``:

- recipient_not_on_ticket: To/Cc other than the donor, or than the ticket's city office or
  order supplier when the greeting or a cc note addresses them.
- recipient_domain_typo: a To/Cc/Bcc domain close to a common provider domain.
- foreign_pii: another donor's e-mail, phone, postal code, address, order or donation number.
- salutation_mismatch: the first-line greeting names someone other than the donor.
- unresolved_placeholder: template leftovers ({{name}}, ○○, XXXX, 【お名前】 ...).
- missing_attachment: the text says a file is attached and none is.
- visible_recipients: To/Cc expose personal addresses of several people to each other.
- mynumber: a 12-digit 個人番号 with a valid check digit.
- wrong_municipality: another served municipality presented as destination or desk.

Severity: leaks to the wrong person and lost mail (recipient_not_on_ticket,
recipient_domain_typo, foreign_pii, visible_recipients, mynumber) block sending; wrong but
harmless text (salutation_mismatch, unresolved_placeholder, missing_attachment,
wrong_municipality) warns, because those checks are heuristic and the operator may
knowingly override them. Messages are Japanese and may name the offending value, since
only the operator sees them; a 個人番号 is always masked.
"""

from __future__ import annotations

from collections.abc import Callable

from support.mail.guards_content import (
    check_foreign_pii,
    check_missing_attachment,
    check_mynumber,
    check_placeholders,
    check_salutation,
    check_wrong_municipality,
)
from support.mail.guards_model import (
    CODES,
    PROVIDER_DOMAINS,
    Directory,
    DraftMail,
    Evidence,
    Finding,
    FindingCode,
    MunicipalityRef,
    OrderRef,
    Person,
    Severity,
    SupplierRef,
    TicketContext,
)
from support.mail.guards_recipients import (
    check_domain_typos,
    check_recipients_on_ticket,
    check_visible_recipients,
)
from support.mail.guards_scan import SEVERITY, DraftScan

__all__ = [
    "CHECKS",
    "CODES",
    "PROVIDER_DOMAINS",
    "SEVERITY",
    "Directory",
    "DraftMail",
    "DraftScan",
    "Evidence",
    "Finding",
    "FindingCode",
    "MunicipalityRef",
    "OrderRef",
    "Person",
    "Severity",
    "SupplierRef",
    "TicketContext",
    "blocking",
    "check_draft",
]

Check = Callable[[DraftScan], list[Finding]]

# One check per code, in the order of CODES, so findings come out in that order.
CHECKS: tuple[Check, ...] = (
    check_recipients_on_ticket,
    check_domain_typos,
    check_foreign_pii,
    check_salutation,
    check_placeholders,
    check_missing_attachment,
    check_visible_recipients,
    check_mynumber,
    check_wrong_municipality,
)


def check_draft(draft: DraftMail, ticket: TicketContext, directory: Directory) -> list[Finding]:
    """Return every misdirection finding for ``draft``, ordered as in ``CODES``."""
    scan = DraftScan(draft, ticket, directory)
    findings: list[Finding] = []
    for check in CHECKS:
        findings.extend(check(scan))
    return findings


def blocking(findings: list[Finding]) -> bool:
    """Return True when any finding forbids sending the draft."""
    return any(f.severity == "block" for f in findings)
