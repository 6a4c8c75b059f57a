"""The world the authorization matrix runs in: one user per role, ids every route can use."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage

from fastapi.testclient import TestClient
from sqlalchemy import select

from support.auth.models import RoleName
from support.mail.ingest import MailboxConfig, ingest
from support.mail.models import MailDraft, MailMessage
from support.tickets.models import Order, Ticket
from tests.conftest import Database
from tests.factories import bearer, load_demo_world, make_user

# The five roles and no login; "other_municipality" (yokohama) and "other_supplier" (a
# yokohama supplier) are the same roles outside the records' scope: they must see nothing.
ROLES = (
    "operator",
    "supervisor",
    "admin",
    "municipality",
    "supplier",
    "other_municipality",
    "other_supplier",
    "anonymous",
)
_BINDINGS: dict[str, tuple[RoleName, dict[str, str]]] = {
    "operator": (RoleName.OPERATOR, {}),
    "supervisor": (RoleName.SUPERVISOR, {}),
    "admin": (RoleName.ADMIN, {}),
    "municipality": (RoleName.MUNICIPALITY, {"municipality_id": "ise"}),
    "supplier": (RoleName.SUPPLIER, {"supplier_id": "sup-01"}),
    "other_municipality": (RoleName.MUNICIPALITY, {"municipality_id": "yokohama"}),
    "other_supplier": (RoleName.SUPPLIER, {"supplier_id": "sup-04"}),
}
CONFIG = MailboxConfig(
    our_addresses=frozenset({"support-ise@furusato-desk.example.jp"}),
    municipality_by_address={"support-ise@furusato-desk.example.jp": "ise"},
)


@dataclass
class World:
    """Bearer headers per role and the values that fill every path parameter."""

    headers: dict[str, dict[str, str]]
    params: dict[str, str]
    passwords: dict[str, tuple[str, str]] = field(default_factory=dict)


def build_world(client: TestClient, db: Database) -> World:
    """Load the demo world, one ise ticket with a mail and a draft, and a user per role."""
    load_demo_world(db.factory)
    with db.factory() as s:
        order = s.scalars(
            select(Order).where(Order.municipality_id == "ise", Order.supplier_id == "sup-01")
        ).first()
        assert order is not None
        msg = EmailMessage()
        msg["From"] = "donor@example.ne.jp"
        msg["To"] = "support-ise@furusato-desk.example.jp"
        msg["Subject"] = "返礼品について"
        msg["Message-ID"] = "<authz-1@example.ne.jp>"
        msg.set_content("届いていません")
        msg.add_attachment(b"x", maintype="text", subtype="plain", filename="a.txt")
        ingest(session=s, raw=msg.as_bytes(), config=CONFIG)
        ticket = s.scalars(select(Ticket)).one()
        ticket.supplier_id = "sup-01"
        ticket.order_id = order.id
        ticket.donor_id = order.donor_id
        message = s.scalars(select(MailMessage)).one()
        draft = MailDraft(ticket_id=ticket.id, subject="Re", body="お待ちください")
        s.add(draft)
        s.flush()
        params = {
            "donor_id": order.donor_id,
            "order_id": str(order.id),
            "ticket_id": str(ticket.id),
            "message_id": str(message.id),
            "draft_id": str(draft.id),
            "index": "0",
            "municipality_id": "ise",
            "month": "2025-12",
        }
        s.commit()
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    passwords: dict[str, tuple[str, str]] = {}
    for role, (name, binding) in _BINDINGS.items():
        user, password = make_user(db.factory, name, username=f"m-{role}", **binding)
        headers[role] = bearer(client, user.username, password)
        passwords[role] = (user.username, password)
    generated = client.post("/api/reports/monthly/ise/2025-12", headers=headers["admin"])
    assert generated.status_code == 201, generated.text
    incident = client.post(
        "/api/incidents",
        headers=headers["admin"],
        json={"municipality_id": "ise", "title": "紛失", "cause": "調査中"},
    )
    assert incident.status_code == 201, incident.text
    params["incident_id"] = str(incident.json()["id"])
    hold = client.post(
        "/api/legal-holds",
        headers=headers["admin"],
        json={"ticket_id": int(params["ticket_id"]), "reason": "保全"},
    )
    assert hold.status_code == 201, hold.text
    params["hold_id"] = str(hold.json()["id"])
    request = client.post(
        "/api/donor-requests",
        headers=headers["admin"],
        json={"municipality_id": "ise", "donor_id": params["donor_id"], "kind": "disclosure"},
    )
    assert request.status_code == 201, request.text
    params["request_id"] = str(request.json()["id"])
    return World(headers=headers, params=params, passwords=passwords)


def fresh_headers(client: TestClient, world: World, role: str) -> dict[str, str]:
    """Return a new token's header (for routes that end the session, like logout)."""
    if role == "anonymous":
        return {}
    return bearer(client, *world.passwords[role])
