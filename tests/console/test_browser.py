"""The console in a real browser (Debian's chromium through Playwright) against `support serve`.

An operator logs in with the keyboard, opens a new mail from the queue, replies with a
template, is warned after typing another donor's order number, fixes it and saves; a colleague's
presence shows. A municipality user cannot reach another municipality's report by editing the
URL. Screenshots (Japanese rendered with Noto CJK) go to build/screenshots/.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from support.auth import service as auth_service
from support.auth.models import RoleName
from support.db import make_engine, make_session_factory
from support.migrations import upgrade
from support.tickets import report_store
from support.tickets.models import Order
from support.tickets.policy import default_policy_dir, load_policies
from support.tickets.reports import ReportMonth
from tests.cli_util import support_env
from tests.services.debian import ensure_installed
from tests.services.netutil import wait_until
from tests.services.smtp_sink import SmtpSink
from tests.test_server import Server

from .helpers import DESK, deliver

CHROMIUM = Path("/usr/bin/chromium")
NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
PASSWORD = "browser-test-password-1"
DONOR_MAIL = "taro.yamada@example.ne.jp"
WAIT_MS = 15_000


@dataclass
class Served:
    """The running server and what the tests need to know of its data."""

    url: str
    ticket_id: int
    foreign_order_no: str
    env: dict[str, str]
    root: Path
    sink: SmtpSink


def _user(factory: Any, username: str, role: RoleName, name: str, **org: str) -> None:
    with factory() as session:
        auth_service.create_user(
            session=session,
            username=username,
            password=PASSWORD,
            role=role,
            display_name=name,
            **org,
        )
        session.commit()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Seed a SQLite database and serve it with `support serve` on a free loopback port."""
    ensure_installed("chromium", CHROMIUM)
    ensure_installed("fonts-noto-cjk", NOTO_CJK)
    root = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{root / 'support.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    from tests.factories import load_demo_world

    load_demo_world(factory)
    _user(factory, "sato", RoleName.OPERATOR, "佐藤")
    _user(factory, "suzuki", RoleName.OPERATOR, "鈴木")
    _user(factory, "takahashi", RoleName.SUPERVISOR, "高橋")
    _user(factory, "ise-city", RoleName.MUNICIPALITY, "伊勢市 担当", municipality_id="ise")
    policies = load_policies(default_policy_dir())
    with factory() as session:
        for city in ("ise", "yokohama"):
            report_store.store_monthly(
                session=session, policy=policies[city], month=ReportMonth.parse("2025-12")
            )
        foreign = session.scalars(select(Order).where(Order.donor_id != "don-001")).first()
        assert foreign is not None
        foreign_no = foreign.order_no
        session.commit()
    deliver(factory, "someone@example.jp", "ワンストップ特例の申請書について", "届いていません")
    ticket = deliver(
        factory,
        DONOR_MAIL,
        "返礼品がまだ届きません",
        "12月に申し込んだ返礼品がまだ届きません。\n発送状況を教えてください。\n山田",
    )
    engine.dispose()
    sink = SmtpSink(root / "smtp").start()
    env = support_env(
        url,
        root / "data",
        SUPPORT_COOKIE_SECURE="false",
        SUPPORT_SMTP_HOST="127.0.0.1",
        SUPPORT_SMTP_PORT=str(sink.port),
        SUPPORT_SMTP_SECURITY="none",
        SUPPORT_UNDO_SECONDS="2",
        SUPPORT_MAIL_ADDRESSES=json.dumps({DESK: "ise"}),
        SUPPORT_MAIL_FROM=DESK,
    )
    server = Server(env, root / "server.log")
    try:
        wait_until(server.ready, timeout=60, what="support serve to become ready")
        yield Served(server.url, ticket, foreign_no, env, root, sink)
    finally:
        server.stop()
        sink.stop()


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    """Launch Debian's chromium (never a downloaded browser)."""
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


def _page(browser: Any, served: Served, errors: list[str]) -> Any:
    context = browser.new_context(
        base_url=served.url, viewport={"width": 1280, "height": 800}, locale="ja-JP"
    )
    page = context.new_page()
    # A CSP violation or a script error shows up here and fails the test.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def _login_with_keyboard(page: Any, username: str) -> None:
    page.goto("/console/login")
    page.keyboard.type(username)  # the username field has autofocus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/console/login" not in url)


def _shot(page: Any, name: str, *, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


class TestOperatorReply:
    def test_replies_with_a_template_and_is_warned_of_another_donors_order(
        self, browser: Any, served: Served
    ) -> None:
        errors: list[str] = []
        colleague = _page(browser, served, errors)
        _login_with_keyboard(colleague, "suzuki")
        colleague.goto(f"/console/inbox/{served.ticket_id}")
        colleague.locator("#body").press_sequentially("確認します")
        colleague.locator("#findings li:not(.muted)").first.wait_for(timeout=WAIT_MS)

        page = _page(browser, served, errors)
        _login_with_keyboard(page, "sato")
        assert page.url.endswith("/console/inbox")
        row = page.get_by_role("link", name="返礼品がまだ届きません")
        row.wait_for()
        assert page.locator("table.queue tbody tr").count() == 2
        _shot(page, "queue")
        row.click()
        page.wait_for_url(f"**/console/inbox/{served.ticket_id}")
        assert "鈴木さんが返信を作成中" in page.locator("#presence").inner_text()

        page.select_option("#template", "delivery_status")
        page.get_by_role("button", name="テンプレートで作成（本文を置き換え）").click()
        page.wait_for_url("**draft=*")
        body = page.locator("#body")
        expect(body).to_have_value(re.compile(r"^山田 太郎 様"), timeout=WAIT_MS)
        page.locator("#findings li.clear").wait_for(timeout=WAIT_MS)

        body.press("Control+End")
        body.press_sequentially(f"\nご注文 {served.foreign_order_no} について")
        warning = page.locator("#findings li.block")
        warning.wait_for(timeout=WAIT_MS)
        assert served.foreign_order_no in warning.inner_text() or "他の寄附者" in (
            warning.inner_text()
        )
        _shot(page, "conversation", full_page=True)

        text = body.input_value().replace(f"\nご注文 {served.foreign_order_no} について", "")
        body.fill(text)
        body.press("End")
        body.press_sequentially(" ")
        page.locator("#findings li.clear").wait_for(timeout=WAIT_MS)
        assert page.locator("#findings li.block").count() == 0

        page.get_by_role("button", name="承認を依頼して送信").click()
        page.wait_for_url("**draft=*")
        assert "承認待ち" in page.locator(".draft-state").inner_text()

        page.goto("/console/dashboard")
        page.locator("svg rect.c-mail").first.wait_for()
        _shot(page, "dashboard")
        assert errors == []


class TestSupervisorApproval:
    def test_approved_reply_reaches_the_smtp_server_after_the_undo_window(
        self, browser: Any, served: Served
    ) -> None:
        errors: list[str] = []
        page = _page(browser, served, errors)
        _login_with_keyboard(page, "takahashi")
        page.goto("/console/approvals")
        card = page.locator("article.approval").first
        card.wait_for()
        assert "返礼品がまだ届きません" in card.inner_text()
        assert "佐藤" in card.inner_text()
        _shot(page, "approvals", full_page=True)
        card.get_by_role("button", name="承認して送信").click()
        page.wait_for_url("**done=approved")
        assert "承認待ちの返信はありません" in page.content()

        worker = subprocess.Popen(
            [sys.executable, "-m", "support", "worker", "--idle-seconds", "0.2"],
            env=served.env,
            stdout=(served.root / "worker.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:

            def reply() -> Any:
                for _envelope, raw in served.sink.messages():
                    mail = message_from_bytes(raw, policy=default)
                    if str(mail["Subject"]).startswith("Re: 返礼品がまだ届きません"):
                        return mail
                return None

            wait_until(lambda: reply() is not None, timeout=60, what="the reply at the sink")
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
        mail = reply()
        assert mail["To"] == DONOR_MAIL
        text = mail.get_content()
        assert text.startswith("山田 太郎 様") and served.foreign_order_no not in text
        page.goto(f"/console/inbox/{served.ticket_id}")
        assert "返信済" in page.locator(".conv-head").inner_text()
        assert errors == []


class TestMunicipalityScope:
    def test_cannot_reach_another_citys_report_by_editing_the_url(
        self, browser: Any, served: Served
    ) -> None:
        errors: list[str] = []
        page = _page(browser, served, errors)
        _login_with_keyboard(page, "ise-city")
        page.goto("/console/reports")
        page.wait_for_url("**/console/reports/ise")
        page.get_by_role("link", name="2025-12").click()
        page.wait_for_url("**/console/reports/ise/2025-12")
        assert page.get_by_role("link", name="PDF").count() == 1
        for url in ("/console/reports/yokohama/2025-12", "/console/reports/yokohama"):
            response = page.goto(url)
            assert response is not None and response.status == 404
            assert "見つかりません" in page.content()
        api = page.goto("/api/reports/monthly/yokohama/2025-12?format=pdf")
        assert api is not None and api.status == 404
        inbox = page.goto("/console/inbox")
        assert inbox is not None and inbox.status == 403
        # The refused pages themselves are logged as failed loads; nothing else may fail.
        assert [e for e in errors if not e.startswith("Failed to load resource")] == []
