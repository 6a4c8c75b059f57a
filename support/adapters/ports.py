"""Ports: the interfaces every outside system is reached through.

Only `app.py`, `cli.py` and test fixtures pick a concrete adapter; everything else receives
one of these protocols.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """One document handed to a search index (an FAQ article, flattened)."""

    id: str
    title: str
    body: str
    answer_short: str = ""
    category: str = ""
    tags: Sequence[str] = field(default_factory=tuple)
    municipality: str | None = None
    published: bool = True


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked result of a search."""

    id: str
    score: float


class SearchIndex(Protocol):
    """Full-text search over FAQ articles, embedded or Elasticsearch."""

    def ping(self) -> bool:
        """Return True when the index can answer queries."""
        ...

    def upsert(self, docs: Sequence[SearchDocument]) -> None:
        """Add or replace documents."""
        ...

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents; unknown ids are ignored."""
        ...

    def search(
        self, query: str, *, municipality: str | None = None, top: int = 5
    ) -> list[SearchHit]:
        """Return the best published documents for a query, best first."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...


@dataclass(frozen=True, slots=True)
class FolderState:
    """What the server says about a folder: its UIDVALIDITY and the next UID it will assign."""

    uidvalidity: int
    uidnext: int
    exists: int


@dataclass(frozen=True, slots=True)
class FetchedMail:
    """One message as fetched: its UID in the folder and the raw RFC 5322 bytes."""

    uid: int
    raw: bytes


class MailFetcher(Protocol):
    """Reads new mail from one mail account (IMAP in production), folder by folder.

    The caller commits what it fetched, with the folder's cursor, before calling
    `mark_processed`: the server is changed only after the mail is safe here.
    """

    def folder_state(self, folder: str) -> FolderState:
        """Select the folder and return its state."""
        ...

    def fetch_after(self, folder: str, last_uid: int, limit: int) -> list[FetchedMail]:
        """Return up to `limit` messages with UID greater than `last_uid`, in UID order."""
        ...

    def mark_processed(self, folder: str, uids: Sequence[int]) -> None:
        """Flag (or move, as configured) messages that are committed here."""
        ...

    def wait_for_new(self, folder: str, timeout: float) -> bool:
        """Block until the folder may hold new mail (IDLE, or a poll) or the timeout passes."""
        ...

    def close(self) -> None:
        """Log out and drop the connection."""
        ...


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """A fully rendered message ready for the SMTP envelope."""

    envelope_from: str
    recipients: Sequence[str]
    data: bytes
    message_id: str


class SendError(Exception):
    """Sending failed; `permanent` says whether retrying can ever help."""

    def __init__(self, reason: str, *, permanent: bool, reached_server: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        # True when the server may have accepted the message before the failure was seen.
        self.reached_server = reached_server


class MailSender(Protocol):
    """Hands messages to the outbound mail server."""

    def send(self, mail: OutgoingMail, *, before_data: Callable[[], None] | None = None) -> None:
        """Send one message; raise SendError on failure.

        `before_data` is called once the server accepted the envelope, just before DATA: a
        failure before it is proof that the message was not delivered.
        """
        ...


class SentArchive(Protocol):
    """Keeps a copy of each sent message (the IMAP Sent folder)."""

    def append_sent(self, raw: bytes, *, message_id: str) -> bool:
        """Store one sent message unless a copy with this Message-ID is there; True if added."""
        ...
