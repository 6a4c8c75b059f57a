"""The console's pages over HTTP on both backends: login, security headers, queue, conversation,
compose, dashboard, and the scope of municipality and supplier users."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from support.adapters.fakes import InMemorySearchIndex
from support.app import Adapters, create_app
from support.auth.models import AuditEvent, RoleName
from support.config import Settings
from support.db import utcnow
from support.tickets.models import Order, Ticket
from tests.conftest import Database
from tests.factories import bearer, load_demo_world, make_ticket, make_user

from .helpers import console_login, deliver, page_csrf

DONOR_MAIL = "taro.yamada@example.ne.jp"


@pytest.fixture
def world(database: Database) -> Database:
    load_demo_world(database.factory)
    return database


def _operator(client: TestClient, db: Database) -> str:
    # These tests change tickets behind the app's back: counts must not be reused.
    client.app.state.console_counts.ttl = 0  # type: ignore[attr-defined]
    user, password = make_user(db.factory, RoleName.OPERATOR, username="sato")
    return console_login(client, user.username, password)


class TestLogin:
    def test_pages_carry_a_strict_policy_and_security_headers(self, client: TestClient) -> None:
        page = client.get("/console/login")
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"
        assert "<script>" not in page.text and " style=" not in page.text
        assert "ログイン" in page.text

    def test_sends_visitors_without_a_session_to_the_login_page(self, client: TestClient) -> None:
        page = client.get("/console/inbox", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"] == "/console/login?next=/console/inbox"

    def test_refuses_a_login_form_without_its_token(
        self, client: TestClient, world: Database
    ) -> None:
        user, password = make_user(world.factory, RoleName.OPERATOR)
        refused = client.post(
            "/console/login", data={"username": user.username, "password": password}
        )
        assert refused.status_code == 403
        assert "有効期限" in refused.text

    def test_logs_in_with_secure_cookies_and_out_again(
        self, client: TestClient, world: Database
    ) -> None:
        user, password = make_user(world.factory, RoleName.OPERATOR)
        form = client.get("/console/login?next=//evil.example/")
        token = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
        assert token and 'value="//evil' not in form.text
        done = client.post(
            "/console/login",
            data={
                "login_csrf": token.group(1),
                "username": user.username,
                "password": password,
                "next": "//evil.example/",
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/console/inbox"
        cookies = done.headers.get_list("set-cookie")
        session_cookie = next(c for c in cookies if c.startswith("support_session="))
        assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
        csrf = page_csrf(client.get("/console/inbox").text)
        without = client.post("/console/logout", data={"csrf_token": "forged"})
        assert without.status_code == 403
        out = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303
        assert client.get("/console/inbox", follow_redirects=False).status_code == 303

    def test_wrong_password_is_refused_and_the_account_locks(
        self, client: TestClient, world: Database
    ) -> None:
        user, _ = make_user(world.factory, RoleName.OPERATOR)
        statuses = []
        for _ in range(6):
            token = re.search(
                r'name="login_csrf" value="([^"]+)"', client.get("/console/login").text
            )
            assert token
            statuses.append(
                client.post(
                    "/console/login",
                    data={"login_csrf": token.group(1), "username": user.username, "password": "x"},
                ).status_code
            )
        assert statuses == [401, 401, 401, 401, 423, 423]

    def test_throttles_an_address_across_console_and_api_logins(
        self, database: Database, tmp_path: object
    ) -> None:
        settings = Settings(
            database_url=database.url,
            data_dir=tmp_path,  # type: ignore[arg-type]
            cookie_secure=False,
            login_rate_limit=3,
        )
        app = create_app(settings, adapters=Adapters(search=InMemorySearchIndex()))
        with TestClient(app) as client:
            for _ in range(3):
                token = re.search(
                    r'name="login_csrf" value="([^"]+)"', client.get("/console/login").text
                )
                assert token
                failed = client.post(
                    "/console/login",
                    data={"login_csrf": token.group(1), "username": "nobody", "password": "x"},
                )
                assert failed.status_code == 401
            token = re.search(
                r'name="login_csrf" value="([^"]+)"', client.get("/console/login").text
            )
            assert token
            refused = client.post(
                "/console/login",
                data={"login_csrf": token.group(1), "username": "nobody", "password": "x"},
            )
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) > 0
            api = client.post("/api/auth/token", json={"username": "a", "password": "b"})
            assert api.status_code == 429
            assert api.headers["content-type"].startswith("application/problem+json")

    def test_successful_logins_do_not_use_up_the_address_allowance(
        self, database: Database, tmp_path: object
    ) -> None:
        # A whole office behind one address logs in at nine: only failures count.
        settings = Settings(
            database_url=database.url,
            data_dir=tmp_path,  # type: ignore[arg-type]
            cookie_secure=False,
            login_rate_limit=2,
        )
        _user, password = make_user(database.factory, RoleName.OPERATOR, username="office")
        app = create_app(settings, adapters=Adapters(search=InMemorySearchIndex()))
        with TestClient(app) as client:
            for _ in range(5):
                bearer(client, "office", password)
            wrong = {"username": "office", "password": "wrong-password-1"}
            assert client.post("/api/auth/token", json=wrong).status_code == 401
            assert client.post("/api/auth/token", json=wrong).status_code == 401
            assert client.post("/api/auth/token", json=wrong).status_code == 429


class TestQueue:
    def test_lists_counts_and_filters_by_status(self, client: TestClient, world: Database) -> None:
        _operator(client, world)
        first = deliver(world.factory, DONOR_MAIL, "受領証明書の再発行", "紛失しました")
        second = deliver(world.factory, "someone@example.jp", "配送について", "届きません")
        with world.factory() as s:
            s.get_one(Ticket, first).status = "in_progress"
            s.commit()
        page = client.get("/console/inbox")
        assert page.status_code == 200
        assert "受領証明書の再発行" in page.text and "配送について" in page.text
        assert re.search(r"未対応 <span class=\"badge\">1</span>", page.text)
        assert re.search(r"対応中 <span class=\"badge\">1</span>", page.text)
        only_open = client.get("/console/inbox?status=open").text
        assert f"/console/inbox/{second}" in only_open
        assert f'/console/inbox/{first}"' not in only_open
        by_text = client.get("/console/inbox", params={"q": "紛失"}).text
        assert f"/console/inbox/{first}" in by_text and f"/console/inbox/{second}" not in by_text

    def test_filters_by_sla_state_and_shows_the_due(
        self, client: TestClient, world: Database
    ) -> None:
        _operator(client, world)
        with world.factory() as s:
            old = make_ticket(
                s,
                municipality_id="ise",
                created_at=utcnow() - timedelta(days=30),
                category="品質",
                subject="古い苦情",
            )
            new = make_ticket(
                s, municipality_id="ise", created_at=utcnow(), category="その他", subject="新しい"
            )
            s.commit()
            old_id, new_id = old.id, new.id
        breached = client.get("/console/inbox?sla=breached").text
        assert f"/console/inbox/{old_id}" in breached
        assert f"/console/inbox/{new_id}" not in breached
        assert "期限超過" in breached
        fine = client.get("/console/inbox?sla=ok").text
        assert f"/console/inbox/{new_id}" in fine and f"/console/inbox/{old_id}" not in fine

    def test_bad_filters_are_a_422_page(self, client: TestClient, world: Database) -> None:
        _operator(client, world)
        for query in ("status=bogus", "sla=late", "channel=fax", "page=0", "assignee=x1"):
            page = client.get(f"/console/inbox?{query}")
            assert page.status_code == 422, query
            assert "text/html" in page.headers["content-type"]

    def test_is_for_staff_only(self, client: TestClient, world: Database) -> None:
        user, password = make_user(world.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        console_login(client, user.username, password)
        assert client.get("/console/inbox").status_code == 403
        assert client.get("/console/dashboard").status_code == 403


class TestConversation:
    def test_donor_panel_is_shown_on_demand_and_audited(
        self, client: TestClient, world: Database
    ) -> None:
        _operator(client, world)
        ticket = deliver(world.factory, DONOR_MAIL, "配送について", "まだ届きません")
        page = client.get(f"/console/inbox/{ticket}")
        assert page.status_code == 200 and "まだ届きません" in page.text
        assert "山田 太郎" not in page.text

        def donor_reads() -> int:
            with world.factory() as s:
                return len(
                    s.scalars(
                        select(AuditEvent).where(
                            AuditEvent.resource_type == "donor", AuditEvent.donor_id == "don-001"
                        )
                    ).all()
                )

        assert donor_reads() == 0
        panel = client.get(f"/console/inbox/{ticket}?panel=donor")
        assert "山田 太郎" in panel.text and "ORD-" in panel.text
        assert donor_reads() == 1

    def test_html_mail_is_sanitised_and_sandboxed(
        self, client: TestClient, world: Database
    ) -> None:
        _operator(client, world)
        ticket = deliver(
            world.factory,
            DONOR_MAIL,
            "HTML",
            "本文",
            html='<p onclick="x()">届きません<script>alert(1)</script><img src="https://t.example/p.gif"></p>',
        )
        page = client.get(f"/console/inbox/{ticket}").text
        frame = re.search(r"<iframe[^>]*>", page)
        assert frame and 'sandbox=""' in frame.group(0)
        assert "&lt;p&gt;届きません" in frame.group(0)
        assert "script" not in frame.group(0) and "onclick" not in frame.group(0)
        assert "t.example" not in frame.group(0)

    def test_notes_need_the_form_token(self, client: TestClient, world: Database) -> None:
        csrf = _operator(client, world)
        ticket = deliver(world.factory, DONOR_MAIL, "件名", "本文")
        refused = client.post(f"/console/inbox/{ticket}/notes", data={"body": "メモ"})
        assert refused.status_code == 403
        added = client.post(
            f"/console/inbox/{ticket}/notes",
            data={"body": "配送業者に確認中", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert added.status_code == 303
        assert "配送業者に確認中" in client.get(f"/console/inbox/{ticket}").text

    def test_status_assignee_and_tags_change_in_one_form(
        self, client: TestClient, world: Database
    ) -> None:
        csrf = _operator(client, world)
        ticket = deliver(world.factory, DONOR_MAIL, "件名", "本文")
        done = client.post(
            f"/console/inbox/{ticket}/work",
            data={
                "csrf_token": csrf,
                "status": "in_progress",
                "assignee": "me",
                "tags": "配送, 至急",
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
        with world.factory() as s:
            row = s.get_one(Ticket, ticket)
            assert row.status == "in_progress" and row.assignee_id is not None
        assert "至急" in client.get("/console/inbox?tag=至急").text
        bad = client.post(
            f"/console/inbox/{ticket}/work", data={"csrf_token": csrf, "status": "awaiting"}
        )
        assert bad.status_code == 422

    def test_guard_findings_name_another_donors_order(
        self, client: TestClient, world: Database
    ) -> None:
        csrf = _operator(client, world)
        ticket = deliver(world.factory, DONOR_MAIL, "配送について", "届きません")
        with world.factory() as s:
            other = s.scalars(select(Order).where(Order.donor_id != "don-001")).first()
            assert other is not None
            foreign = other.order_no
        url = f"/console/api/inbox/{ticket}/check"
        draft = {"to": DONOR_MAIL, "subject": "Re", "body": f"山田 太郎 様\n注文 {foreign} の件"}
        assert client.post(url, json=draft).status_code == 403
        found = client.post(url, json=draft, headers={"X-CSRF-Token": csrf}).json()
        assert found["blocking"] is True
        assert [f["code"] for f in found["findings"]] == ["foreign_pii"]
        draft["body"] = "山田 太郎 様\nお問い合わせの件"
        clean = client.post(url, json=draft, headers={"X-CSRF-Token": csrf}).json()
        assert clean == {"blocking": False, "findings": []}

    def test_canned_reply_starts_a_draft_for_the_donor(
        self, client: TestClient, world: Database
    ) -> None:
        csrf = _operator(client, world)
        ticket = deliver(world.factory, DONOR_MAIL, "配送", "届きません")
        page = client.get(f"/console/inbox/{ticket}").text
        assert 'value="delivery_status">返礼品の配送状況のご案内' in page
        seen = re.search(r'name="seen_version" value="(\d+)"', page)
        assert seen
        form = {"csrf_token": csrf, "seen_version": seen.group(1), "template": "delivery_status"}
        made = client.post(f"/console/inbox/{ticket}/canned", data=form, follow_redirects=False)
        assert made.status_code == 303 and "draft=" in made.headers["location"]
        draft = client.get(made.headers["location"]).text
        body = re.search(r'<textarea id="body"[^>]*>([^<]*)</textarea>', draft)
        assert body and body.group(1).startswith("山田 太郎 様")
        assert "伊勢市" in body.group(1)
        form["template"] = "nope"
        assert client.post(f"/console/inbox/{ticket}/canned", data=form).status_code == 404

    def test_a_draft_begun_before_a_new_note_is_refused(
        self, client: TestClient, world: Database
    ) -> None:
        csrf = _operator(client, world)
        ticket = deliver(world.factory, DONOR_MAIL, "配送", "届きません")
        page = client.get(f"/console/inbox/{ticket}").text
        seen = re.search(r'name="seen_version" value="(\d+)"', page)
        assert seen
        client.post(f"/console/inbox/{ticket}/notes", data={"body": "新情報", "csrf_token": csrf})
        form = {
            "csrf_token": csrf,
            "seen_version": seen.group(1),
            "to": DONOR_MAIL,
            "subject": "Re: 配送",
            "body": "山田 太郎 様",
        }
        stale = client.post(f"/console/inbox/{ticket}/drafts", data=form)
        assert stale.status_code == 409
        assert "新しいメールまたはメモ" in stale.text
        form["seen_version"] = str(int(seen.group(1)) + 1)
        saved = client.post(f"/console/inbox/{ticket}/drafts", data=form, follow_redirects=False)
        assert saved.status_code == 303 and "saved=" in saved.headers["location"]

    def test_unknown_conversation_is_a_404_page(self, client: TestClient, world: Database) -> None:
        _operator(client, world)
        page = client.get("/console/inbox/999999")
        assert page.status_code == 404 and "見つかりません" in page.text


class TestDashboard:
    def test_shows_todays_load_as_a_chart(self, client: TestClient, world: Database) -> None:
        _operator(client, world)
        deliver(world.factory, DONOR_MAIL, "配送", "届きません")
        with world.factory() as s:
            make_ticket(s, municipality_id="ise", created_at=utcnow() - timedelta(days=40))
            s.commit()
        page = client.get("/console/dashboard")
        assert page.status_code == 200
        assert "<svg" in page.text and 'class="c-mail"' in page.text
        assert "本日の受付 1 件" in page.text
        assert re.search(r'/console/inbox\?sla=breached">1<', page.text)


class TestPartners:
    def _reports(self, client: TestClient, db: Database) -> None:
        staff = bearer(client, *_credentials(db, RoleName.SUPERVISOR))
        for city in ("ise", "yokohama"):
            made = client.post(f"/api/reports/monthly/{city}/2025-12", headers=staff)
            assert made.status_code == 201, made.text

    def test_city_user_reads_its_reports_and_not_another_citys(
        self, client: TestClient, world: Database
    ) -> None:
        self._reports(client, world)
        user, password = make_user(world.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        console_login(client, user.username, password)
        assert client.get("/console/reports", follow_redirects=False).headers["location"] == (
            "/console/reports/ise"
        )
        own = client.get("/console/reports/ise/2025-12")
        assert own.status_code == 200 and "format=pdf" in own.text
        for url in (
            "/console/reports/yokohama",
            "/console/reports/yokohama/2025-12",
            "/console/reports/ise/2024-01",
        ):
            assert client.get(url).status_code == 404, url
        assert client.get("/api/reports/monthly/yokohama/2025-12?format=pdf").status_code == 404

    def test_supplier_sees_only_complaints_about_its_gifts(
        self, client: TestClient, world: Database
    ) -> None:
        with world.factory() as s:
            mine = s.scalars(select(Order).where(Order.supplier_id == "sup-01")).first()
            other = s.scalars(select(Order).where(Order.supplier_id != "sup-01")).first()
            assert mine and other
            ids = [
                make_ticket(
                    s,
                    municipality_id=o.municipality_id,
                    created_at=utcnow(),
                    supplier_id=o.supplier_id,
                    order_id=o.id,
                    subject=f"苦情 {o.supplier_id}",
                ).id
                for o in (mine, other)
            ]
            s.commit()
        user, password = make_user(world.factory, RoleName.SUPPLIER, supplier_id="sup-01")
        console_login(client, user.username, password)
        listing = client.get("/console/complaints").text
        assert f"/console/complaints/{ids[0]}" in listing
        assert f"/console/complaints/{ids[1]}" not in listing
        assert client.get(f"/console/complaints/{ids[0]}").status_code == 200
        assert client.get(f"/console/complaints/{ids[1]}").status_code == 404
        assert client.get("/console/reports").status_code == 403


def _credentials(db: Database, role: RoleName) -> tuple[str, str]:
    user, password = make_user(db.factory, role)
    return user.username, password


class TestKnowledgeBase:
    def test_draft_publish_search_and_suggest_in_a_conversation(
        self, client: TestClient, world: Database
    ) -> None:
        user, password = make_user(world.factory, RoleName.SUPERVISOR)
        csrf = console_login(client, user.username, password)
        fields = {
            "csrf_token": csrf,
            "title": "寄附金受領証明書を紛失した",
            "answer_short": "再発行できます。寄附先の自治体にご連絡ください。",
            "body": "寄附金受領証明書を紛失した場合は再発行します。",
            "category": "受領証明書",
            "tags": "受領証明書, 再発行",
        }
        bad = client.post("/console/kb/new", data={**fields, "answer_short": "https://x.example"})
        assert bad.status_code == 422 and "URL" in bad.text
        made = client.post("/console/kb/new", data=fields, follow_redirects=False)
        assert made.status_code == 303
        url = made.headers["location"]
        page = client.get(url).text
        assert "下書き" in page
        version = re.search(r'name="version" value="(\d+)"', page)
        assert version
        stale = client.post(url, data={"csrf_token": csrf, "version": "99", "status": "published"})
        assert stale.status_code == 409
        published = client.post(
            url, data={"csrf_token": csrf, "version": version.group(1), "status": "published"}
        )
        assert published.status_code == 200 and "公開中" in published.text
        found = client.get("/console/kb", params={"q": "受領証明書 紛失"}).text
        assert "寄附金受領証明書を紛失した" in found
        # The in-memory index matches whole words: the words are spaced as a tokenizer would.
        ticket = deliver(
            world.factory, DONOR_MAIL, "受領証明書 紛失", "受領証明書 を 紛失 しました"
        )
        conversation = client.get(f"/console/inbox/{ticket}").text
        assert 'data-text="再発行できます。' in conversation


class TestComplaintPage:
    def test_staff_confirm_liability_notify_the_supplier_and_resolve(
        self, client: TestClient, world: Database
    ) -> None:
        with world.factory() as s:
            order = s.scalars(select(Order).where(Order.municipality_id == "ise")).first()
            assert order is not None
            ticket = make_ticket(
                s,
                municipality_id="ise",
                created_at=utcnow(),
                category="破損",
                supplier_id=order.supplier_id,
                order_id=order.id,
                subject="箱が潰れていました",
            ).id
            s.commit()
        city, city_pw = make_user(world.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        console_login(client, city.username, city_pw)
        facts = client.get(f"/console/complaints/{ticket}").text
        assert "箱が潰れていました" in facts and "経過" not in facts
        csrf = _operator(client, world)
        page = client.get(f"/console/complaints/{ticket}").text
        assert "経過" in page and "自治体ルールによる判定" in page
        bad = client.post(
            f"/console/complaints/{ticket}/liability",
            data={"csrf_token": csrf, "bearer": "nobody"},
        )
        assert bad.status_code == 422
        done = client.post(
            f"/console/complaints/{ticket}/liability",
            data={"csrf_token": csrf, "bearer": "supplier", "covers": ["交換", "再配送"]},
            follow_redirects=False,
        )
        assert done.status_code == 303
        notified = client.post(
            f"/console/complaints/{ticket}/supplier-notice",
            data={"csrf_token": csrf, "request": "replacement", "note": "交換をお願いします"},
            follow_redirects=False,
        )
        assert notified.status_code == 303, notified.text
        resolved = client.post(
            f"/console/complaints/{ticket}/resolve",
            data={"csrf_token": csrf, "resolution": "交換品をお届けしました"},
            follow_redirects=False,
        )
        assert resolved.status_code == 303
        final = client.get(f"/console/complaints/{ticket}").text
        assert "確定済み：返礼品提供事業者（交換、再配送）" in final
        assert "費用負担の確定" in final and "解決" in final
        assert "解決済みにする" not in final
        with world.factory() as s:
            assert s.get_one(Ticket, ticket).status == "closed"
