"""Console test helpers: log in through the login form, read the CSRF token, deliver mail."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import make_msgid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from support.mail.ingest import MailboxConfig, ingest

DESK = "support-ise@furusato-desk.example.jp"
CONFIG = MailboxConfig(our_addresses=frozenset({DESK}), municipality_by_address={DESK: "ise"})
_LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf-token" content="([^"]*)"')


def console_login(client: TestClient, username: str, password: str) -> str:
    """Log in through the form; return the page CSRF token of the landing page."""
    form = client.get("/console/login")
    token = _LOGIN_CSRF.search(form.text)
    assert token, form.text
    done = client.post(
        "/console/login",
        data={"login_csrf": token.group(1), "username": username, "password": password},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    landing = client.get(done.headers["location"])
    assert landing.status_code == 200, landing.text
    return page_csrf(landing.text)


def page_csrf(html: str) -> str:
    """Return the CSRF token a page carries."""
    found = _CSRF.search(html)
    assert found, html[:500]
    return found.group(1)


def deliver(
    factory: sessionmaker[Session],
    sender: str,
    subject: str,
    body: str,
    *,
    html: str | None = None,
) -> int:
    """Ingest a mail to the Ise desk; return its ticket id."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = DESK
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.jp")
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    with factory() as session:
        outcome = ingest(session=session, raw=msg.as_bytes(), config=CONFIG)
        session.commit()
    assert outcome.ticket_id is not None
    return outcome.ticket_id
