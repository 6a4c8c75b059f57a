"""The inbound filters: small steps, each named for what it does, run in order on every mail.

Filters only read (through the batch's lookups) and decide; they write nothing. Storing is
the next stage's job, so a batch of mails can be decided one by one and written together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from support.mail.ingest_lookups import BatchLookups, MailText, TicketSlot
from support.mail.models import MailMessage
from support.mail.parsing_types import ParsedMail

_TICKET_TAG = re.compile(r"\[#(\d{1,9})\]")


@dataclass(frozen=True)
class MailboxConfig:
    """Our own addresses, and which municipality each address serves."""

    our_addresses: frozenset[str] = frozenset()
    municipality_by_address: dict[str, str] = field(default_factory=dict)

    def is_ours(self, address: str | None) -> bool:
        """Return True when the address is one of the desk's own."""
        return address is not None and address.lower() in self.our_addresses


@dataclass(eq=False)
class Inbound:
    """A message on its way through the filters."""

    raw: bytes
    parsed: ParsedMail
    text: MailText
    dedupe_key: str
    delivered_to: list[str]
    source: dict[str, object]
    received_at: datetime
    problems: list[str] = field(default_factory=list)
    is_loop: bool = False
    bounce_of: MailMessage | None = None
    donor_id: str | None = None
    slot: TicketSlot | None = None
    opens_ticket: bool = False
    order_ids: list[int] = field(default_factory=list)
    municipality_id: str | None = None
    duplicate_of: MailMessage | Inbound | None = None
    stored: MailMessage | None = None


Filter = Callable[[BatchLookups, Inbound, MailboxConfig], None]


def find_duplicate(lookups: BatchLookups, item: Inbound, _config: MailboxConfig) -> None:
    """Find the stored copy of this exact mail, or an earlier copy in the same batch."""
    earlier = lookups.stored(item.dedupe_key) or lookups.in_batch(item.dedupe_key)
    if isinstance(earlier, MailMessage | Inbound):
        item.duplicate_of = earlier


def detect_loop(_lookups: BatchLookups, item: Inbound, config: MailboxConfig) -> None:
    """Flag mail that claims to come from one of our own addresses."""
    if config.is_ours(item.parsed.from_addr):
        item.is_loop = True
        item.problems.append("差出人が当窓口自身のアドレスです（ループの可能性）")


def link_bounce(lookups: BatchLookups, item: Inbound, _config: MailboxConfig) -> None:
    """Tie a bounce to the outbound mail that caused it."""
    parsed = item.parsed
    if parsed.auto_kind != "bounce":
        return
    candidates = [*parsed.references, *([parsed.in_reply_to] if parsed.in_reply_to else [])]
    if parsed.dsn is not None and parsed.dsn.original_message_id:
        candidates.insert(0, parsed.dsn.original_message_id.strip("<>"))
    if candidates:
        item.bounce_of = lookups.outbound_among(candidates)


def identify_sender(lookups: BatchLookups, item: Inbound, _config: MailboxConfig) -> None:
    """Name the donor by the sender's address, when exactly one donor has it."""
    if item.is_loop or item.parsed.auto_kind == "bounce" or not item.parsed.from_addr:
        return
    item.donor_id = lookups.donor_for(item.parsed.from_addr)


def label_municipality(lookups: BatchLookups, item: Inbound, config: MailboxConfig) -> None:
    """Take the municipality from the address the mail was sent to, when it serves one."""
    recipients = [*item.delivered_to, *item.parsed.to, *item.parsed.cc]
    for address in recipients:
        municipality = config.municipality_by_address.get(address.lower())
        if municipality is not None:
            if lookups.municipality_exists(municipality):
                item.municipality_id = municipality
            else:
                item.problems.append(f"宛先 {address} の自治体 {municipality} は未登録です")
            return


def match_thread(lookups: BatchLookups, item: Inbound, _config: MailboxConfig) -> None:
    """Find the ticket: the bounced mail's, then In-Reply-To/References, then a [#id] tag."""
    if item.bounce_of is not None:
        item.slot = lookups.slots_for([item.bounce_of.ticket_id]).get(item.bounce_of.ticket_id)
        return
    parsed = item.parsed
    ids = [*([parsed.in_reply_to] if parsed.in_reply_to else []), *reversed(parsed.references)]
    item.slot = lookups.thread_of(ids)
    if item.slot is not None:
        return
    for tag in _TICKET_TAG.findall(parsed.subject):
        slot = lookups.slots_for([int(tag)]).get(int(tag))
        if slot is not None and _may_join(lookups, slot, item):
            item.slot = slot
            return


def _may_join(lookups: BatchLookups, slot: TicketSlot, item: Inbound) -> bool:
    """Only a participant may reopen a ticket by quoting its number; anyone could type it."""
    ticket = slot.ticket
    if ticket is not None and ticket.donor_id is not None and item.donor_id is not None:
        return ticket.donor_id == item.donor_id
    sender = item.parsed.from_addr
    if sender is not None and ticket is not None and lookups.is_supplier_of(ticket, sender):
        return True  # the supplier answering the complaint we forwarded to it
    return sender is not None and lookups.sender_wrote_in(slot, sender)


def link_orders(lookups: BatchLookups, item: Inbound, _config: MailboxConfig) -> None:
    """Link the order and donation numbers in the mail that belong to this donor, only."""
    text = item.text
    if not text.order_nos and not text.donation_nos:
        return
    found = lookups.orders(text)
    own = [o for o in found if item.donor_id is not None and o.donor_id == item.donor_id]
    item.order_ids = [o.id for o in own]
    if len(own) < len(found) or len(found) < len(text.order_nos) + len(text.donation_nos):
        item.problems.append("本文中の注文番号・寄附番号の一部は差出人の注文として確認できません")
    if own and item.municipality_id is None:
        item.municipality_id = own[0].municipality_id


FILTERS: Sequence[Filter] = (
    find_duplicate,
    detect_loop,
    link_bounce,
    identify_sender,
    label_municipality,
    match_thread,
    link_orders,
)


def run_filters(lookups: BatchLookups, item: Inbound, config: MailboxConfig) -> None:
    """Run every filter on the mail, stopping at a duplicate; name its conversation."""
    for step in FILTERS:
        step(lookups, item, config)
        if item.duplicate_of is not None:
            return
    if item.slot is None:
        item.slot = TicketSlot()
        item.opens_ticket = True
    lookups.remember(
        item.dedupe_key,
        item,
        message_id=item.parsed.message_id,
        sender=item.parsed.from_addr,
        slot=item.slot,
    )
