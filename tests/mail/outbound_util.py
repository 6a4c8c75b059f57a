"""Small helpers for the outbound tests: an inbound mail, staff logins, due jobs."""

from __future__ import annotations

import secrets
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from functools import cache
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from support.auth.models import RoleName, User
from support.auth.passwords import hash_password
from support.auth.service import issue_session
from support.db import utcnow
from support.jobs import Job, JobRunner
from support.mail.ingest import MailboxConfig, ingest
from support.mail.models import MailMessage
from support.tickets.world import World, load_world, read_world
from tests.factories import world_path

OURS = "support-ise@furusato-desk.example.jp"
DONOR = "taro.yamada@example.ne.jp"
_DONORS = {"don-001", "don-002", "don-003", "don-004", "don-005"}
MAILBOX = MailboxConfig(our_addresses=frozenset({OURS}), municipality_by_address={OURS: "ise"})


def deliver(
    factory: sessionmaker[Session],
    sender: str = DONOR,
    subject: str = "受領証明書の再発行について",
    body: str = "受領証明書を紛失しました。再発行をお願いします。",
) -> tuple[int, str]:
    """Store one inbound mail (a new ticket); return (ticket id, its Message-ID)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = OURS
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.ne.jp")
    msg.set_content(body)
    with factory() as s:
        outcome = ingest(session=s, raw=msg.as_bytes(), config=MAILBOX)
        s.commit()
        message_id = s.get_one(MailMessage, outcome.message_id).message_id or ""
    return outcome.ticket_id, message_id


@cache
def _small_world() -> World:
    world = read_world(world_path())
    donors = [d for d in world.donors if d.id in _DONORS]
    orders = [o for o in world.orders if o.donor_id in _DONORS]
    return world.model_copy(update={"donors": donors, "orders": orders})


def load_small_world(factory: sessionmaker[Session]) -> None:
    """Load every municipality and supplier but only a few donors (and their orders)."""
    with factory() as s:
        load_world(session=s, world=_small_world())
        s.commit()


@cache
def _unusable_hash() -> str:
    # One Argon2 hash for every test user: the tests log in by token, never by password.
    return hash_password(secrets.token_urlsafe(16))


def staff_login(
    _client: TestClient, factory: sessionmaker[Session], role: RoleName
) -> tuple[int, dict[str, str]]:
    """Create a staff user with a bearer token (no password round); return id and header."""
    return make_staff(factory, role)


def make_staff(factory: sessionmaker[Session], role: RoleName) -> tuple[int, dict[str, str]]:
    """Create a staff user and a bearer token for it; return its id and the header."""
    with factory() as s:
        user = User(
            username=f"{role}-{secrets.token_hex(4)}",
            display_name=str(role),
            role=str(role),
            password_hash=_unusable_hash(),
        )
        s.add(user)
        s.flush()
        token, _row = issue_session(session=s, user=user, kind="bearer", ttl=timedelta(hours=1))
        s.commit()
        return user.id, {"Authorization": f"Bearer {token}"}


def run_due(runner: JobRunner, factory: sessionmaker[Session]) -> int:
    """Let time pass: make every queued job due, then run jobs until none is left."""
    ran = 0
    for _ in range(20):
        with factory() as s:
            s.execute(update(Job).where(Job.status == "queued").values(run_at=utcnow()))
            s.commit()
        count = runner.run_until_idle()
        ran += count
        if count == 0:
            break
    return ran


def write_draft(
    client: TestClient,
    headers: dict[str, str],
    ticket_id: int,
    *,
    to: list[str] | None = None,
    body: str = "山田 太郎 様\n\n受領証明書を再発行し、ご登録のご住所へ郵送いたします。\n",
    subject: str = "Re: 受領証明書の再発行について",
    draft_id: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Create or update a draft through the API and return it."""
    version = client.get(f"/api/inbox/{ticket_id}", headers=headers).json()["thread_version"]
    payload = {
        "to": to if to is not None else [DONOR],
        "subject": subject,
        "body": body,
        "seen_version": version,
        **extra,
    }
    if draft_id is None:
        response = client.post(f"/api/inbox/{ticket_id}/drafts", json=payload, headers=headers)
        assert response.status_code == 201, response.text
    else:
        response = client.put(
            f"/api/inbox/{ticket_id}/drafts/{draft_id}", json=payload, headers=headers
        )
    return dict(response.json()) | {"_status": response.status_code}
