"""The compose pane: the send-guard findings of a draft as it is typed."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from support.auth.actor import Actor
from support.config import Settings
from support.mail import guards
from support.mail.directory import load_directory
from support.tickets import overview, work

# The guard's directory (every donor and order) is loaded once and reused for this long:
# a donor added a minute ago is checked against on the next refresh.
DIRECTORY_TTL_SECONDS = 60.0


@dataclass
class _Cached:
    directory: guards.Directory
    loaded_at: float


class DirectoryCache:
    """The send guard's directory, shared by the requests of one process."""

    def __init__(self, ttl: float = DIRECTORY_TTL_SECONDS) -> None:
        """Start empty."""
        self.ttl = ttl
        self._cached: _Cached | None = None
        self._lock = threading.Lock()

    def get(self, session: Session, settings: Settings) -> guards.Directory:
        """Return the directory, reloading it when older than the TTL."""
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached.loaded_at > self.ttl:
                domains = {a.rpartition("@")[2].lower() for a in settings.mail_addresses}
                directory = load_directory(session=session, internal_domains=domains)
                self._cached = _Cached(directory, now)
            return self._cached.directory


def directory_cache(request: Request) -> DirectoryCache:
    """Return the app's directory cache."""
    cache: DirectoryCache = request.app.state.console_directory
    return cache


def ticket_context(*, session: Session, actor: Actor, ticket_id: int) -> guards.TicketContext:
    """Return what the guard must know of the ticket a draft answers."""
    ticket = work.get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    return guards.TicketContext(
        donor_id=ticket.donor_id or "",
        order_nos=overview.order_numbers_of(session=session, actor=actor, ticket_id=ticket.id),
        municipality_id=ticket.municipality_id or "",
    )


def _split_addresses(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        items = [str(v) for v in value]
    else:
        items = str(value or "").replace("、", ",").replace(";", ",").split(",")
    return tuple(a.strip() for a in items if a.strip())[:50]


def draft_from(data: dict[str, Any]) -> guards.DraftMail:
    """Build the guard's view of a draft from what the pane sends."""
    return guards.DraftMail(
        to=_split_addresses(data.get("to")),
        cc=_split_addresses(data.get("cc")),
        bcc=_split_addresses(data.get("bcc")),
        subject=str(data.get("subject", ""))[:998],
        body=str(data.get("body", ""))[:200_000],
    )


def findings_json(findings: list[guards.Finding]) -> dict[str, Any]:
    """Return findings as the pane shows them."""
    return {
        "blocking": guards.blocking(findings),
        "findings": [
            {
                "code": f.code,
                "severity": f.severity,
                "message": f.message,
                "field": f.evidence.field,
                "snippet": f.evidence.snippet,
            }
            for f in findings
        ],
    }
