"""The shared inbox over HTTP: queue, statuses, labels, notes, merge, split, presence, drafts."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from support.auth.models import AuditEvent, RoleName
from support.mail.ingest import MailboxConfig, ingest
from tests.conftest import Database
from tests.factories import load_demo_world, login_as, make_user

CONFIG = MailboxConfig(
    our_addresses=frozenset({"support-ise@furusato-desk.example.jp"}),
    municipality_by_address={"support-ise@furusato-desk.example.jp": "ise"},
)


def _deliver(
    db: Database,
    sender: str,
    subject: str,
    body: str,
    *,
    in_reply_to: str | None = None,
    message_id: str | None = None,
) -> int:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support-ise@furusato-desk.example.jp"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="example.jp")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    with db.factory() as s:
        outcome = ingest(session=s, raw=msg.as_bytes(), config=CONFIG)
        s.commit()
    return outcome.ticket_id


@pytest.fixture
def staff(client: TestClient, database: Database) -> dict[str, str]:
    load_demo_world(database.factory)
    return login_as(client, database.factory, RoleName.OPERATOR)


class TestQueue:
    def test_lists_filters_and_searches(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        first = _deliver(
            database, "taro.yamada@example.ne.jp", "受領証明書の再発行", "紛失しました"
        )
        second = _deliver(database, "x@example.jp", "配送について", "まだ届きません")
        listed = client.get("/api/inbox", headers=staff).json()
        assert listed["total"] == 2
        assert [i["id"] for i in listed["items"]] == [second, first]
        assert listed["items"][0]["status_label"] == "未対応"
        found = client.get("/api/inbox", params={"q": "届きません"}, headers=staff).json()
        assert [i["id"] for i in found["items"]] == [second]
        by_donor = client.get("/api/inbox", params={"donor_id": "don-001"}, headers=staff)
        assert [i["id"] for i in by_donor.json()["items"]] == [first]
        wild = client.get("/api/inbox", params={"q": "%"}, headers=staff).json()
        assert wild["total"] == 0

    def test_search_by_order_number(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        orders = client.get("/api/orders", params={"donor_id": "don-001"}, headers=staff).json()
        order_no = orders["items"][0]["order_no"]
        ticket = _deliver(database, "taro.yamada@example.ne.jp", "注文", f"{order_no} の件")
        _deliver(database, "x@example.jp", "他", "関係ない")
        found = client.get("/api/inbox", params={"order_no": order_no}, headers=staff).json()
        assert [i["id"] for i in found["items"]] == [ticket]

    def test_municipality_and_supplier_users_have_no_inbox(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        ise = login_as(client, database.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        assert client.get("/api/inbox", headers=ise).status_code == 403


class TestWorkingAConversation:
    def test_status_assignee_tags_and_notes(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        ticket = _deliver(database, "x@example.jp", "質問", "本文")
        colleague, _ = make_user(database.factory, RoleName.OPERATOR)
        assert (
            client.put(
                f"/api/inbox/{ticket}/assignee", json={"assignee_id": colleague.id}, headers=staff
            ).status_code
            == 204
        )
        tags = client.put(
            f"/api/inbox/{ticket}/tags", json={"tags": ["破損", " 至急 ", "破損"]}, headers=staff
        ).json()
        assert tags == ["破損", "至急"]
        note = client.post(
            f"/api/inbox/{ticket}/notes", json={"body": "事業者に確認中"}, headers=staff
        )
        assert note.status_code == 201
        convo = client.get(f"/api/inbox/{ticket}", headers=staff).json()
        assert convo["status_label"] == "対応中" and convo["assignee_id"] == colleague.id
        assert [n["body"] for n in convo["notes"]] == ["事業者に確認中"]
        assert (
            client.put(
                f"/api/inbox/{ticket}/status", json={"status": "closed"}, headers=staff
            ).status_code
            == 204
        )
        mine = client.get(
            "/api/inbox",
            params={"assignee_id": colleague.id, "tag": "至急", "status": "closed"},
            headers=staff,
        ).json()
        assert [i["id"] for i in mine["items"]] == [ticket]

    def test_awaiting_approval_cannot_be_set_by_hand(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        ticket = _deliver(database, "x@example.jp", "質問", "本文")
        response = client.put(
            f"/api/inbox/{ticket}/status", json={"status": "awaiting_approval"}, headers=staff
        )
        assert response.status_code == 422

    def test_unknown_status_and_assignee_are_refused(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        ticket = _deliver(database, "x@example.jp", "質問", "本文")
        assert (
            client.put(
                f"/api/inbox/{ticket}/status", json={"status": "done"}, headers=staff
            ).status_code
            == 422
        )
        assert (
            client.put(
                f"/api/inbox/{ticket}/assignee", json={"assignee_id": 99999}, headers=staff
            ).status_code
            == 422
        )

    def test_reading_a_donors_conversation_is_audited(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        ticket = _deliver(database, "taro.yamada@example.ne.jp", "質問", "本文")
        client.get(f"/api/inbox/{ticket}", headers=staff)
        with database.factory() as s:
            events = s.scalars(select(AuditEvent).where(AuditEvent.donor_id == "don-001")).all()
        assert [e.resource_type for e in events] == ["conversation"]


class TestMergeAndSplit:
    def test_merge_keeps_both_histories_and_follows_replies(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        a = _deliver(database, "taro.yamada@example.ne.jp", "一通目", "本文", message_id="<a@x.jp>")
        b = _deliver(database, "taro.yamada@example.ne.jp", "二通目", "本文")
        assert (
            client.post(
                f"/api/inbox/{a}/merge", json={"into_ticket_id": b}, headers=staff
            ).status_code
            == 204
        )
        assert client.get(f"/api/inbox/{a}", headers=staff).json()["merged_into_id"] == b
        later = _deliver(
            database, "taro.yamada@example.ne.jp", "Re: 一通目", "追伸", in_reply_to="<a@x.jp>"
        )
        assert later == b
        assert client.get("/api/inbox", headers=staff).json()["total"] == 1

    def test_merging_different_donors_is_refused(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        a = _deliver(database, "taro.yamada@example.ne.jp", "一", "本文")
        b = _deliver(database, "taro.yamada1@example.ne.jp", "二", "本文")
        assert (
            client.post(
                f"/api/inbox/{a}/merge", json={"into_ticket_id": b}, headers=staff
            ).status_code
            == 409
        )

    def test_split_moves_messages_to_a_new_conversation(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        a = _deliver(database, "x@example.jp", "最初", "本文", message_id="<s1@x.jp>")
        _deliver(database, "x@example.jp", "Re: 最初", "別の質問です", in_reply_to="<s1@x.jp>")
        convo = client.get(f"/api/inbox/{a}", headers=staff).json()
        second = convo["messages"][1]["id"]
        response = client.post(
            f"/api/inbox/{a}/split",
            json={"message_ids": [second], "subject": "別件"},
            headers=staff,
        )
        assert response.status_code == 201
        new = response.json()["ticket_id"]
        moved = client.get(f"/api/inbox/{new}", headers=staff).json()
        assert [m["id"] for m in moved["messages"]] == [second] and moved["subject"] == "別件"
        everything = {"message_ids": [convo["messages"][0]["id"]]}
        assert (
            client.post(f"/api/inbox/{a}/split", json=everything, headers=staff).status_code == 422
        )


class TestPresenceAndStaleReplies:
    def test_presence_shows_a_colleague_drafting(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        ticket = _deliver(database, "x@example.jp", "質問", "本文")
        colleague = login_as(client, database.factory, RoleName.OPERATOR)
        client.put(
            f"/api/inbox/{ticket}/presence", json={"activity": "drafting"}, headers=colleague
        )
        presence = client.get(f"/api/inbox/{ticket}", headers=staff).json()["presence"]
        assert len(presence) == 1 and presence[0]["label"].endswith("さんが返信を作成中")
        client.put(f"/api/inbox/{ticket}/presence", json={"activity": "left"}, headers=colleague)
        assert client.get(f"/api/inbox/{ticket}", headers=staff).json()["presence"] == []

    def test_reply_begun_before_a_new_mail_is_refused_until_seen(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        ticket = _deliver(database, "x@example.jp", "質問", "本文", message_id="<p1@x.jp>")
        seen = client.get(f"/api/inbox/{ticket}", headers=staff).json()["thread_version"]
        draft = {
            "to": ["x@example.jp"],
            "subject": "Re: 質問",
            "body": "回答です",
            "seen_version": seen,
        }
        created = client.post(f"/api/inbox/{ticket}/drafts", json=draft, headers=staff)
        assert created.status_code == 201
        _deliver(database, "x@example.jp", "Re: 質問", "追加の質問", in_reply_to="<p1@x.jp>")
        stale = client.put(
            f"/api/inbox/{ticket}/drafts/{created.json()['id']}", json=draft, headers=staff
        )
        assert stale.status_code == 409
        assert stale.json()["thread_version"] > seen
        fresh = {**draft, "seen_version": stale.json()["thread_version"]}
        assert (
            client.put(
                f"/api/inbox/{ticket}/drafts/{created.json()['id']}", json=fresh, headers=staff
            ).status_code
            == 200
        )

    def test_a_new_note_also_makes_a_draft_stale(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        ticket = _deliver(database, "x@example.jp", "質問", "本文")
        seen = client.get(f"/api/inbox/{ticket}", headers=staff).json()["thread_version"]
        client.post(f"/api/inbox/{ticket}/notes", json={"body": "返信不要"}, headers=staff)
        draft = {"to": ["x@example.jp"], "body": "回答", "seen_version": seen}
        assert (
            client.post(f"/api/inbox/{ticket}/drafts", json=draft, headers=staff).status_code == 409
        )


class TestRawAndAttachments:
    def test_unparseable_mail_is_downloadable_raw(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        raw = b"\x00\xff garbage that is no mail \xfe"
        with database.factory() as s:
            outcome = ingest(session=s, raw=raw, config=CONFIG)
            s.commit()
        listed = client.get("/api/inbox", headers=staff).json()["items"]
        assert listed[0]["id"] == outcome.ticket_id
        response = client.get(f"/api/inbox/messages/{outcome.message_id}/raw", headers=staff)
        assert response.status_code == 200 and response.content == raw

    def test_attachment_is_served_as_a_download(
        self, client: TestClient, database: Database, staff: dict[str, str]
    ) -> None:
        msg = EmailMessage()
        msg["From"] = "x@example.jp"
        msg["To"] = "support-ise@furusato-desk.example.jp"
        msg["Subject"] = "写真"
        msg.set_content("添付します")
        msg.add_attachment(
            b"<script>alert(1)</script>", maintype="text", subtype="html", filename="破損写真.html"
        )
        with database.factory() as s:
            outcome = ingest(session=s, raw=msg.as_bytes(), config=CONFIG)
            s.commit()
        response = client.get(
            f"/api/inbox/messages/{outcome.message_id}/attachments/0", headers=staff
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-disposition"].startswith("attachment;")
        assert response.content == b"<script>alert(1)</script>"
        assert (
            client.get(
                f"/api/inbox/messages/{outcome.message_id}/attachments/5", headers=staff
            ).status_code
            == 404
        )
