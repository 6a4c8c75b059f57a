"""What the IVR needs from the rest of the system, as small protocols injected at start."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from support.db import utcnow
from support.ivr.flow import Answer


class FaqAnswers(Protocol):
    """Finds FAQ answers that can be read aloud."""

    def answers(
        self, *, session: Session, question: str, municipality: str | None, top: int
    ) -> list[Answer]:
        """Return the short answers of the best articles for a spoken question, best first."""
        ...

    def vocabulary(self, *, session: Session, municipality: str | None) -> Sequence[str]:
        """Return words and phrases of the FAQ, as speech-recognition hints."""
        ...


@dataclass(frozen=True, slots=True)
class Voicemail:
    """A voicemail as the ticket should record it."""

    caller_number: str
    municipality_id: str | None
    order_id: int | None
    summary: str
    recording_url: str
    recording_seconds: int
    reason: str
    call_sid: str
    callback_due: datetime


class VoicemailSink(Protocol):
    """Turns a voicemail into a ticket with a callback request."""

    def open_ticket(self, *, session: Session, voicemail: Voicemail) -> int:
        """Open the ticket in the caller's transaction; return its id."""
        ...


@dataclass
class IvrPorts:
    """The IVR's collaborators, chosen once by app.py (or a test)."""

    faq: FaqAnswers
    voicemail: VoicemailSink
    clock: Callable[[], datetime] = field(default=utcnow)
