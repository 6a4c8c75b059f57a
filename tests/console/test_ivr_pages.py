"""The IVR call log page on both backends: masked numbers, Japanese outcomes, filters, scope."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from support.adapters.fakes import InMemorySearchIndex
from support.auth.models import AuditEvent, RoleName
from support.calendar import JST
from support.ivr.calllog import mask_caller
from support.ivr.models import IvrCall, IvrCallEvent
from support.tickets import caller
from tests.conftest import Database
from tests.factories import load_demo_world, make_user
from tests.ivr.harness import CALLER, ISE, Clock, ivr_settings, open_phone

from .helpers import console_login

MOBILE = "+819012345678"
LANDLINE = "+81596281234"
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE42"
DAY = datetime(2026, 12, 7, 9, 30, tzinfo=JST)
NEXT_DAY = datetime(2026, 12, 8, 0, 10, tzinfo=JST)


@pytest.fixture
def calls(database: Database) -> Database:
    """Three calls: a voicemail with a recording (Ise), an FAQ answer, one cut off (Yokohama)."""
    load_demo_world(database.factory)
    with database.factory() as s:
        ticket_id = caller.open_voicemail_ticket(
            session=s,
            subject="電話のご伝言: 返礼品が届かない",
            note="自動音声（IVR）で承ったご伝言です。",
            municipality_id="ise",
            order_id=None,
            caller_number=MOBILE,
            recording_url=RECORDING,
            transcript="返礼品が届かない",
            callback_due=NEXT_DAY,
            call_sid="CA-vm",
        )
        rows = [
            IvrCall(
                call_sid="CA-vm",
                to_number="+81596000101",
                from_number=MOBILE,
                municipality_id="ise",
                step="ended",
                state={},
                outcome="voicemail",
                wrong_tries=2,
                ticket_id=ticket_id,
                started_at=DAY,
                duration_seconds=95,
            ),
            IvrCall(
                call_sid="CA-faq",
                to_number="+81596000101",
                from_number=LANDLINE,
                municipality_id="ise",
                step="ended",
                state={},
                outcome="faq_answered",
                started_at=NEXT_DAY,
                duration_seconds=42,
            ),
            IvrCall(
                call_sid="CA-cut",
                to_number="+81450000102",
                from_number="+818011112222",
                municipality_id="yokohama",
                step="menu",
                state={},
                outcome="abandoned",
                started_at=DAY.replace(hour=11),
                duration_seconds=7,
            ),
        ]
        s.add_all(rows)
        s.flush()
        vm = rows[0].id
        s.add_all(
            IvrCallEvent(call_id=vm, kind=kind, detail={})
            for kind in ("verification_failed", "verification_failed", "voicemail", "ended")
        )
        s.commit()
    return database


def _staff(client: TestClient, db: Database) -> None:
    user, password = make_user(db.factory, RoleName.OPERATOR, username="ivr-op")
    console_login(client, user.username, password)


def _cells(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def test_masks_caller_numbers() -> None:
    assert mask_caller(MOBILE) == "090-****-5678"
    assert mask_caller(LANDLINE) == "***-****-1234"
    assert mask_caller(None) == "非通知" and mask_caller("anonymous") == "非通知"


def test_staff_sees_calls_masked_with_japanese_outcomes(
    client: TestClient, calls: Database
) -> None:
    _staff(client, calls)
    page = client.get("/console/ivr")
    assert page.status_code == 200
    html = page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert 'href="/console/ivr" aria-current="page"' in html
    rows = _cells(html)
    assert len(rows) == 3
    # Newest first: the FAQ call of the 8th, then the cut-off and the voicemail of the 7th.
    assert "2026-12-08 00:10:00" in rows[0] and "自動応答で解決（よくある質問）" in rows[0]
    assert "途中切断" in rows[1] and "080-****-2222" in rows[1]
    vm = rows[2]
    assert "2026-12-07 09:30:00" in vm and "伊勢市" in vm
    assert "090-****-5678" in vm and "留守電（伝言あり）" in vm and "1分35秒" in vm
    assert "本人確認失敗 → 伝言の録音" in vm and "2回" in vm
    assert re.search(r'href="/console/inbox/\d+">#\d+', vm)
    assert f'href="{RECORDING}" target="_blank" rel="noopener noreferrer"' in vm
    for full in ("09012345678", "090-1234-5678", "9012345678", "0596281234", "8011112222"):
        assert full not in html, full
    with calls.factory() as s:
        listed = s.scalars(
            select(AuditEvent).where(AuditEvent.resource_type == "ivr_recording")
        ).all()
    assert len(listed) == 1 and listed[0].actor_username == "ivr-op"


def test_filters_by_municipality_outcome_and_day(client: TestClient, calls: Database) -> None:
    _staff(client, calls)
    city = _cells(client.get("/console/ivr?municipality=yokohama").text)
    assert len(city) == 1 and "途中切断" in city[0]
    vm = _cells(client.get("/console/ivr?outcome=voicemail").text)
    assert len(vm) == 1 and "留守電（伝言あり）" in vm[0]
    # The day is Japan's: 00:10 JST on the 8th is still the 7th in UTC.
    day = _cells(client.get("/console/ivr?date=2026-12-08").text)
    assert len(day) == 1 and "自動応答で解決" in day[0]
    both = client.get("/console/ivr?municipality=ise&date=2026-12-07")
    assert len(_cells(both.text)) == 1 and "1件" in both.text
    none = client.get("/console/ivr?outcome=operator").text
    assert "該当する通話はありません" in none
    for bad in ("outcome=bogus", "date=2026-13-01", "municipality=atlantis", "page=0"):
        page = client.get(f"/console/ivr?{bad}")
        assert page.status_code == 422, bad
        assert "text/html" in page.headers["content-type"]


def test_is_for_staff_only(client: TestClient, calls: Database) -> None:
    city, city_pw = make_user(calls.factory, RoleName.MUNICIPALITY, municipality_id="ise")
    console_login(client, city.username, city_pw)
    refused = client.get("/console/ivr")
    assert refused.status_code == 403
    assert "090-****-5678" not in refused.text and "/console/ivr" not in refused.text
    supplier, supplier_pw = make_user(calls.factory, RoleName.SUPPLIER, supplier_id="sup-01")
    console_login(client, supplier.username, supplier_pw)
    assert client.get("/console/ivr").status_code == 403


def test_pages_by_fifty_newest_first(client: TestClient, calls: Database) -> None:
    with calls.factory() as s:
        s.add_all(
            IvrCall(
                call_sid=f"CA-bulk-{n}",
                to_number="+81120000100",
                from_number=None,
                step="ended",
                state={},
                outcome="operator",
                started_at=DAY.replace(hour=1, minute=n),
            )
            for n in range(50)
        )
        s.commit()
    _staff(client, calls)
    first = client.get("/console/ivr")
    assert len(_cells(first.text)) == 50 and "53件" in first.text and "1 / 2 ページ" in first.text
    assert 'href="/console/ivr?page=2" rel="next"' in first.text
    second = client.get("/console/ivr?page=2").text
    rows = _cells(second)
    # Page 2 holds the three oldest: the bulk calls of 01:02, 01:01 and 01:00.
    assert len(rows) == 3 and "2026-12-07 01:02:00" in rows[0] and "2026-12-07 01:00:00" in rows[2]
    assert "代表番号" in rows[0] and "非通知" in rows[0] and "オペレーター接続" in rows[0]


def test_links_a_recording_that_came_after_the_hang_up(client: TestClient, calls: Database) -> None:
    late = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE-late"
    with calls.factory() as s:
        ticket_id = caller.open_voicemail_ticket(
            session=s,
            subject="電話のご伝言（折り返し希望）",
            note="自動音声（IVR）で承ったご伝言です。",
            municipality_id="ise",
            order_id=None,
            caller_number=MOBILE,
            recording_url=None,
            transcript=None,
            callback_due=NEXT_DAY,
            call_sid="CA-late",
        )
        caller.add_late_recording(session=s, ticket_id=ticket_id, recording_url=late, seconds=12)
        s.add(
            IvrCall(
                call_sid="CA-late",
                to_number="+81596000101",
                from_number=MOBILE,
                municipality_id="ise",
                step="ended",
                state={},
                outcome="voicemail",
                ticket_id=ticket_id,
                started_at=NEXT_DAY.replace(hour=8),
            )
        )
        s.commit()
    _staff(client, calls)
    rows = _cells(client.get("/console/ivr?date=2026-12-08&outcome=voicemail").text)
    assert len(rows) == 1 and f'href="{late}"' in rows[0] and f"#{ticket_id}" in rows[0]


def test_calls_placed_through_the_webhooks_show_in_the_log(
    database: Database, tmp_path: Path
) -> None:
    load_demo_world(database.factory)
    settings = ivr_settings(database, tmp_path)
    for phone in open_phone(settings, InMemorySearchIndex(), Clock()):
        phone.call([{"digits": "3"}, {"speech": "苦情があります"}, {"record": 40}], number=ISE)
        wrong = [{"digits": "2025000423"}, {"digits": "0000"}]
        phone.call([{"digits": "1"}, *wrong, *wrong, *wrong, {"digits": "1"}], number=ISE)
        user, password = make_user(database.factory, RoleName.SUPERVISOR, username="ivr-sv")
        console_login(phone.http, user.username, password)
        html = phone.http.get("/console/ivr?municipality=ise").text
    rows = _cells(html)
    assert len(rows) == 2
    failed, voicemail = rows
    assert "本人確認できず" in failed and "本人確認失敗" in failed and "3回" in failed
    assert "留守電（伝言あり）" in voicemail and "伝言の録音" in voicemail
    assert re.search(r'href="https://api\.twilio\.com/[^"]+/Recordings/RE[0-9a-f]{32}"', voicemail)
    assert re.search(r'href="/console/inbox/\d+"', voicemail)
    assert "090-****-5678" in voicemail and CALLER.removeprefix("+81") not in html
