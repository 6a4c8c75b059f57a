"""Who may call which route: one entry per route of the OpenAPI schema (add yours here).

Outcomes: ALLOW (passes authorization and finds the in-scope record: any status below 500
except 401, 403 and 404), DENY (403), HIDDEN (404: out of scope looks absent), LOGIN (401),
PUBLIC (anyone, below 500). Roles: the three staff roles, `municipality` (ise) and `supplier`
(sup-01, an ise supplier) on records in their scope, `other_municipality` (yokohama) and
`other_supplier` (sup-04, of yokohama) on the same records, out of their scope, and no login.
Write routes are sent `{}` (a 422 from an allowed role still proves it passed authorization),
or the valid body in BODIES when the scope check needs one to be reached.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

ALLOW, DENY, HIDDEN, LOGIN, PUBLIC = "allow", "deny", "hidden", "login", "public"


@dataclass(frozen=True)
class Access:
    """The expected outcome of one route for each role."""

    operator: str
    supervisor: str
    admin: str
    municipality: str
    supplier: str
    other_municipality: str
    other_supplier: str
    anonymous: str = LOGIN

    def expected(self, role: str) -> str:
        """Return the outcome expected for a role."""
        outcome: str = getattr(self, role)
        return outcome


def staff_only(*, admin_only: bool = False) -> Access:
    """Intermediary staff (or admins alone); municipality and supplier users get 403."""
    staff = DENY if admin_only else ALLOW
    return Access(staff, staff, ALLOW, DENY, DENY, DENY, DENY)


def everyone(*, anonymous: str = LOGIN) -> Access:
    """Any logged-in role (lists are filtered to the caller's scope)."""
    return Access(ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, ALLOW, anonymous)


def scoped(*, supplier: bool) -> Access:
    """A single record: staff, its municipality and (if `supplier`) its supplier; others 404."""
    return Access(
        ALLOW,
        ALLOW,
        ALLOW,
        ALLOW,
        ALLOW if supplier else DENY,
        HIDDEN,
        HIDDEN if supplier else DENY,
    )


# Supervisors and admins: legal holds decide what the retention purge may not touch.
supervisors = Access(DENY, ALLOW, ALLOW, DENY, DENY, DENY, DENY)
# A municipality's own article: staff and that municipality read it; suppliers read no FAQ.
kb_reader = Access(ALLOW, ALLOW, ALLOW, ALLOW, DENY, HIDDEN, DENY)

MATRIX: dict[str, Access] = {
    "POST /api/auth/token": everyone(anonymous=PUBLIC),
    "POST /api/auth/login": everyone(anonymous=PUBLIC),
    "POST /api/auth/logout": everyone(),
    "GET /api/auth/me": everyone(),
    "GET /api/users": staff_only(admin_only=True),
    "POST /api/users": staff_only(admin_only=True),
    "GET /api/audit": staff_only(admin_only=True),
    "GET /api/municipalities": everyone(),
    "GET /api/suppliers": everyone(),
    # Suppliers never read donors as such: only the shipping minimum on an order.
    "GET /api/donors": Access(ALLOW, ALLOW, ALLOW, ALLOW, DENY, ALLOW, DENY),
    "GET /api/donors/{donor_id}": scoped(supplier=False),
    "PATCH /api/donors/{donor_id}": staff_only(),
    "GET /api/orders": everyone(),
    "GET /api/orders/{order_id}": scoped(supplier=True),
    "POST /api/tickets": staff_only(),
    "GET /api/tickets": everyone(),
    "GET /api/tickets/{ticket_id}": scoped(supplier=True),
    "GET /api/inbox": staff_only(),
    "GET /api/inbox/{ticket_id}": staff_only(),
    "PUT /api/inbox/{ticket_id}/status": staff_only(),
    "PUT /api/inbox/{ticket_id}/assignee": staff_only(),
    "PUT /api/inbox/{ticket_id}/tags": staff_only(),
    "POST /api/inbox/{ticket_id}/notes": staff_only(),
    "POST /api/inbox/{ticket_id}/merge": staff_only(),
    "POST /api/inbox/{ticket_id}/split": staff_only(),
    "PUT /api/inbox/{ticket_id}/presence": staff_only(),
    "POST /api/inbox/{ticket_id}/drafts": staff_only(),
    "PUT /api/inbox/{ticket_id}/drafts/{draft_id}": staff_only(),
    "GET /api/inbox/messages/{message_id}/raw": staff_only(),
    "GET /api/inbox/messages/{message_id}/attachments/{index}": staff_only(),
    "GET /api/reports/monthly/{municipality_id}": scoped(supplier=False),
    "GET /api/reports/monthly/{municipality_id}/{month}": scoped(supplier=False),
    "POST /api/reports/monthly/{municipality_id}/{month}": staff_only(),
    "POST /api/incidents": staff_only(),
    "POST /api/incidents/from-mail/{message_id}": staff_only(),
    "GET /api/incidents": Access(ALLOW, ALLOW, ALLOW, ALLOW, DENY, ALLOW, DENY),
    "GET /api/incidents/{incident_id}": scoped(supplier=False),
    "POST /api/incidents/{incident_id}/reports": staff_only(),
    "GET /api/incidents/{incident_id}/report.pdf": scoped(supplier=False),
    "POST /api/legal-holds": supervisors,
    "GET /api/legal-holds": supervisors,
    "POST /api/legal-holds/{hold_id}/release": supervisors,
    "POST /api/donors/{donor_id}/reveal": scoped(supplier=False),
    # The audit trail: admins and the municipality itself; another municipality sees nothing.
    "GET /api/audit/municipalities/{municipality_id}": Access(
        DENY, DENY, ALLOW, ALLOW, DENY, HIDDEN, DENY
    ),
    "POST /api/donor-requests": staff_only(),
    "GET /api/donor-requests": Access(ALLOW, ALLOW, ALLOW, ALLOW, DENY, ALLOW, DENY),
    "GET /api/donor-requests/{request_id}": scoped(supplier=False),
    # The municipality decides (an admin may record its written decision).
    "POST /api/donor-requests/{request_id}/decision": Access(
        DENY, DENY, ALLOW, ALLOW, DENY, HIDDEN, DENY
    ),
    "POST /api/donor-requests/{request_id}/execute": staff_only(),
    # Outbound mail is the desk's work; supervisors (and admins) approve, operators do not.
    "GET /api/outbound/canned": staff_only(),
    "POST /api/outbound/tickets/{ticket_id}/canned": staff_only(),
    "GET /api/outbound/tickets/{ticket_id}/drafts": staff_only(),
    "GET /api/outbound/drafts/{draft_id}": staff_only(),
    "GET /api/outbound/drafts/{draft_id}/attachments": staff_only(),
    "POST /api/outbound/drafts/{draft_id}/attachments": staff_only(),
    "GET /api/outbound/drafts/{draft_id}/attachments/{attachment_id}": staff_only(),
    "DELETE /api/outbound/drafts/{draft_id}/attachments/{attachment_id}": staff_only(),
    "POST /api/outbound/drafts/{draft_id}/submit": staff_only(),
    "POST /api/outbound/drafts/{draft_id}/approve": supervisors,
    "POST /api/outbound/drafts/{draft_id}/reject": supervisors,
    "POST /api/outbound/drafts/{draft_id}/override": supervisors,
    "POST /api/outbound/drafts/{draft_id}/pull-back": staff_only(),
    "POST /api/outbound/drafts/{draft_id}/resolve": supervisors,
    "GET /api/outbound/approvals": supervisors,
    "GET /api/outbound/in-doubt": supervisors,
    # The FAQ: public search without login; staff edit (operators drafts only, supervisors
    # publish and archive); a municipality reads its own and the general published articles.
    "POST /api/kb/public/search": everyone(anonymous=PUBLIC),
    "POST /api/kb/search": everyone(),
    "POST /api/kb/suggestions": staff_only(),
    "GET /api/kb/articles": Access(ALLOW, ALLOW, ALLOW, ALLOW, DENY, ALLOW, DENY),
    "POST /api/kb/articles": staff_only(),
    "GET /api/kb/articles/{article_id}": kb_reader,
    "PATCH /api/kb/articles/{article_id}": staff_only(),
    "DELETE /api/kb/articles/{article_id}": supervisors,
    "PUT /api/kb/articles/{article_id}/status": supervisors,
    "GET /api/kb/articles/{article_id}/revisions": kb_reader,
    # The complaint workflow is staff work (the console shows municipalities their own tickets).
    "GET /api/queue": staff_only(),
    "GET /api/tickets/{ticket_id}/timeline": staff_only(),
    "GET /api/tickets/{ticket_id}/verdict": staff_only(),
    "PUT /api/tickets/{ticket_id}/category": staff_only(),
    "PUT /api/tickets/{ticket_id}/priority": staff_only(),
    "POST /api/tickets/{ticket_id}/orders": staff_only(),
    "DELETE /api/tickets/{ticket_id}/orders/{order_id}": staff_only(),
    "PUT /api/tickets/{ticket_id}/liability": staff_only(),
    "POST /api/tickets/{ticket_id}/supplier-notices": staff_only(),
    "GET /api/tickets/{ticket_id}/supplier-notices": staff_only(),
    "POST /api/tickets/{ticket_id}/resolve": staff_only(),
    # The donor's phone number and callback time: never for municipality or supplier users.
    "GET /api/tickets/{ticket_id}/contact": staff_only(),
    "GET /healthz": everyone(anonymous=PUBLIC),
    "GET /readyz": everyone(anonymous=PUBLIC),
}

_HASH = "0" * 64
Body = dict[str, object] | Callable[[Mapping[str, str]], dict[str, object]]

# Valid bodies, so that an allowed role gets past validation to the record and its scope
# (a callable receives the world's path parameters).
BODIES: dict[str, Body] = {
    "POST /api/donors/{donor_id}/reveal": {"reason": "折り返し連絡のため", "fields": ["phone"]},
    "POST /api/donor-requests/{request_id}/decision": {"approve": False, "note": "対象外"},
    "POST /api/outbound/tickets/{ticket_id}/canned": {"key": "delivery_status", "seen_version": 0},
    "POST /api/outbound/drafts/{draft_id}/attachments": {
        "filename": "b.txt",
        "content_type": "text/plain",
        "data_base64": "eA==",
    },
    "POST /api/outbound/drafts/{draft_id}/approve": {"message_hash": _HASH},
    "POST /api/outbound/drafts/{draft_id}/reject": {"comment": "宛名を確認してください"},
    "POST /api/outbound/drafts/{draft_id}/override": {
        "message_hash": _HASH,
        "reason": "寄附者の依頼により電話番号を記載します",
    },
    "POST /api/outbound/drafts/{draft_id}/resolve": {"outcome": "sent"},
    "POST /api/kb/public/search": {"q": "返礼品 届かない"},
    "POST /api/kb/search": {"q": "返礼品 届かない"},
    "POST /api/kb/suggestions": {"subject": "返礼品が届きません", "text": "まだ届いていません"},
    "POST /api/kb/articles": {
        "title": "返礼品はいつ届きますか",
        "answer_short": "寄附の受付からおよそ一か月でお届けします",
        "body": "発送の時期は返礼品によって異なります。",
        "municipality_id": "ise",
    },
    "PATCH /api/kb/articles/{article_id}": {"version": 1, "category": "配送"},
    "PUT /api/kb/articles/{article_id}/status": {"status": "draft", "version": 1},
    "PUT /api/tickets/{ticket_id}/category": {"category": "配送遅延"},
    "PUT /api/tickets/{ticket_id}/priority": {"priority": "high"},
    "POST /api/tickets/{ticket_id}/orders": lambda p: {"order_id": int(p["order_id"])},
    "PUT /api/tickets/{ticket_id}/liability": {"bearer": "supplier", "covers": ["再配送"]},
    "POST /api/tickets/{ticket_id}/supplier-notices": {"request": "investigate", "via": "mail"},
    "POST /api/tickets/{ticket_id}/resolve": {"resolution": "再配送で解決"},
}
