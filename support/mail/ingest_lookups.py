"""What the ingest filters look up, fetched once per batch instead of once per mail.

A batch of 100 mails asks the database a handful of questions (which of these dedupe keys are
stored, which donors have these addresses, which tickets hold these Message-IDs, which orders
carry these numbers) instead of a dozen per mail. The answers are then kept up to date with the
mails of the batch itself, in order, so that a reply that arrives in the same batch as the mail
it answers still joins its conversation, and a mail delivered twice in one batch is stored once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support.mail.models import MailMessage
from support.mail.parsing_types import ParsedMail
from support.mail.references import find_donation_numbers, find_order_numbers
from support.tickets import channels as tickets

if TYPE_CHECKING:
    from support.tickets.models import Ticket

_IN_CHUNK = 500
_T = TypeVar("_T")
# Ranks messages stored by this batch above every stored one: they are the newest.
_IN_BATCH_RANK = 1 << 62


def _chunks(values: Collection[_T]) -> Iterator[list[_T]]:
    items = list(values)
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


@dataclass(eq=False)
class TicketSlot:
    """The conversation a mail joins: a stored ticket, or one a mail of this batch opens."""

    ticket: Ticket | None = None
    senders: set[str] = field(default_factory=set)

    @property
    def ticket_id(self) -> int | None:
        """Return the ticket's id, or None while it is still to be opened."""
        return self.ticket.id if self.ticket is not None else None


@dataclass(frozen=True)
class MailText:
    """The numbers a mail quotes: order numbers and donation numbers."""

    order_nos: list[str]
    donation_nos: list[str]

    @classmethod
    def of(cls, parsed: ParsedMail) -> MailText:
        """Return the numbers found in the subject and body."""
        text = f"{parsed.subject}\n{parsed.text}"
        return cls(find_order_numbers(text), find_donation_numbers(text))


class BatchLookups:
    """Answers to the filters' questions for one batch, prefetched in a few queries."""

    def __init__(
        self,
        session: Session,
        *,
        parsed: Sequence[ParsedMail],
        keys: Sequence[str],
        texts: Sequence[MailText],
    ) -> None:
        """Prefetch for the batch's parsed mails, their dedupe keys and the numbers they quote."""
        self.session = session
        self._stored = self._load_stored(keys)
        self._donors = tickets.donor_ids_by_emails(
            session=session, emails=[p.from_addr for p in parsed if p.from_addr]
        )
        self._municipalities: set[str] | None = None
        self._orders = tickets.order_refs_by_numbers(
            session=session,
            order_nos={n for t in texts for n in t.order_nos},
            donation_nos={n for t in texts for n in t.donation_nos},
        )
        self._slots: dict[int, TicketSlot] = {}
        self._threads = self._load_threads(parsed)
        self._by_key: dict[str, object] = {}

    # Deduplication -----------------------------------------------------------------------

    def _load_stored(self, keys: Sequence[str]) -> dict[str, MailMessage]:
        found: dict[str, MailMessage] = {}
        for chunk in _chunks(set(keys)):
            found.update(
                (m.dedupe_key, m)
                for m in self.session.scalars(
                    select(MailMessage).where(MailMessage.dedupe_key.in_(chunk))
                )
            )
        return found

    def stored(self, key: str) -> MailMessage | None:
        """Return the stored message with this dedupe key, if any."""
        return self._stored.get(key)

    def in_batch(self, key: str) -> object | None:
        """Return the earlier mail of this batch with this dedupe key, if any."""
        return self._by_key.get(key)

    # Senders, municipalities, orders ----------------------------------------------------

    def donor_for(self, address: str) -> str | None:
        """Return the one donor with this address, or None."""
        return self._donors.get(address.strip().lower())

    def municipality_exists(self, municipality_id: str) -> bool:
        """Return True when the municipality is registered."""
        if self._municipalities is None:
            self._municipalities = tickets.municipality_ids(session=self.session)
        return municipality_id in self._municipalities

    def orders(self, text: MailText) -> list[tickets.OrderRef]:
        """Return the stored orders this text's order or donation numbers name."""
        orders, donations = set(text.order_nos), set(text.donation_nos)
        return [o for o in self._orders if o.order_no in orders or o.donation_no in donations]

    # Threads ----------------------------------------------------------------------------

    def _load_threads(self, parsed: Sequence[ParsedMail]) -> dict[str, tuple[int, TicketSlot]]:
        """Map each Message-ID the batch refers to onto (rank, conversation)."""
        wanted = {ref for p in parsed for ref in (*p.references, p.in_reply_to or "") if ref}
        newest: dict[str, int] = {}
        for chunk in _chunks(wanted):
            grouped = (
                select(MailMessage.message_id, func.max(MailMessage.id))
                .where(MailMessage.message_id.in_(chunk))
                .group_by(MailMessage.message_id)
            )
            for message_id, newest_id in self.session.execute(grouped):
                if message_id is not None:
                    newest[message_id] = newest_id
        ticket_of: dict[int, int] = {}
        for ids in _chunks(list(newest.values())):
            owners = select(MailMessage.id, MailMessage.ticket_id).where(MailMessage.id.in_(ids))
            ticket_of.update((row.id, row.ticket_id) for row in self.session.execute(owners))
        # Replies to our supplier notices (not stored as mail) thread by the notice's id.
        notices = tickets.tickets_by_notice_ids(session=self.session, message_ids=wanted)
        slots = self.slots_for([*ticket_of.values(), *notices.values()])
        threads = {m: (0, slots[t]) for m, t in notices.items() if t in slots}
        threads.update(
            (message_id, (rank, slots[ticket_of[rank]]))
            for message_id, rank in newest.items()
            if ticket_of.get(rank) in slots
        )
        return threads

    def slots_for(self, ticket_ids: Collection[int]) -> dict[int, TicketSlot]:
        """Return the conversation of each stored ticket id (following merges), loading once."""
        missing = [t for t in ticket_ids if t not in self._slots]
        if missing:
            loaded = tickets.tickets_by_ids(session=self.session, ticket_ids=missing)
            for ticket_id, ticket in loaded.items():
                self._slots[ticket_id] = self._slots.get(ticket.id) or TicketSlot(ticket)
                self._slots.setdefault(ticket.id, self._slots[ticket_id])
        return {t: self._slots[t] for t in ticket_ids if t in self._slots}

    def thread_of(self, message_ids: Sequence[str]) -> TicketSlot | None:
        """Return the conversation of the newest stored message among these Message-IDs."""
        ranked = [self._threads[m] for m in message_ids if m in self._threads]
        return max(ranked, key=lambda pair: pair[0])[1] if ranked else None

    def sender_wrote_in(self, slot: TicketSlot, sender: str) -> bool:
        """Return True when this address sent a message stored on the conversation."""
        if sender in slot.senders:
            return True
        if slot.ticket is None:
            return False
        query = select(MailMessage.id).where(
            MailMessage.ticket_id == slot.ticket.id, MailMessage.from_addr == sender
        )
        return self.session.scalar(query.limit(1)) is not None

    def is_supplier_of(self, ticket: Ticket, sender: str) -> bool:
        """Return True when the address is the ticket's supplier's."""
        return tickets.is_supplier_address(session=self.session, ticket=ticket, address=sender)

    def outbound_among(self, message_ids: Sequence[str]) -> MailMessage | None:
        """Return our newest outbound mail with one of these Message-IDs (a bounce's cause)."""
        query = (
            select(MailMessage)
            .where(MailMessage.direction == "outbound", MailMessage.message_id.in_(message_ids))
            .order_by(MailMessage.id.desc())
            .limit(1)
        )
        return self.session.scalar(query)

    def remember(
        self,
        key: str,
        item: object,
        *,
        message_id: str | None,
        sender: str | None,
        slot: TicketSlot,
    ) -> None:
        """Record a mail this batch stores, for the batch's later mails to find."""
        self._by_key[key] = item
        if sender:
            slot.senders.add(sender)
        if message_id:
            self._threads[message_id] = (_IN_BATCH_RANK + len(self._by_key), slot)
