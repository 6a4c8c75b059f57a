"""End to end: approval and delayed sending against a real aiosmtpd and Dovecot.

The undo window passes by making due jobs due (their run_at), never by sleeping. The crash
test runs the real job runner and SMTP adapter in forked worker processes and SIGKILLs them
at random moments (some at chosen phases of a send, some after a random time) until 200
approved mails are settled, then counts Message-IDs at the SMTP server.
"""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from support.adapters.fakes import InMemorySearchIndex
from support.adapters.imap import ImapMailFetcher
from support.adapters.smtp import SmtpMailSender
from support.app import Adapters, create_app
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.config import Settings
from support.db import utcnow
from support.jobs import Job
from support.mail.approval import approve, submit
from support.mail.models import MailDraft, MailSend
from support.mail.outbound import OutboundConfig
from support.worker import build_runner
from tests.conftest import Database
from tests.factories import make_ticket
from tests.mail.outbound_util import (
    DONOR,
    OURS,
    deliver,
    load_small_world,
    make_staff,
    run_due,
    staff_login,
    write_draft,
)
from tests.mail.outbound_worker import DyingSender
from tests.services.dovecot import DovecotServer
from tests.services.netutil import free_port
from tests.services.smtp_sink import SmtpSink

pytestmark = pytest.mark.imap

SENDS = 200
SEED = 4
SELF_KILLS = ("connect", "data", "accepted")
TIMED_KILLS = 2
FROM = "support@furusato-desk.example.jp"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


def _message_ids(sink: SmtpSink) -> Counter[str]:
    return Counter(
        str(message_from_bytes(raw, policy=default)["Message-ID"]).strip("<>")
        for _envelope, raw in sink.messages()
    )


def _settings(database: Database, tmp_path: Path, smtp_port: int) -> Settings:
    return Settings(
        database_url=database.url,
        data_dir=tmp_path / "data",
        cookie_secure=False,
        mail_addresses={OURS: "ise"},
        mail_from=FROM,
        undo_seconds=5,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_security="none",
    )


class TestApprovedMailThroughRealServers:
    def test_only_the_approved_unchanged_mail_arrives_once_with_a_copy_in_sent(
        self, database: Database, tmp_path: Path, dovecot: DovecotServer
    ) -> None:
        user = dovecot.add_user(f"desk{database.backend}").name
        with SmtpSink(tmp_path / "sink") as sink:
            settings = _settings(database, tmp_path, sink.port)
            load_small_world(database.factory)
            smtp = SmtpMailSender("127.0.0.1", sink.port, security="none", timeout=10)
            sent_folder = ImapMailFetcher(
                dovecot.host, dovecot.port, user, dovecot.password(user), ssl=False, timeout=10
            )
            runner = build_runner(database.factory, settings, smtp, sent_folder)
            app = create_app(settings, adapters=Adapters(search=InMemorySearchIndex()))
            with TestClient(app) as client:
                _, operator = staff_login(client, database.factory, RoleName.OPERATOR)
                _, supervisor = staff_login(client, database.factory, RoleName.SUPERVISOR)

                def post(path: str, who: dict[str, str], body: object = None) -> dict[str, object]:
                    response = client.post(f"/api/outbound/{path}", json=body, headers=who)
                    return dict(response.json()) | {"_status": response.status_code}

                def approved(ticket_id: int) -> dict[str, object]:
                    draft = write_draft(client, operator, ticket_id)
                    state = post(f"drafts/{draft['id']}/submit", operator)
                    body = {"message_hash": state["message_hash"]}
                    return post(f"drafts/{draft['id']}/approve", supervisor, body)

                sent_ticket, parent = deliver(database.factory)
                good = approved(sent_ticket)
                edited_ticket, _ = deliver(database.factory, subject="配送について")
                edited = approved(edited_ticket)
                write_draft(
                    client,
                    operator,
                    edited_ticket,
                    draft_id=int(str(edited["draft_id"])),
                    body="山田 太郎 様\n\n承認後に書き換えた本文\n",
                )
                pulled_ticket, _ = deliver(database.factory, subject="取り消す返信")
                pulled = approved(pulled_ticket)
                assert post(f"drafts/{pulled['draft_id']}/pull-back", operator)["status"] == "draft"
                own_ticket, _ = deliver(database.factory, subject="自分で承認")
                own = write_draft(client, supervisor, own_ticket)
                state = post(f"drafts/{own['id']}/submit", supervisor)
                refused = post(
                    f"drafts/{own['id']}/approve",
                    supervisor,
                    {"message_hash": state["message_hash"]},
                )
                assert refused["_status"] == 403 and refused["code"] == "self_approval"

                assert runner.run_until_idle() == 0  # inside the undo window nothing leaves
                assert sink.messages() == []
                run_due(runner, database.factory)

                ids = _message_ids(sink)
                send_id = str(good["send"]["message_id"])  # type: ignore[index]
                assert ids == Counter({send_id: 1})
                envelope, raw = sink.messages()[0]
                assert envelope["rcpt_tos"] == [DONOR] and envelope["mail_from"] == OURS
                mail = message_from_bytes(raw, policy=default)
                assert mail["In-Reply-To"] == f"<{parent}>"
                assert mail["References"] == f"<{parent}>"
                assert mail["From"] == OURS and mail["Subject"] == "Re: 受領証明書の再発行について"
                assert mail.get_content_charset() == "utf-8"
                convo = client.get(f"/api/inbox/{sent_ticket}", headers=operator).json()
                assert convo["status_label"] == "返信済"
                assert [m["send_status"] for m in convo["messages"]] == [None, "sent"]
                assert post(f"drafts/{edited['draft_id']}/submit", operator)["status"] == (
                    "awaiting_approval"
                )
            with dovecot.connect(user) as imap:
                imap.select_folder("Sent", readonly=True)
                copies = imap.search(["HEADER", "Message-ID", send_id])
            assert len(copies) == 1
            with database.factory() as s:
                s.execute(update(MailSend).values(archived=False))  # as if the commit was lost
                s.commit()
                job = s.scalars(select(Job).where(Job.kind == "mail.archive_sent")).one()
                job.status, job.run_at = "queued", utcnow()
                s.commit()
            runner.run_until_idle()
            with dovecot.connect(user) as imap:
                imap.select_folder("Sent", readonly=True)
                assert len(imap.search(["HEADER", "Message-ID", send_id])) == 1
            assert len(sink.messages()) == 1
            sent_folder.close()

    def test_smtp_down_for_a_while_delays_but_loses_nothing(
        self, database: Database, tmp_path: Path
    ) -> None:
        port = free_port()
        settings = _settings(database, tmp_path, port)
        load_small_world(database.factory)
        smtp = SmtpMailSender("127.0.0.1", port, security="none", timeout=5)
        runner = build_runner(database.factory, settings, smtp)
        app = create_app(settings, adapters=Adapters(search=InMemorySearchIndex()))
        with TestClient(app) as client:
            _, operator = staff_login(client, database.factory, RoleName.OPERATOR)
            _, supervisor = staff_login(client, database.factory, RoleName.SUPERVISOR)
            ticket_id, _ = deliver(database.factory)
            draft = write_draft(client, operator, ticket_id)
            state = client.post(f"/api/outbound/drafts/{draft['id']}/submit", headers=operator)
            client.post(
                f"/api/outbound/drafts/{draft['id']}/approve",
                json={"message_hash": state.json()["message_hash"]},
                headers=supervisor,
            )
            for _ in range(3):  # three retries while the server is down
                with database.factory() as s:
                    s.execute(update(Job).where(Job.status == "queued").values(run_at=utcnow()))
                    s.commit()
                runner.run_until_idle()
            with database.factory() as s:
                send = s.scalars(select(MailSend)).one()
                assert send.status == "scheduled" and send.attempts == 3
                assert "Connect" in (send.last_error or "") or send.last_error
            with SmtpSink(tmp_path / "sink", port=port) as sink:
                run_due(runner, database.factory)
                assert len(sink.messages()) == 1
            final = client.get(f"/api/outbound/drafts/{draft['id']}", headers=operator).json()
            assert final["status"] == "sent" and final["send"]["attempts"] == 4


def _worker(url: str, port: int, die_at: int, phase: str) -> None:
    """Run in a forked child: the real runner and SMTP adapter until no job is due."""
    from support.db import make_engine, make_session_factory

    engine = make_engine(url)
    settings = Settings(database_url=url, mail_from=FROM, mail_addresses={OURS: "ise"})
    smtp = SmtpMailSender("127.0.0.1", port, security="none", timeout=10)
    sender = DyingSender(smtp, die_at, phase) if die_at else smtp
    build_runner(make_session_factory(engine), settings, sender).run_until_idle()
    engine.dispose()


def _prepare_sends(database: Database, count: int) -> None:
    load_small_world(database.factory)
    config = OutboundConfig(default_from=FROM, addresses={OURS: "ise"}, undo_seconds=0)
    op_id, _ = make_staff(database.factory, RoleName.OPERATOR)
    sv_id, _ = make_staff(database.factory, RoleName.SUPERVISOR)
    operator = Actor(user_id=op_id, username="op", role=RoleName.OPERATOR)
    supervisor = Actor(user_id=sv_id, username="sv", role=RoleName.SUPERVISOR)
    with database.factory() as s:
        for n in range(count):
            ticket = make_ticket(
                s, municipality_id="ise", created_at=utcnow(), donor_id="don-001", subject=f"件{n}"
            )
            draft = MailDraft(
                ticket_id=ticket.id,
                author_id=op_id,
                to_addrs=[DONOR],
                cc_addrs=[],
                bcc_addrs=[],
                subject=f"Re: お問い合わせ {n}",
                body=f"山田 太郎 様\n\nお問い合わせ {n} にお答えします。\n",
                status="draft",
            )
            s.add(draft)
            s.flush()
            approval = submit(session=s, actor=operator, draft_id=draft.id, config=config)
            approve(
                session=s,
                supervisor=supervisor,
                draft_id=draft.id,
                message_hash=approval.message_hash,
                config=config,
            )
        s.commit()


class TestCrashesDuringSending:
    def test_sigkill_during_200_sends_never_duplicates_nor_loses(
        self, database: Database, tmp_path: Path
    ) -> None:
        _prepare_sends(database, SENDS)
        rng = random.Random(SEED)
        plan = [("phase", p) for p in SELF_KILLS] + [("timed", "")] * TIMED_KILLS
        rng.shuffle(plan)
        fork = multiprocessing.get_context("fork")
        kills = 0
        with SmtpSink(tmp_path / "sink") as sink:
            for round_no in range(len(plan) + 30):
                kind, phase = plan[round_no] if round_no < len(plan) else ("none", "")
                die_at = rng.randint(2, 12) if kind == "phase" else 0
                proc = fork.Process(
                    target=_worker, args=(database.url, sink.port, die_at, phase or "data")
                )
                proc.start()
                proc.join(timeout=rng.uniform(0.2, 1.0) if kind == "timed" else 120)
                if proc.is_alive():
                    proc.kill()
                    proc.join(timeout=30)
                if proc.exitcode == 0 and kind == "none":
                    break
                if proc.exitcode != 0:
                    assert proc.exitcode == -9, f"worker died with {proc.exitcode}"
                    kills += 1
                    # Time passes: the dead worker's job becomes claimable (stale) again.
                    with database.factory() as s:
                        s.execute(
                            update(Job)
                            .where(Job.status == "running")
                            .values(locked_at=utcnow() - timedelta(hours=1))
                        )
                        s.commit()
            else:
                pytest.fail("the worker never finished")
            delivered = _message_ids(sink)
        with database.factory() as s:
            sends = s.scalars(select(MailSend)).all()
        statuses = Counter(send.status for send in sends)
        assert kills >= 3, kills
        assert len(sends) == SENDS
        assert set(statuses) <= {"sent", "in_doubt"}, statuses
        assert all(n == 1 for n in delivered.values()), "a mail was delivered twice"
        by_id = {send.message_id: send.status for send in sends}
        assert set(delivered) <= set(by_id), "an unknown mail was delivered"
        for message_id, status in by_id.items():
            if status == "sent":
                assert delivered[message_id] == 1, "a mail marked sent never arrived"
        assert statuses["in_doubt"] <= kills
