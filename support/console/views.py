"""View models of the console: what a page shows, built from the domains' services."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from support.auth import service as auth_service
from support.auth.actor import Actor
from support.db import utcnow
from support.errors import BadInput
from support.mail.schemas import ConversationItem
from support.tickets import overview, sla_queue, work
from support.tickets import service as tickets_service
from support.tickets.status import STATUS_LABELS, TicketStatus

PAGE_SIZE = 50
MAX_PAGE = 2000
STAFF_ROLES = ("operator", "supervisor", "admin")


@dataclass(frozen=True)
class QueueQuery:
    """The queue's filters as typed in the URL (validated)."""

    status: str = ""
    assignee: str = ""
    tag: str = ""
    municipality: str = ""
    channel: str = ""
    sla: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> QueueQuery:
        """Validate the query string; anything unknown is bad input (422)."""
        status = params.get("status", "")
        if status and status not in {s.value for s in TicketStatus}:
            raise BadInput("状態の指定が正しくありません")
        assignee = params.get("assignee", "")
        if assignee and assignee != "none" and not (assignee.isdigit() and len(assignee) < 10):
            raise BadInput("担当者の指定が正しくありません")
        channel = params.get("channel", "")
        if channel and channel not in overview.CHANNEL_LABELS:
            raise BadInput("チャネルの指定が正しくありません")
        sla = params.get("sla", "")
        if sla and sla not in sla_queue.SLA_STATES:
            raise BadInput("SLA の指定が正しくありません")
        page_text = params.get("page", "1") or "1"
        if not page_text.isdigit() or not 1 <= int(page_text) <= MAX_PAGE:
            raise BadInput("ページ番号が正しくありません")
        tag = params.get("tag", "").strip()
        municipality = params.get("municipality", "").strip()
        q = params.get("q", "").strip()
        if len(tag) > 50 or len(municipality) > 40 or len(q) > 200:
            raise BadInput("検索条件が長すぎます")
        return cls(status, assignee, tag, municipality, channel, sla, q, int(page_text))

    def ticket_filter(self) -> work.TicketFilter:
        """Return the filter of the tickets domain."""
        return work.TicketFilter(
            status=self.status or None,
            assignee_id=int(self.assignee) if self.assignee.isdigit() else None,
            unassigned=self.assignee == "none",
            tag=self.tag or None,
            municipality_id=self.municipality or None,
            channel=self.channel or None,
            sla_state=self.sla or None,  # type: ignore[arg-type]
        )

    def url(self, **change: Any) -> str:
        """Return the queue URL with some filters changed (page back to 1 unless given)."""
        values = {
            "status": self.status,
            "assignee": self.assignee,
            "tag": self.tag,
            "municipality": self.municipality,
            "channel": self.channel,
            "sla": self.sla,
            "q": self.q,
            "page": 1,
        }
        values.update(change)
        kept = {k: v for k, v in values.items() if v not in ("", None) and (k, v) != ("page", 1)}
        return "/console/inbox" + ("?" + urlencode(kept) if kept else "")


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue."""

    item: ConversationItem
    assignee_name: str | None
    municipality_name: str | None
    channel_label: str
    sla: sla_queue.SlaView


@dataclass
class QueuePage:
    """The queue page."""

    query: QueueQuery
    rows: list[QueueRow]
    total: int
    status_counts: dict[str, int]
    staff: list[tuple[int, str]]
    municipalities: list[tuple[str, str]]
    tags: list[str]
    pages: int
    status_labels: dict[str, str] = field(default_factory=dict)


def staff_names(*, session: Session) -> dict[int, str]:
    """Return the display name of every active staff user."""
    return {
        u.id: u.display_name
        for u in auth_service.list_users(session=session)
        if u.role in STAFF_ROLES and u.active
    }


def municipality_names(*, session: Session, actor: Actor) -> dict[str, str]:
    """Return the names of the municipalities the actor may see."""
    return {m.id: m.name for m in tickets_service.list_municipalities(session=session, actor=actor)}


class CountCache:
    """Queue counts per filter and scope, reused for a few seconds (bounded, thread-safe).

    Counting means reading every matching ticket (a full scan of 100,000 on SQLite), while the
    page itself is an indexed read of 50; colleagues refreshing the same view within seconds
    share one count, as help desks show view counts that lag a little.
    """

    def __init__(self, ttl_seconds: float = 10.0, max_entries: int = 2000) -> None:
        """Start empty."""
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[object, ...], tuple[float, dict[str, int]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> dict[str, int] | None:
        """Return fresh counts for the key, or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is None or time.monotonic() - found[0] > self.ttl:
                return None
            return dict(found[1])

    def clear(self) -> None:
        """Forget every count (after this process changed a ticket)."""
        with self._lock:
            self._entries.clear()

    def put(self, key: tuple[object, ...], counts: dict[str, int]) -> None:
        """Remember counts for the key."""
        with self._lock:
            self._entries[key] = (time.monotonic(), dict(counts))
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


def status_counts(
    *, session: Session, actor: Actor, query: QueueQuery, cache: CountCache
) -> dict[str, int]:
    """Return the counts per status for the queue's filters (the status filter aside)."""
    flt = replace(query.ticket_filter(), status=None)
    key = (actor.role, actor.municipality_id, actor.supplier_id, flt)
    counts = cache.get(key)
    if counts is None:
        counts = overview.count_by_status(session=session, actor=actor, flt=flt)
        cache.put(key, counts)
    return counts


def queue_page(
    *,
    session: Session,
    actor: Actor,
    query: QueueQuery,
    items: list[ConversationItem],
    total: int,
    cache: CountCache,
) -> QueuePage:
    """Assemble the queue page around a page of conversations."""
    names = staff_names(session=session)
    cities = municipality_names(session=session, actor=actor)
    views = sla_queue.sla_views_by_ids(
        session=session, ticket_ids=[i.id for i in items], now=utcnow()
    )
    rows = [
        QueueRow(
            item=item,
            assignee_name=names.get(item.assignee_id) if item.assignee_id else None,
            municipality_name=cities.get(item.municipality_id or ""),
            channel_label=overview.CHANNEL_LABELS.get(item.channel, item.channel),
            sla=views.get(item.id, sla_queue.SlaView("none", None)),
        )
        for item in items
    ]
    counts = status_counts(session=session, actor=actor, query=query, cache=cache)
    if total < 0:
        total = counts[query.status] if query.status else sum(counts.values())
    return QueuePage(
        query=query,
        rows=rows,
        total=total,
        status_counts=counts,
        staff=sorted(names.items(), key=lambda kv: kv[1]),
        municipalities=sorted(cities.items()),
        tags=overview.popular_tags(session=session, actor=actor),
        pages=max(1, -(-total // PAGE_SIZE)),
        status_labels={s.value: label for s, label in STATUS_LABELS.items()},
    )
