"""Approval and sending over HTTP, with the in-memory SMTP sender and Sent folder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from support.adapters.fakes import InMemoryMailSender, InMemorySearchIndex, InMemorySentArchive
from support.adapters.ports import SendError
from support.app import Adapters, create_app
from support.auth.models import AuditEvent, RoleName
from support.config import Settings
from support.db import utcnow
from support.jobs import Job, JobRunner
from support.mail.models import MailSend
from support.mail.sending import sweep_sends
from support.worker import build_runner
from tests.conftest import Database
from tests.factories import login_as
from tests.mail.outbound_util import (
    DONOR,
    OURS,
    deliver,
    load_small_world,
    run_due,
    staff_login,
    write_draft,
)


@dataclass
class Desk:
    """The app, its worker, the fake SMTP server and Sent folder, and two staff members."""

    client: TestClient
    db: Database
    runner: JobRunner
    sender: InMemoryMailSender
    archive: InMemorySentArchive
    operator_id: int
    operator: dict[str, str]
    supervisor_id: int
    supervisor: dict[str, str]

    def ticket(self) -> tuple[int, str]:
        return deliver(self.db.factory)

    def draft(self, ticket_id: int, **kw: object) -> dict[str, object]:
        return write_draft(self.client, self.operator, ticket_id, **kw)  # type: ignore[arg-type]

    def post(self, path: str, who: dict[str, str], body: object = None) -> dict[str, object]:
        response = self.client.post(f"/api/outbound/{path}", json=body, headers=who)
        return dict(response.json()) | {"_status": response.status_code}

    def state(self, draft_id: object) -> dict[str, object]:
        return dict(
            self.client.get(f"/api/outbound/drafts/{draft_id}", headers=self.operator).json()
        )

    def submit_and_approve(self, ticket_id: int) -> dict[str, object]:
        draft = self.draft(ticket_id)
        submitted = self.post(f"drafts/{draft['id']}/submit", self.operator)
        assert submitted["status"] == "awaiting_approval", submitted
        approved = self.post(
            f"drafts/{draft['id']}/approve",
            self.supervisor,
            {"message_hash": submitted["message_hash"], "comment": "確認しました"},
        )
        assert approved["_status"] == 200, approved
        return approved


@dataclass
class _Stack:
    client: TestClient
    runner: JobRunner
    sender: InMemoryMailSender
    archive: InMemorySentArchive


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, _Stack]]:
    """One app and worker per backend for the module (building them loads every policy)."""
    made: dict[str, _Stack] = {}
    yield made
    for stack in made.values():
        stack.client.__exit__(None, None, None)


def _stack(stacks: dict[str, _Stack], database: Database, data_dir: Path) -> _Stack:
    if database.url not in stacks:
        settings = Settings(
            database_url=database.url,
            data_dir=data_dir,
            cookie_secure=False,
            mail_addresses={OURS: "ise"},
            mail_from="support@furusato-desk.example.jp",
            undo_seconds=30,
        )
        sender, archive = InMemoryMailSender(), InMemorySentArchive()
        app = create_app(settings, adapters=Adapters(search=InMemorySearchIndex()))
        client = TestClient(app)
        client.__enter__()
        runner = build_runner(database.factory, settings, sender, archive)
        stacks[database.url] = _Stack(client, runner, sender, archive)
    stack = stacks[database.url]
    stack.sender.sent.clear()
    stack.sender.fail_with = None
    stack.archive.messages.clear()
    return stack


@pytest.fixture
def desk(database: Database, stacks: dict[str, _Stack], tmp_path: Path) -> Desk:
    stack = _stack(stacks, database, tmp_path / "data")
    load_small_world(database.factory)
    op_id, op = staff_login(stack.client, database.factory, RoleName.OPERATOR)
    sv_id, sv = staff_login(stack.client, database.factory, RoleName.SUPERVISOR)
    return Desk(
        stack.client, database, stack.runner, stack.sender, stack.archive, op_id, op, sv_id, sv
    )


class TestSubmitForApproval:
    def test_mail_to_the_donor_waits_for_a_supervisor(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        draft = desk.draft(ticket_id)
        state = desk.post(f"drafts/{draft['id']}/submit", desk.operator)
        assert state["status"] == "awaiting_approval" and state["status_label"] == "承認待ち"
        assert state["approval_reasons"] == ["donor"]
        assert len(str(state["message_hash"])) == 64
        convo = desk.client.get(f"/api/inbox/{ticket_id}", headers=desk.operator).json()
        assert convo["status_label"] == "承認待ち"
        queue = desk.client.get("/api/outbound/approvals", headers=desk.supervisor).json()
        assert queue["total"] == 1
        item = queue["items"][0]
        assert item["approval"]["draft_id"] == draft["id"] and not item["self_authored"]
        assert "+Subject: Re: 受領証明書の再発行について" in item["diff"]
        assert item["approval"]["reason_labels"] == ["寄附者宛てのメールです"]

    def test_mail_only_to_the_city_needs_no_approval(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        draft = desk.draft(
            ticket_id,
            to=["furusato@city-ise.example.jp"],
            subject="受領証明書の再発行依頼",
            body="伊勢市 ご担当者様\n\n受領証明書の再発行をお願いいたします。\n",
        )
        state = desk.post(f"drafts/{draft['id']}/submit", desk.operator)
        assert state["status"] == "scheduled", state
        assert state["approval"]["decision"] == "not_required"  # type: ignore[index]

    def test_refuses_an_empty_draft_and_a_second_submission(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        empty = desk.draft(ticket_id, body="   ")
        refused = desk.post(f"drafts/{empty['id']}/submit", desk.operator)
        assert refused["_status"] == 422 and refused["code"] == "invalid_input"
        draft = desk.draft(ticket_id)
        desk.post(f"drafts/{draft['id']}/submit", desk.operator)
        again = desk.post(f"drafts/{draft['id']}/submit", desk.operator)
        assert again["_status"] == 409 and again["code"] == "draft_not_submittable"
        listed = desk.client.get(
            f"/api/outbound/tickets/{ticket_id}/drafts", headers=desk.operator
        ).json()
        assert [(d["id"], d["status_label"]) for d in listed] == [
            (draft["id"], "承認待ち"),
            (empty["id"], "作成中"),
        ]


class TestApproveAndSend:
    def test_sends_once_after_the_undo_window_with_thread_headers(self, desk: Desk) -> None:
        ticket_id, parent_id = desk.ticket()
        approved = desk.submit_and_approve(ticket_id)
        assert approved["status"] == "scheduled" and approved["send"]["status"] == "scheduled"  # type: ignore[index]
        assert desk.runner.run_until_idle() == 0  # the undo window is not over
        run_due(desk.runner, desk.db.factory)
        run_due(desk.runner, desk.db.factory)
        assert len(desk.sender.sent) == 1
        sent = desk.sender.sent[0]
        mail = message_from_bytes(sent.data, policy=default)
        assert mail["In-Reply-To"] == f"<{parent_id}>" and f"<{parent_id}>" in mail["References"]
        assert mail["Message-ID"] == f"<{sent.message_id}>"
        assert mail["From"] == OURS and mail["To"] == DONOR
        assert mail.get_content_charset() == "utf-8"
        assert "郵送いたします" in mail.get_content()
        state = desk.state(approved["draft_id"])
        assert state["status"] == "sent" and state["send"]["archived"]  # type: ignore[index]
        assert list(desk.archive.messages) == [f"<{sent.message_id}>"]
        convo = desk.client.get(f"/api/inbox/{ticket_id}", headers=desk.operator).json()
        assert convo["status_label"] == "返信済"
        outbound = [m for m in convo["messages"] if m["direction"] == "outbound"]
        assert [m["send_status"] for m in outbound] == ["sent"]

    def test_refuses_self_approval(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        draft = write_draft(desk.client, desk.supervisor, ticket_id)
        state = desk.post(f"drafts/{draft['id']}/submit", desk.supervisor)
        refused = desk.post(
            f"drafts/{draft['id']}/approve",
            desk.supervisor,
            {"message_hash": state["message_hash"]},
        )
        assert refused["_status"] == 403 and refused["code"] == "self_approval"
        assert "request_id" in refused

    def test_a_supervisor_who_edited_the_draft_cannot_approve_it(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        draft = desk.draft(ticket_id)
        write_draft(
            desk.client, desk.supervisor, ticket_id, draft_id=int(str(draft["id"])), body="改稿"
        )
        state = desk.post(f"drafts/{draft['id']}/submit", desk.operator)
        queue = desk.client.get("/api/outbound/approvals", headers=desk.supervisor).json()
        assert queue["items"][0]["self_authored"] is True
        refused = desk.post(
            f"drafts/{draft['id']}/approve",
            desk.supervisor,
            {"message_hash": state["message_hash"]},
        )
        assert refused["_status"] == 403 and refused["code"] == "self_approval"

    def test_operators_cannot_approve(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        draft = desk.draft(ticket_id)
        state = desk.post(f"drafts/{draft['id']}/submit", desk.operator)
        _, other = staff_login(desk.client, desk.db.factory, RoleName.OPERATOR)
        refused = desk.post(
            f"drafts/{draft['id']}/approve", other, {"message_hash": state["message_hash"]}
        )
        assert refused["_status"] == 403 and refused["code"] == "supervisor_only"
        assert desk.client.get("/api/outbound/approvals", headers=other).status_code == 403

    def test_an_approval_names_the_exact_message(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        draft = desk.draft(ticket_id)
        desk.post(f"drafts/{draft['id']}/submit", desk.operator)
        refused = desk.post(
            f"drafts/{draft['id']}/approve", desk.supervisor, {"message_hash": "0" * 64}
        )
        assert refused["_status"] == 409 and refused["code"] == "message_changed"

    def test_rejects_with_a_comment_back_to_the_author(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        draft = desk.draft(ticket_id)
        desk.post(f"drafts/{draft['id']}/submit", desk.operator)
        rejected = desk.post(
            f"drafts/{draft['id']}/reject", desk.supervisor, {"comment": "郵送日を書いてください"}
        )
        assert rejected["status"] == "rejected"
        assert rejected["approval"]["comment"] == "郵送日を書いてください"  # type: ignore[index]
        edited = desk.draft(
            ticket_id, draft_id=draft["id"], body="山田 太郎 様\n\n明日郵送します。\n"
        )
        assert edited["_status"] == 200
        again = desk.post(f"drafts/{draft['id']}/submit", desk.operator)
        assert again["status"] == "awaiting_approval"
        convo = desk.client.get(f"/api/inbox/{ticket_id}", headers=desk.operator).json()
        assert convo["status_label"] == "承認待ち"


class TestChangesVoidTheApproval:
    def test_an_edit_after_approval_voids_it_and_nothing_is_sent(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        approved = desk.submit_and_approve(ticket_id)
        edited = desk.draft(
            ticket_id, draft_id=approved["draft_id"], body="山田 太郎 様\n\n別の本文です。\n"
        )
        assert edited["_status"] == 200 and edited["status"] == "draft"
        run_due(desk.runner, desk.db.factory)
        assert desk.sender.sent == []
        state = desk.state(approved["draft_id"])
        assert state["send"]["status"] == "voided"  # type: ignore[index]
        assert "-別の本文です。" not in str(state["diff"]) and "+別の本文です。" in str(
            state["diff"]
        )

    def test_saving_the_same_text_keeps_the_approval(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        approved = desk.submit_and_approve(ticket_id)
        same = desk.draft(ticket_id, draft_id=approved["draft_id"])
        assert same["status"] == "scheduled"

    def test_an_attachment_added_while_waiting_voids_the_request(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        draft = desk.draft(ticket_id, body="山田 太郎 様\n\n書類を添付いたします。\n")
        desk.post(f"drafts/{draft['id']}/submit", desk.operator)
        added = desk.post(
            f"drafts/{draft['id']}/attachments",
            desk.operator,
            {"filename": "案内.txt", "content_type": "text/plain", "data_base64": "5qGI5YaF"},
        )
        assert added["_status"] == 201 and added["size"] == 6
        download = desk.client.get(
            f"/api/outbound/drafts/{draft['id']}/attachments/{added['id']}", headers=desk.operator
        )
        assert (
            download.content == "案内".encode()
            and "attachment" in download.headers["content-disposition"]
        )
        state = desk.state(draft["id"])
        assert state["status"] == "draft"
        assert state["message"]["attachments"][0]["filename"] == "案内.txt"  # type: ignore[index]
        bad = desk.post(
            f"drafts/{draft['id']}/attachments",
            desk.operator,
            {"filename": "x.bin", "data_base64": "not base64!"},
        )
        assert bad["_status"] == 422

    def test_a_sent_draft_cannot_be_edited(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        approved = desk.submit_and_approve(ticket_id)
        run_due(desk.runner, desk.db.factory)
        refused = desk.draft(ticket_id, draft_id=approved["draft_id"], body="後から変更")
        assert refused["_status"] == 409 and refused["code"] == "draft_locked"


class TestPullBack:
    def test_pulling_back_inside_the_window_sends_nothing(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        approved = desk.submit_and_approve(ticket_id)
        pulled = desk.post(f"drafts/{approved['draft_id']}/pull-back", desk.operator)
        assert pulled["status"] == "draft" and pulled["send"]["status"] == "pulled_back"  # type: ignore[index]
        run_due(desk.runner, desk.db.factory)
        assert desk.sender.sent == []
        again = desk.post(f"drafts/{approved['draft_id']}/pull-back", desk.operator)
        assert again["_status"] == 409 and again["code"] == "too_late_to_pull_back"

    def test_only_the_author_or_approver_may_pull_back(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        approved = desk.submit_and_approve(ticket_id)
        _, other = staff_login(desk.client, desk.db.factory, RoleName.OPERATOR)
        refused = desk.post(f"drafts/{approved['draft_id']}/pull-back", other)
        assert refused["_status"] == 403
        by_approver = desk.post(f"drafts/{approved['draft_id']}/pull-back", desk.supervisor)
        assert by_approver["status"] == "draft"

    def test_too_late_once_sent(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        approved = desk.submit_and_approve(ticket_id)
        run_due(desk.runner, desk.db.factory)
        late = desk.post(f"drafts/{approved['draft_id']}/pull-back", desk.operator)
        assert late["_status"] == 409 and len(desk.sender.sent) == 1


class TestBlockFindings:
    def test_a_block_needs_a_written_reason_that_is_audited(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        # Another donor in Cc: a misdirect the guards block.
        draft = desk.draft(ticket_id, cc=["taro.yamada1@example.ne.jp"])
        state = desk.post(f"drafts/{draft['id']}/submit", desk.operator)
        assert "block" in state["approval_reasons"]  # type: ignore[operator]
        codes = {f["code"] for f in state["findings"] if f["severity"] == "block"}  # type: ignore[attr-defined]
        assert "recipient_not_on_ticket" in codes
        body = {"message_hash": state["message_hash"]}
        refused = desk.post(f"drafts/{draft['id']}/approve", desk.supervisor, body)
        assert refused["_status"] == 409 and refused["code"] == "override_required"
        short = desk.post(
            f"drafts/{draft['id']}/override", desk.supervisor, body | {"reason": "OK"}
        )
        assert short["_status"] == 422
        reason = "寄附者本人から家族をCcに入れるよう電話で依頼を受けたため"
        overridden = desk.post(
            f"drafts/{draft['id']}/override", desk.supervisor, body | {"reason": reason}
        )
        assert overridden["approval"]["override_reason"] == reason  # type: ignore[index]
        approved = desk.post(f"drafts/{draft['id']}/approve", desk.supervisor, body)
        assert approved["status"] == "scheduled"
        with desk.db.factory() as s:
            audited = s.scalars(select(AuditEvent).where(AuditEvent.action == "override")).all()
        assert [a.detail["reason"] for a in audited] == [reason]
        assert audited[0].actor_user_id == desk.supervisor_id


class TestFailures:
    def test_transient_errors_retry_and_lose_nothing(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        approved = desk.submit_and_approve(ticket_id)
        desk.sender.fail_with = SendError("ConnectionRefusedError", permanent=False)
        run_due(desk.runner, desk.db.factory)  # every attempt fails; the job stays queued
        state = desk.state(approved["draft_id"])
        assert state["status"] == "scheduled" and state["send"]["attempts"] >= 2  # type: ignore[index]
        desk.sender.fail_with = None
        run_due(desk.runner, desk.db.factory)
        assert len(desk.sender.sent) == 1
        assert desk.state(approved["draft_id"])["status"] == "sent"

    def test_a_permanent_refusal_returns_the_draft_with_the_reason(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        approved = desk.submit_and_approve(ticket_id)
        desk.sender.fail_with = SendError("SMTP 550", permanent=True)
        run_due(desk.runner, desk.db.factory)
        state = desk.state(approved["draft_id"])
        assert state["status"] == "failed" and "SMTP 550" in state["send"]["last_error"]  # type: ignore[index]
        convo = desk.client.get(f"/api/inbox/{ticket_id}", headers=desk.operator).json()
        assert convo["status_label"] == "対応中"

    def test_an_unknown_fate_is_held_for_a_supervisor(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        approved = desk.submit_and_approve(ticket_id)
        desk.sender.fail_with = SendError(
            "SMTPServerDisconnected", permanent=False, reached_server=True
        )
        run_due(desk.runner, desk.db.factory)
        assert desk.state(approved["draft_id"])["status"] == "in_doubt"
        listed = desk.client.get("/api/outbound/in-doubt", headers=desk.supervisor).json()
        assert [i["send"]["draft_id"] for i in listed] == [approved["draft_id"]]
        desk.sender.fail_with = None
        run_due(desk.runner, desk.db.factory)
        assert desk.sender.sent == []  # never resent blindly
        refused = desk.post(
            f"drafts/{approved['draft_id']}/resolve", desk.operator, {"outcome": "resend"}
        )
        assert refused["_status"] == 403
        resent = desk.post(
            f"drafts/{approved['draft_id']}/resolve", desk.supervisor, {"outcome": "resend"}
        )
        assert resent["status"] == "scheduled"
        run_due(desk.runner, desk.db.factory)
        assert len(desk.sender.sent) == 1
        with desk.db.factory() as s:
            send = s.scalars(select(MailSend)).one()
            assert desk.sender.sent[0].message_id == send.message_id
            assert send.status == "sent" and send.resolution == "resend"

    def test_confirming_an_in_doubt_mail_marks_it_sent(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        approved = desk.submit_and_approve(ticket_id)
        desk.sender.fail_with = SendError("SMTPTimeoutError", permanent=False, reached_server=True)
        run_due(desk.runner, desk.db.factory)
        confirmed = desk.post(
            f"drafts/{approved['draft_id']}/resolve", desk.supervisor, {"outcome": "sent"}
        )
        assert confirmed["status"] == "sent"
        again = desk.post(
            f"drafts/{approved['draft_id']}/resolve", desk.supervisor, {"outcome": "sent"}
        )
        assert again["_status"] == 409 and again["code"] == "not_in_doubt"
        convo = desk.client.get(f"/api/inbox/{ticket_id}", headers=desk.operator).json()
        assert convo["status_label"] == "返信済"


class TestCannedReplies:
    def test_lists_common_and_municipal_replies(self, desk: Desk) -> None:
        common = desk.client.get("/api/outbound/canned", headers=desk.operator).json()
        keys = {c["key"] for c in common}
        assert {"general", "receipt_reissue", "one_stop"} <= keys
        assert "voucher_reissue_refusal" not in keys
        yokohama = desk.client.get(
            "/api/outbound/canned", params={"municipality_id": "yokohama"}, headers=desk.operator
        ).json()
        assert any(
            c["key"] == "voucher_reissue_refusal" and c["municipality_id"] == "yokohama"
            for c in yokohama
        )
        titles = {c["key"]: c["title"] for c in yokohama}
        assert titles["receipt_reissue"] == "寄附金受領証明書の再発行"

    def test_renders_into_a_draft_for_the_donor_with_the_city_signature(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        version = desk.client.get(f"/api/inbox/{ticket_id}", headers=desk.operator).json()[
            "thread_version"
        ]
        response = desk.client.post(
            f"/api/outbound/tickets/{ticket_id}/canned",
            json={"key": "receipt_reissue", "seen_version": version},
            headers=desk.operator,
        )
        assert response.status_code == 201, response.text
        draft = response.json()
        assert draft["to_addrs"] == [DONOR]
        assert draft["subject"] == "Re: 受領証明書の再発行について"
        assert draft["body"].startswith("山田 太郎 様")
        assert "伊勢市外にお住まいの方" in draft["body"]  # the ise signature variant
        state = desk.post(f"drafts/{draft['id']}/submit", desk.operator)
        assert not [f for f in state["findings"] if f["code"] == "unresolved_placeholder"]  # type: ignore[attr-defined]
        missing = desk.client.post(
            f"/api/outbound/tickets/{ticket_id}/canned",
            json={"key": "no_such_reply", "seen_version": version},
            headers=desk.operator,
        )
        assert missing.status_code == 404


class TestScope:
    def test_municipality_users_have_no_outbound_api(self, desk: Desk) -> None:
        ise = login_as(desk.client, desk.db.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        assert desk.client.get("/api/outbound/approvals", headers=ise).status_code == 403
        assert desk.client.get("/api/outbound/drafts/1", headers=ise).status_code == 403

    def test_an_unknown_draft_is_not_found(self, desk: Desk) -> None:
        response = desk.client.post("/api/outbound/drafts/999/submit", headers=desk.operator)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


class TestRecoveryAfterACrash:
    def _left_as(self, desk: Desk, status: str) -> int:
        ticket_id, _ = desk.ticket()
        approved = desk.submit_and_approve(ticket_id)
        with desk.db.factory() as s:
            s.execute(update(MailSend).values(status=status))
            s.commit()
        return int(str(approved["draft_id"]))

    def test_a_send_that_died_before_data_is_sent_again(self, desk: Desk) -> None:
        draft_id = self._left_as(desk, "sending")
        run_due(desk.runner, desk.db.factory)
        assert len(desk.sender.sent) == 1 and desk.state(draft_id)["status"] == "sent"

    def test_a_send_that_died_during_data_is_held_in_doubt(self, desk: Desk) -> None:
        draft_id = self._left_as(desk, "transmitting")
        run_due(desk.runner, desk.db.factory)
        assert desk.sender.sent == [] and desk.state(draft_id)["status"] == "in_doubt"
        convo = desk.client.get(
            f"/api/inbox/{desk.state(draft_id)['ticket_id']}", headers=desk.operator
        ).json()
        assert [m["send_status"] for m in convo["messages"]] == [None, "in_doubt"]

    def test_the_sweep_requeues_a_send_whose_job_gave_up(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        approved = desk.submit_and_approve(ticket_id)
        with desk.db.factory() as s:
            s.execute(update(Job).values(status="failed"))
            s.execute(update(MailSend).values(send_after=utcnow() - timedelta(hours=1)))
            s.commit()
        run_due(desk.runner, desk.db.factory)
        assert desk.sender.sent == []
        with desk.db.factory() as s:
            assert sweep_sends(session=s) == 1
            s.commit()
        run_due(desk.runner, desk.db.factory)
        assert len(desk.sender.sent) == 1
        assert desk.state(approved["draft_id"])["status"] == "sent"


class TestBadInput:
    def test_malformed_bodies_get_a_problem_and_change_nothing(self, desk: Desk) -> None:
        ticket_id, _ = desk.ticket()
        draft = desk.draft(ticket_id)
        state = desk.post(f"drafts/{draft['id']}/submit", desk.operator)
        bodies = [
            ("approve", {"message_hash": "not-a-hash"}),
            ("approve", {"message_hash": state["message_hash"], "extra": 1}),
            ("reject", {"comment": ""}),
            ("resolve", {"outcome": "maybe"}),
            ("override", {"message_hash": state["message_hash"]}),
        ]
        for action, body in bodies:
            response = desk.client.post(
                f"/api/outbound/drafts/{draft['id']}/{action}", json=body, headers=desk.supervisor
            )
            assert response.status_code == 422, (action, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        assert desk.state(draft["id"])["status"] == "awaiting_approval"
        too_big = desk.client.get("/api/outbound/drafts/99999999999", headers=desk.operator)
        assert too_big.status_code == 422
