"""Ticket statuses and their Japanese labels (public: other domains use them)."""

from __future__ import annotations

import enum


class TicketStatus(enum.StrEnum):
    """Where a ticket stands in the shared inbox."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    AWAITING_APPROVAL = "awaiting_approval"
    REPLIED = "replied"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        """Return the Japanese label operators see."""
        return STATUS_LABELS[self]


STATUS_LABELS: dict[TicketStatus, str] = {
    TicketStatus.OPEN: "未対応",
    TicketStatus.IN_PROGRESS: "対応中",
    TicketStatus.AWAITING_APPROVAL: "承認待ち",
    TicketStatus.REPLIED: "返信済",
    TicketStatus.CLOSED: "完了",
}
