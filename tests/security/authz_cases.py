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
    params["article_id"] = _new_article(client, headers["admin"])
    params["attachment_id"] = _new_attachment(client, headers["admin"], params["draft_id"])
    return World(headers=headers, params=params, passwords=passwords)


def _new_article(client: TestClient, admin: dict[str, str]) -> str:
    """Write an ise draft article (an operator may still edit it) and return its id."""
    body = {
        "title": "寄附金受領証明書はいつ届きますか",
        "answer_short": "入金の確認からおよそ一か月でお送りします",
        "body": "自治体から郵送でお送りします。",
        "municipality_id": "ise",
    }
    created = client.post("/api/kb/articles", headers=admin, json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _new_attachment(client: TestClient, admin: dict[str, str], draft_id: str) -> str:
    """Attach a small file to the world's draft and return its id."""
    added = client.post(
        f"/api/outbound/drafts/{draft_id}/attachments",
        headers=admin,
        json={"filename": "a.txt", "content_type": "text/plain", "data_base64": "eA=="},
    )
    assert added.status_code == 201, added.text
    return str(added.json()["id"])


def _linked_order(client: TestClient, admin: dict[str, str], params: dict[str, str]) -> str:
    """Link the ticket's order (again: the previous role may have unlinked it)."""
    url = f"/api/tickets/{params['ticket_id']}/orders"
    linked = client.post(url, headers=admin, json={"order_id": int(params["order_id"])})
    assert linked.status_code == 200, linked.text
    return params["order_id"]


def params_for(client: TestClient, world: World, route: str) -> dict[str, str]:
    """Return the path parameters of one call: a fresh record for routes that remove theirs."""
    admin = world.headers["admin"]
    params = dict(world.params)
    if route == "DELETE /api/kb/articles/{article_id}":
        params["article_id"] = _new_article(client, admin)
    elif route == "DELETE /api/outbound/drafts/{draft_id}/attachments/{attachment_id}":
        params["attachment_id"] = _new_attachment(client, admin, params["draft_id"])
    elif route == "DELETE /api/tickets/{ticket_id}/orders/{order_id}":
        params["order_id"] = _linked_order(client, admin, params)
    return params


def fresh_headers(client: TestClient, world: World, role: str) -> dict[str, str]:
    """Return a new token's header (for routes that end the session, like logout)."""
    if role == "anonymous":
        return {}
    return bearer(client, *world.passwords[role])
