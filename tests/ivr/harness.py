"""A Twilio-like caller for the IVR tests: the app on one backend, a settable clock."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr

from support.adapters.ports import SearchIndex
from support.app import Adapters, create_app
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.calendar import JST
from support.config import Settings
from support.ivr.faq import KbFaqAnswers
from support.ivr.ports import IvrPorts
from support.ivr.script import ScriptedCall, play
from support.ivr.voicemail import TicketVoicemailSink
from support.kb import service as kb_service
from support.kb.schemas import ImportRow

from ..conftest import SHARED, Database

BASE = "https://ivr.example.jp"
TOKEN = "0123456789abcdef0123456789abcdef"
CALLER = "+819012345678"
GENERAL = "+81120000100"
ISE = "+81596000101"
FAQ_FILE = SHARED / "data" / "kb" / "faq.jsonl"
QUERIES_FILE = SHARED / "data" / "kb" / "queries-dev.jsonl"

# Tuesday 2026-12-08 (an ordinary business day), and moments the desk is closed.
IN_HOURS = datetime(2026, 12, 8, 10, 0, tzinfo=JST)
EVENING = datetime(2026, 12, 8, 20, 0, tzinfo=JST)
FRIDAY_NIGHT = datetime(2026, 12, 11, 21, 0, tzinfo=JST)
HOLIDAY = datetime(2026, 11, 23, 10, 0, tzinfo=JST)  # 勤労感謝の日, a Monday
YEAR_END = datetime(2026, 12, 30, 10, 0, tzinfo=JST)  # a Wednesday in the 12/29-1/3 closure


@dataclass
class Clock:
    """The IVR's notion of now, moved by the test."""

    now: datetime = IN_HOURS

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Phone:
    """Places scripted calls against one app."""

    http: TestClient
    clock: Clock
    calls: list[ScriptedCall] = field(default_factory=list)

    def call(
        self, script: Sequence[dict[str, Any]], *, number: str = GENERAL, caller: str = CALLER
    ) -> list[dict[str, Any]]:
        """Play a script and return every step's TwiML, described."""
        placed = ScriptedCall(
            self.http, base_url=BASE, token=TOKEN, to_number=number, from_number=caller
        )
        self.calls.append(placed)
        return play(placed, script)


def ivr_settings(database: Database, tmp_path: Path, **extra: Any) -> Settings:
    """Return settings with the IVR's public URL and auth token."""
    return Settings(
        database_url=database.url,
        data_dir=tmp_path / "data",
        cookie_secure=False,
        public_base_url=BASE,
        twilio_auth_token=SecretStr(TOKEN),
        **extra,
    )


def open_phone(
    settings: Settings, search: SearchIndex, clock: Clock, faq: Any = None, **http: Any
) -> Iterator[Phone]:
    """Start the app with the real IVR ports (or this FAQ) over this search index and clock."""
    ports = IvrPorts(faq=faq or KbFaqAnswers(search), voicemail=TicketVoicemailSink(), clock=clock)
    app = create_app(settings, adapters=Adapters(search=search, ivr=ports))
    with TestClient(app, base_url=http.pop("base_url", BASE), **http) as client:
        yield Phone(client, clock)


def import_faq(database: Database, search: SearchIndex) -> None:
    """Load faq.jsonl into the knowledge base (and so into the index) and commit."""
    rows = [ImportRow.model_validate(json.loads(line)) for line in FAQ_FILE.open(encoding="utf-8")]
    actor = Actor(user_id=None, username="test", role=RoleName.ADMIN)
    with database.factory() as session:
        kb_service.import_rows(session=session, index=search, actor=actor, rows=rows)
        session.commit()


def said(steps: Sequence[dict[str, Any]]) -> str:
    """Return everything the IVR said in a call, in order."""
    return "\n".join(text for step in steps for text in step.get("say", ()))
