"""Approval in the console on both backends: submit from the compose pane, the supervisor's
inbox with diff and findings, approve (bound to the reviewed hash), override, reject."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from support.auth.models import RoleName
from support.tickets.models import Order
from tests.conftest import Database
from tests.factories import load_demo_world, make_user

from .helpers import console_login, deliver

DONOR_MAIL = "taro.yamada@example.ne.jp"


@pytest.fixture
def world(database: Database) -> Database:
    load_demo_world(database.factory)
    return database


def _submit(client: TestClient, csrf: str, ticket: int, body: str) -> str:
    page = client.get(f"/console/inbox/{ticket}").text
    seen = re.search(r'name="seen_version" value="(\d+)"', page)
    assert seen
    done = client.post(
        f"/console/inbox/{ticket}/drafts",
        data={
            "csrf_token": csrf,
            "seen_version": seen.group(1),
            "to": DONOR_MAIL,
            "subject": "Re: 配送について",
            "body": body,
            "action": "submit",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    location: str = done.headers["location"]
    assert "draft=" in location
    return location


class TestApprovalInbox:
    def test_submit_approve_and_schedule(self, world: Database, tmp_path: Path) -> None:
        from support.adapters.fakes import InMemorySearchIndex
        from support.app import Adapters, create_app
        from support.config import Settings

        settings = Settings(
            database_url=world.url, data_dir=tmp_path, cookie_secure=False, undo_seconds=60
        )
        operator_app = create_app(settings, adapters=Adapters(search=InMemorySearchIndex()))
        op_user, op_pw = make_user(world.factory, RoleName.OPERATOR)
        sv_user, sv_pw = make_user(world.factory, RoleName.SUPERVISOR)
        ticket = deliver(world.factory, DONOR_MAIL, "配送について", "届きません")
        with TestClient(operator_app) as op, TestClient(operator_app) as sv:
            op_csrf = console_login(op, op_user.username, op_pw)
            location = _submit(op, op_csrf, ticket, "山田 太郎 様\n\n発送いたしました。\n")
            state = op.get(location).text
            assert "承認待ち" in state
            assert op.get("/console/approvals").status_code == 403

            sv_csrf = console_login(sv, sv_user.username, sv_pw)
            inbox = sv.get("/console/approvals").text
            assert '承認待ちの返信 <span class="count">1件</span>' in inbox
            assert "<ins>+発送いたしました。</ins>" in inbox, inbox
            assert "寄附者宛てのメールです" in inbox
            draft_id = int(re.search(r"/console/approvals/(\d+)/approve", inbox).group(1))  # type: ignore[union-attr]
            digest = re.search(r'name="message_hash" value="([0-9a-f]{64})"', inbox)
            assert digest
            wrong = sv.post(
                f"/console/approvals/{draft_id}/approve",
                data={"csrf_token": sv_csrf, "message_hash": "0" * 64},
            )
            assert wrong.status_code == 409
            approved = sv.post(
                f"/console/approvals/{draft_id}/approve",
                data={"csrf_token": sv_csrf, "message_hash": digest.group(1), "comment": "OK"},
                follow_redirects=False,
            )
            assert approved.status_code == 303
            after = op.get(location).text
            assert "送信待ち（取り消し可）" in after and "送信を取り消す" in after
            pulled = op.post(
                f"/console/drafts/{draft_id}/pull-back",
                data={"csrf_token": op_csrf},
                follow_redirects=False,
            )
            assert pulled.status_code == 303
            assert "作成中" in op.get(location).text

    def test_block_needs_an_override_reason_and_reject_returns_it(
        self, client: TestClient, world: Database
    ) -> None:
        op_user, op_pw = make_user(world.factory, RoleName.OPERATOR)
        sv_user, sv_pw = make_user(world.factory, RoleName.SUPERVISOR)
        ticket = deliver(world.factory, DONOR_MAIL, "配送について", "届きません")
        with world.factory() as s:
            other = s.scalars(select(Order).where(Order.donor_id != "don-001")).first()
            assert other is not None
            foreign = other.order_no
        csrf = console_login(client, op_user.username, op_pw)
        location = _submit(client, csrf, ticket, f"山田 太郎 様\n\n{foreign} の件です。\n")
        assert "送信不可" in client.get(location).text
        csrf = console_login(client, sv_user.username, sv_pw)
        inbox = client.get("/console/approvals").text
        assert "送信不可" in inbox and "指摘を解除して承認" in inbox
        draft_id = int(re.search(r"/console/approvals/(\d+)/approve", inbox).group(1))  # type: ignore[union-attr]
        digest = re.search(r'name="message_hash" value="([0-9a-f]{64})"', inbox)
        assert digest
        refused = client.post(
            f"/console/approvals/{draft_id}/approve",
            data={"csrf_token": csrf, "message_hash": digest.group(1)},
        )
        assert refused.status_code == 409
        empty = client.post(
            f"/console/approvals/{draft_id}/reject", data={"csrf_token": csrf, "comment": " "}
        )
        assert empty.status_code == 422
        rejected = client.post(
            f"/console/approvals/{draft_id}/reject",
            data={"csrf_token": csrf, "comment": "別の寄附者の注文番号が入っています"},
            follow_redirects=False,
        )
        assert rejected.status_code == 303
        assert "承認待ちの返信はありません" in client.get("/console/approvals").text
        back = client.get(location).text
        assert "差し戻し：別の寄附者の注文番号が入っています" in back
