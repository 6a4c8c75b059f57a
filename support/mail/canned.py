"""Canned replies: Jinja2 templates operators pick, rendered into a draft they then edit.

A canned reply is `templates/mail/canned/<key>.txt.j2`; its first line is a Jinja comment
`{#- title: ... -#}`. A municipality may override one or add its own under
`templates/mail/<municipality>/canned/`, and its signature under
`templates/mail/<municipality>/_signature.txt.j2`. Variables are strict: a template that uses
a name the context lacks is refused, never sent with a blank.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import TemplateError, UndefinedError
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from support.auth import audit
from support.auth.actor import Actor
from support.errors import BadInput, NotFound
from support.mail import inbox
from support.mail.models import MailDraft, MailMessage
from support.mail.schemas import DraftWrite
from support.mail.templates import DEFAULT_DIR, environment
from support.tickets import channels, work

_KEY = re.compile(r"^[a-z0-9_]{1,60}$")
_TITLE = re.compile(r"\{#-?\s*title:\s*(.+?)\s*-?#\}")
_SUFFIX = ".txt.j2"


@dataclass(frozen=True)
class CannedReply:
    """One canned reply as listed to operators."""

    key: str
    title: str
    municipality_id: str | None  # set when the municipality's own variant is used


def _folder(root: Path, municipality: str | None) -> Path:
    return root / "mail" / municipality / "canned" if municipality else root / "mail" / "canned"


def _title(path: Path) -> str:
    match = _TITLE.search(path.read_text(encoding="utf-8")[:500])
    return match.group(1) if match else path.name.removesuffix(_SUFFIX)


def list_canned(
    *, municipality_id: str | None = None, root: Path = DEFAULT_DIR
) -> list[CannedReply]:
    """Return the canned replies for a municipality: its own variants win over the common ones."""
    found: dict[str, CannedReply] = {}
    for municipality in (None, municipality_id):
        if municipality is not None and not _KEY.match(municipality.replace("-", "_")):
            continue
        folder = _folder(root, municipality)
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*" + _SUFFIX)):
            key = path.name.removesuffix(_SUFFIX)
            if key.startswith("_"):
                continue
            found[key] = CannedReply(key=key, title=_title(path), municipality_id=municipality)
    return sorted(found.values(), key=lambda c: c.key)


def render_canned(
    key: str, context: dict[str, Any], *, municipality_id: str | None, root: Path = DEFAULT_DIR
) -> str:
    """Render one canned reply; BadInput when it does not exist or lacks a variable."""
    known = {c.key: c for c in list_canned(municipality_id=municipality_id, root=root)}
    if not _KEY.match(key) or key not in known:
        raise NotFound("定型文が見つかりません")
    chosen = known[key]
    name = (
        f"mail/{chosen.municipality_id}/canned/{key}{_SUFFIX}"
        if chosen.municipality_id
        else (f"mail/canned/{key}{_SUFFIX}")
    )
    signature = [f"mail/{municipality_id}/_signature.txt.j2"] if municipality_id else []
    try:
        text = (
            environment(root)
            .get_template(name)
            .render(**context, signature=[*signature, "mail/_signature.txt.j2"])
        )
    except UndefinedError as exc:
        raise BadInput(f"定型文に未定義の差し込み項目があります：{exc.message}") from exc
    except TemplateError as exc:
        raise BadInput(f"定型文を作成できません：{exc.message}") from exc
    return text.strip("\n") + "\n"


def _reply_subject(subject: str) -> str:
    subject = subject.strip() or "お問い合わせの件"
    return subject if re.match(r"^(re|ｒｅ|RE|Re)\s*[:：]", subject) else f"Re: {subject}"


def draft_from_canned(
    *,
    session: Session,
    actor: Actor,
    ticket_id: int,
    key: str,
    seen_version: int,
    desk_name: str,
    draft_id: int | None = None,
    root: Path = DEFAULT_DIR,
) -> MailDraft:
    """Start (or replace the text of) a reply draft from a canned reply, addressed to the donor."""
    ticket = work.get_for_work(session=session, actor=actor, ticket_id=ticket_id)
    contact = channels.donor_contact(session=session, donor_id=ticket.donor_id)
    last_in = session.scalar(
        select(MailMessage)
        .where(MailMessage.ticket_id == ticket.id, MailMessage.direction == "inbound")
        .order_by(MailMessage.received_at.desc(), MailMessage.id.desc())
        .limit(1)
    )
    order_nos = channels.ticket_order_nos(session=session, ticket_id=ticket.id)
    donation_nos = channels.donation_nos_of_orders(session=session, order_nos=order_nos)
    context = {
        "donor_name": contact[0] if contact else None,
        "ticket_id": ticket.id,
        "subject": ticket.subject,
        "municipality_name": channels.municipality_name(
            session=session, municipality_id=ticket.municipality_id
        ),
        "desk_name": desk_name,
        "order_no": order_nos[0] if order_nos else None,
        "donation_no": donation_nos[0] if donation_nos else None,
    }
    body = render_canned(key, context, municipality_id=ticket.municipality_id, root=root)
    if contact is not None:
        audit.record(
            session,
            actor,
            action="read",
            resource_type="donor",
            resource_id=ticket.donor_id,
            donor_id=ticket.donor_id,
            municipality_id=ticket.municipality_id,
            detail={"purpose": "canned_reply", "ticket_id": ticket.id, "key": key},
        )
    recipient = (contact[1] if contact and contact[1] else None) or (
        last_in.from_addr if last_in else None
    )
    existing = session.get(MailDraft, draft_id) if draft_id is not None else None
    if draft_id is not None and (existing is None or existing.ticket_id != ticket.id):
        raise NotFound()
    try:
        data = DraftWrite(
            to=existing.to_addrs if existing else ([recipient] if recipient else []),
            cc=existing.cc_addrs if existing else [],
            bcc=existing.bcc_addrs if existing else [],
            subject=_reply_subject(last_in.subject if last_in else ticket.subject),
            body=body,
            in_reply_to_id=last_in.id if last_in else None,
            seen_version=seen_version,
        )
    except ValidationError as exc:
        raise BadInput("寄附者のメールアドレスが正しくないため、宛先を設定できません") from exc
    return inbox.save_draft(
        session=session, actor=actor, ticket_id=ticket.id, data=data, draft_id=draft_id
    )
