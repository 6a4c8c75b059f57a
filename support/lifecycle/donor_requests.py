"""Donor requests (開示・訂正・利用停止・削除): recorded, forwarded, decided, then carried out.

The municipality is the controller of its donors' data: we record the request, forward it to
its report contact (one mail, at most once), and execute it only once the municipality has
approved it. Every step is an event of the request's trail and an audit record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.adapters.ports import MailSender, OutgoingMail
from support.auth import audit
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.db import utcnow
from support.errors import BadInput, Conflict, Forbidden, NotFound
from support.jobs import enqueue
from support.lifecycle.erase import delete_selection
from support.lifecycle.graph import DEFAULT_RULES, Key, pk_columns, select_closure
from support.lifecycle.incidents import policy_contact
from support.lifecycle.models import DonorRequest, DonorRequestEvent
from support.metadata import target_metadata
from support.tickets import scope
from support.tickets.models import Donation, Donor, Municipality, Order, Ticket
from support.tickets.policy import MunicipalityPolicy
from support.tickets.report_mail import ReportMailSettings, build_mail, send_once

FORWARD = "privacy.donor_request_forward"
KINDS = {"disclosure": "開示", "correction": "訂正", "suspension": "利用停止", "deletion": "削除"}
CORRECTABLE = ("name", "kana", "email", "phone", "postal_code", "address")


def _event(
    session: Session, request: DonorRequest, actor: Actor | None, what: str, **detail: object
) -> None:
    session.add(
        DonorRequestEvent(
            request_id=request.id,
            actor_id=actor.user_id if actor else None,
            kind=what,
            detail=dict(detail),
        )
    )


def record_request(
    *,
    session: Session,
    actor: Actor,
    municipality_id: str,
    donor_id: str,
    kind: str,
    detail: str,
    changes: Mapping[str, str] | None = None,
) -> DonorRequest:
    """Record a donor's request and queue its forwarding to the municipality."""
    if not actor.is_staff:
        raise Forbidden()
    if kind not in KINDS:
        raise BadInput(f"請求の種類が不明です: {kind[:20]}", allowed=sorted(KINDS))
    if session.get(Municipality, municipality_id) is None:
        raise BadInput(f"不明な自治体です: {municipality_id[:40]}")
    if session.get(Donor, donor_id) is None:
        raise NotFound()
    unknown = set(changes or {}) - set(CORRECTABLE)
    if unknown:
        raise BadInput(f"訂正できない項目です: {sorted(unknown)}", allowed=list(CORRECTABLE))
    if kind == "correction" and not changes:
        raise BadInput("訂正の請求には訂正内容 (changes) が必要です")
    request = DonorRequest(
        municipality_id=municipality_id,
        donor_id=donor_id,
        kind=kind,
        detail=detail,
        changes=dict(changes or {}),
        status="received",
        created_by=actor.user_id,
    )
    session.add(request)
    session.flush()
    _event(session, request, actor, "received", kind=kind)
    enqueue(session, FORWARD, {"request_id": request.id}, max_attempts=10)
    audit.record(
        session,
        actor,
        action="donor_request.record",
        resource_type="donor_request",
        resource_id=str(request.id),
        donor_id=donor_id,
        municipality_id=municipality_id,
        detail={"kind": kind},
    )
    return request


def forward(
    *,
    session: Session,
    request_id: int,
    policies: Mapping[str, MunicipalityPolicy],
    sender: MailSender | None,
    mail: ReportMailSettings,
) -> str:
    """Mail the request to the municipality's contact, at most once; return the outcome."""
    request = session.get(DonorRequest, request_id)
    if request is None:
        return "skipped"
    recipients = policy_contact(policies, request.municipality_id)
    if not recipients or sender is None:
        return "no_route"
    domain = mail.from_addr.rpartition("@")[2] or "localhost"
    message_id = f"donor-request-{request.id}@{domain}"
    name = session.get_one(Municipality, request.municipality_id).name
    body = (
        f"{name} ご担当者様\n\n{mail.desk_name}です。寄附者から個人情報の"
        f"{KINDS[request.kind]}の請求を受け付けましたので回送します。\n\n"
        f"請求番号: {request.id}\n種類: {KINDS[request.kind]}\n寄附者ID: {request.donor_id}\n"
        f"受付日時: {request.received_at.isoformat(timespec='minutes')}\n\n"
        "ご判断をシステムの請求画面でご登録ください。ご判断のあと当方で対応いたします。\n"
        "寄附者の氏名・連絡先は本メールに記載していません。\n"
    )

    def set_status(status: str, error: str | None) -> None:
        request.forward_status = status
        request.forward_error = error
        request.forward_recipient = ", ".join(recipients)
        if status == "sent":
            request.forwarded_at = utcnow()
            request.status = "forwarded" if request.status == "received" else request.status
            _event(session, request, None, "forwarded", recipients=len(recipients))

    return send_once(
        session=session,
        status=request.forward_status,
        set_status=set_status,
        mail=OutgoingMail(
            envelope_from=mail.from_addr,
            recipients=recipients,
            data=build_mail(
                settings=mail,
                to=recipients,
                subject=f"寄附者からの{KINDS[request.kind]}請求の回送 (請求番号 {request.id})",
                body=body,
                message_id=message_id,
            ),
            message_id=message_id,
        ),
        sender=sender,
    )


def _visible(actor: Actor, request: DonorRequest | None) -> DonorRequest:
    if request is None:
        raise NotFound()
    if actor.is_staff or actor.municipality_id == request.municipality_id:
        return request
    raise NotFound()


def get_request(
    *, session: Session, actor: Actor, request_id: int
) -> tuple[DonorRequest, Sequence[DonorRequestEvent]]:
    """Return a request and its trail (municipality users: their own)."""
    if not (actor.is_staff or actor.role is RoleName.MUNICIPALITY):
        raise Forbidden()
    request = _visible(actor, session.get(DonorRequest, request_id))
    events = session.scalars(
        select(DonorRequestEvent)
        .where(DonorRequestEvent.request_id == request.id)
        .order_by(DonorRequestEvent.occurred_at, DonorRequestEvent.id)
    ).all()
    return request, events


def decide(
    *, session: Session, actor: Actor, request_id: int, approve: bool, note: str
) -> DonorRequest:
    """Record the municipality's decision (its own users, or an admin on its written word)."""
    if not (actor.role is RoleName.ADMIN or actor.role is RoleName.MUNICIPALITY):
        raise Forbidden()
    request = _visible(actor, session.get(DonorRequest, request_id))
    if request.status not in ("received", "forwarded"):
        raise Conflict("この請求はすでに判断済みです")
    request.status = "approved" if approve else "rejected"
    request.decision_note = note
    request.decided_at = utcnow()
    _event(session, request, actor, "decided", approved=approve)
    audit.record(
        session,
        actor,
        action="donor_request.decide",
        resource_type="donor_request",
        resource_id=str(request.id),
        donor_id=request.donor_id,
        municipality_id=request.municipality_id,
        detail={"approved": approve},
    )
    return request


def _municipality_rows(session: Session, request: DonorRequest) -> dict[str, set[Key]]:
    """Return the rows of this municipality that refer to the donor (the deletion's seeds)."""
    seeds: dict[str, set[Key]] = {}
    for table in target_metadata.sorted_tables:
        if "donor_id" not in table.c or "municipality_id" not in table.c:
            continue
        if table.name == DonorRequest.__tablename__:
            continue  # the request and its trail are the proof that it was done
        if not any(fk.column.table.name == "donors" for fk in table.c.donor_id.foreign_keys):
            continue
        pk = pk_columns(table)
        rows = session.execute(
            select(*pk).where(
                table.c.donor_id == request.donor_id,
                table.c.municipality_id == request.municipality_id,
            )
        )
        keys = {tuple(r) for r in rows}
        if keys:
            seeds[table.name] = keys
    return seeds


def execute(*, session: Session, actor: Actor, request_id: int) -> dict[str, Any]:
    """Carry out an approved request; return what was done (a disclosure returns the data)."""
    if not actor.is_staff:
        raise Forbidden()
    request = _visible(actor, session.get(DonorRequest, request_id))
    if request.status != "approved":
        raise Conflict("自治体が承認した請求だけを実施できます")
    donor = session.get_one(Donor, request.donor_id)
    outcome: dict[str, Any] = {"kind": request.kind}
    if request.kind == "correction":
        for field, value in request.changes.items():
            setattr(donor, field, value)
        outcome["fields"] = sorted(request.changes)
    elif request.kind == "disclosure":
        outcome["data"] = _disclosure(session, donor, request.municipality_id)
    elif request.kind == "deletion":
        selection = select_closure(
            session.connection(), target_metadata, _municipality_rows(session, request)
        )
        # Only this municipality's rows, and the donor only if nothing else refers to them.
        selection.owned.pop("municipalities", None)
        counts, _ = delete_selection(
            session.connection(), target_metadata, selection, DEFAULT_RULES
        )
        outcome["counts"] = counts
        if not _still_used(session, donor.id):
            # Nothing else needs them: blank the donor row itself (it anchors this trail).
            for field in CORRECTABLE:
                setattr(donor, field, None)
            donor.name = "(削除済み)"
            outcome["donor_blanked"] = True
    else:  # suspension: the municipality's rows stay, but no new use is made of them
        outcome["suspended"] = True
    request.status = "executed"
    request.executed_at = utcnow()
    _event(
        session,
        request,
        actor,
        "executed",
        **{k: v for k, v in outcome.items() if k != "data"},
    )
    audit.record(
        session,
        actor,
        action=f"donor_request.{request.kind}",
        resource_type="donor_request",
        resource_id=str(request.id),
        donor_id=request.donor_id,
        municipality_id=request.municipality_id,
    )
    session.flush()
    session.expire_all()  # rows went by Core deletes: reload what is read next
    return outcome


def _still_used(session: Session, donor_id: str) -> bool:
    return any(
        session.scalar(select(model.id).where(model.donor_id == donor_id).limit(1)) is not None
        for model in (Order, Donation, Ticket)
    )


def _disclosure(session: Session, donor: Donor, municipality_id: str) -> dict[str, Any]:
    """Return what this municipality's records hold about the donor (開示)."""
    orders = session.scalars(
        select(Order).where(Order.donor_id == donor.id, Order.municipality_id == municipality_id)
    ).all()
    donations = session.scalars(
        select(Donation).where(
            Donation.donor_id == donor.id, Donation.municipality_id == municipality_id
        )
    ).all()
    tickets = session.scalars(
        select(Ticket).where(Ticket.donor_id == donor.id, Ticket.municipality_id == municipality_id)
    ).all()
    return {
        "donor": {f: getattr(donor, f) for f in ("id", *CORRECTABLE)},
        "donations": [
            {"donation_no": d.donation_no, "amount_yen": d.amount_yen, "portal": d.portal}
            for d in donations
        ],
        "orders": [{"order_no": o.order_no, "status": o.status} for o in orders],
        "tickets": [{"id": t.id, "subject": t.subject, "status": t.status} for t in tickets],
    }


def list_requests(*, session: Session, actor: Actor) -> Sequence[DonorRequest]:
    """Return the requests the actor may see, newest first."""
    query = select(DonorRequest).order_by(DonorRequest.id.desc()).limit(500)
    if not actor.is_staff:
        if actor.role is not RoleName.MUNICIPALITY or not actor.municipality_id:
            raise Forbidden()
        query = query.where(DonorRequest.municipality_id == actor.municipality_id)
    return session.scalars(query).all()


def require_reader(actor: Actor) -> None:
    """Refuse suppliers."""
    scope.require_donor_reader(actor)
