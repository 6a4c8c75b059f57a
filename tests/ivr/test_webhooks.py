"""Signed webhooks only; the FAQ branch against the real knowledge base; the CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from support.adapters.fakes import InMemorySearchIndex
from support.adapters.search_sqlite import SqliteSearchIndex
from support.auth.models import AuditEvent
from support.cli import main
from support.ivr import prompts
from support.ivr.models import IvrCall, IvrCallEvent
from support.ivr.script import ScriptedCall
from support.tickets.models import Ticket

from ..cli_util import run_support, support_env
from ..conftest import Database
from ..factories import load_demo_world
from .harness import (
    BASE,
    CALLER,
    FAQ_FILE,
    GENERAL,
    ISE,
    QUERIES_FILE,
    TOKEN,
    Clock,
    Phone,
    import_faq,
    ivr_settings,
    open_phone,
    said,
)

LINES = {
    None: GENERAL,
    "ise": ISE,
    "yokohama": "+81450000102",
    "chiyoda": "+81300000103",
    "shizuoka": "+81540000104",
}
FIRST = {"CallSid": "CA" + "1" * 32, "From": CALLER, "To": GENERAL, "CallStatus": "ringing"}


@pytest.fixture
def phone(database: Database, tmp_path: Path) -> Iterator[Phone]:
    yield from open_phone(ivr_settings(database, tmp_path), InMemorySearchIndex(), Clock())


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


def nothing_stored(session: Session) -> bool:
    counts = [
        session.scalar(select(func.count()).select_from(model))
        for model in (IvrCall, IvrCallEvent, AuditEvent, Ticket)
    ]
    return counts == [0, 0, 0, 0]


class TestSignatures:
    def test_a_correctly_signed_call_is_answered(self, phone: Phone, session: Session) -> None:
        url = f"{BASE}/ivr/voice"
        response = phone.http.post(url, data=FIRST, headers=sign(url, FIRST))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/xml")
        assert '<Say language="ja-JP" voice="Polly.Mizuki">' in response.text
        assert session.scalar(select(func.count()).select_from(IvrCall)) == 1

    @pytest.mark.parametrize(
        "headers",
        [{}, {"X-Twilio-Signature": ""}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}],
        ids=["unsigned", "empty", "garbage"],
    )
    def test_unsigned_or_badly_signed_requests_are_refused_without_a_trace(
        self, phone: Phone, session: Session, headers: dict[str, str]
    ) -> None:
        for path in ("/ivr/voice", "/ivr/step", "/ivr/operator", "/ivr/queue-wait", "/ivr/status"):
            response = phone.http.post(f"{BASE}{path}", data=FIRST, headers=headers)
            assert response.status_code == 403, path
            assert response.headers["content-type"] == "application/problem+json"
        assert nothing_stored(session)

    def test_a_replayed_request_with_one_changed_parameter_is_refused(
        self, phone: Phone, session: Session
    ) -> None:
        url = f"{BASE}/ivr/voice"
        headers = sign(url, FIRST)
        changed = {**FIRST, "From": "+819099999999"}
        assert phone.http.post(url, data=changed, headers=headers).status_code == 403
        assert nothing_stored(session)

    def test_the_right_signature_for_another_url_is_refused(
        self, phone: Phone, session: Session
    ) -> None:
        for other in ("https://evil.example.jp/ivr/voice", f"{BASE}/ivr/step"):
            response = phone.http.post(f"{BASE}/ivr/voice", data=FIRST, headers=sign(other, FIRST))
            assert response.status_code == 403, other
        assert nothing_stored(session)

    def test_a_signature_made_with_another_token_is_refused(
        self, phone: Phone, session: Session
    ) -> None:
        url = f"{BASE}/ivr/voice"
        headers = sign(url, FIRST, token="another-account-token-0000000000")
        assert phone.http.post(url, data=FIRST, headers=headers).status_code == 403
        assert nothing_stored(session)

    def test_behind_a_proxy_the_public_url_is_checked_not_the_host(
        self, database: Database, tmp_path: Path, session: Session
    ) -> None:
        settings = ivr_settings(database, tmp_path)
        for phone in open_phone(
            settings, InMemorySearchIndex(), Clock(), base_url="http://10.0.3.7:8000"
        ):
            signed = sign(f"{BASE}/ivr/voice", FIRST)
            assert phone.http.post("/ivr/voice", data=FIRST, headers=signed).status_code == 200
            # Signed for the address it actually reached, it is refused: Twilio never sees that.
            internal = sign("http://10.0.3.7:8000/ivr/voice", FIRST)
            assert phone.http.post("/ivr/voice", data=FIRST, headers=internal).status_code == 403

    def test_without_a_configured_token_every_webhook_is_refused(
        self, database: Database, tmp_path: Path, session: Session
    ) -> None:
        settings = ivr_settings(database, tmp_path).model_copy(
            update={"twilio_auth_token": SecretStr("")}
        )
        for phone in open_phone(settings, InMemorySearchIndex(), Clock()):
            url = f"{BASE}/ivr/voice"
            assert phone.http.post(url, data=FIRST, headers=sign(url, FIRST)).status_code == 403
        assert nothing_stored(session)


@pytest.fixture
def faq_phone(database: Database, tmp_path: Path) -> Iterator[Phone]:
    load_demo_world(database.factory)
    index = SqliteSearchIndex(tmp_path / "search.db")
    import_faq(database, index)
    try:
        yield from open_phone(ivr_settings(database, tmp_path), index, Clock())
    finally:
        index.close()


def voice_queries() -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in QUERIES_FILE.open(encoding="utf-8") if line.strip()]
    return [row for row in rows if row["kind"] == "voice"]


def short_answers() -> dict[str, str]:
    rows = [json.loads(line) for line in FAQ_FILE.open(encoding="utf-8") if line.strip()]
    return {row["id"]: row["answer_short"] for row in rows}


class TestRoutineQuestions:
    def test_the_answer_is_read_and_a_yes_ends_the_question(
        self, faq_phone: Phone, session: Session
    ) -> None:
        steps = faq_phone.call(
            [
                {"digits": "2"},
                {"speech": "ワンストップ特例の申請書はいつまでに送ればいいですか"},
                {"digits": "1"},
            ]
        )
        assert steps[1]["gather"]["language"] == "ja-JP"
        assert "ワンストップ特例" in steps[1]["gather"]["hints"]
        assert steps[2]["say"][0].startswith("ご案内します。")
        assert prompts.RESOLVED in steps[3]["say"]
        call = session.scalars(select(IvrCall)).one()
        assert call.outcome == "faq_answered"
        answered = session.scalars(
            select(IvrCallEvent).where(IvrCallEvent.kind == "faq_answered")
        ).one()
        assert answered.detail["article_id"].startswith("faq-")

    def test_an_unanswerable_question_ends_in_voicemail(
        self, faq_phone: Phone, session: Session
    ) -> None:
        nonsense = {"speech": "ぴよぴよ"}
        steps = faq_phone.call(
            [
                {"digits": "2"},
                nonsense,
                nonsense,
                nonsense,
                {"speech": "質問があります"},
                {"record": 9},
            ]
        )
        assert said(steps).count(prompts.QUESTION_NO_ANSWER) == 2
        assert prompts.VOICEMAIL_INTRO in steps[4]["say"]
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.channel == "ivr"

    def test_voice_queries_hear_the_short_answer_of_their_article(self, faq_phone: Phone) -> None:
        answers = short_answers()
        first, within = [], []
        for query in voice_queries():
            number = LINES[query["municipality"]]
            wanted = answers[query["relevant"][0]]
            call = ScriptedCall(
                faq_phone.http, base_url=BASE, token=TOKEN, to_number=number, from_number=CALLER
            )
            call.start()
            call.act({"digits": "2"})
            call.act({"speech": query["q"]})
            heard = [call.steps[-1]["say"][0]]
            # The caller says no to an answer that is not theirs; the IVR offers the next one.
            while wanted not in heard[-1] and call.last and call.last["gather"] and len(heard) < 3:
                call.act({"speech": "いいえ、違います"})
                if not call.steps[-1]["say"][0].startswith("こちらのご案内"):
                    break
                heard.append(call.steps[-1]["say"][0])
            call.hang_up()
            first.append(wanted in heard[0])
            within.append(any(wanted in h for h in heard))
        print(f"voice queries: {len(first)}; first answer right {sum(first)}, heard {sum(within)}")
        assert sum(within) >= 0.8 * len(within)
        assert sum(first) >= 0.5 * len(first)


class TestCommands:
    def test_fallback_twiml_is_valid_japanese_twiml(self, tmp_path: Path) -> None:
        out = tmp_path / "fallback.xml"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
        env["SUPPORT_DATA_DIR"] = str(tmp_path)
        result = run_support(["ivr", "fallback-twiml", "--out", str(out)], env)
        assert result.returncode == 0, result.stderr
        root = ElementTree.parse(out).getroot()  # noqa: S314 - our own file
        assert root.tag == "Response"
        says = [node for node in root if node.tag == "Say"]
        assert {node.get("language") for node in says} == {"ja-JP"}
        assert {node.get("voice") for node in says} == {"Polly.Mizuki"}
        text = "".join(node.text or "" for node in says)
        assert "申し訳ございません" in text
        assert "午前9時から午後5時まで" in text
        assert "1月10日必着" in text
        assert root[-1].tag == "Hangup"

    def test_fallback_twiml_refuses_an_unwritable_path(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as exited:
            main(["ivr", "fallback-twiml", "--out", str(tmp_path / "no/such/f.xml")])
        assert exited.value.code == 2
        assert capsys.readouterr().err.startswith("error: cannot write")

    def test_ivr_call_plays_a_script_and_prints_each_step(
        self,
        database: Database,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        load_demo_world(database.factory)
        script = tmp_path / "call.jsonl"
        script.write_text(
            '{"digits": "3"}\n{"speech": "届きません"}\n{"record": 12}\n', encoding="utf-8"
        )
        for name, value in support_env(database.url, tmp_path / "data").items():
            if name.startswith("SUPPORT_"):
                monkeypatch.setenv(name, value)
        monkeypatch.setenv("SUPPORT_LOG_LEVEL", "WARNING")
        args = ["ivr", "call", "--number", ISE, "--script", str(script), "--json"]
        main([*args, "--at", "2026-12-08T20:00+09:00"])
        steps = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert "伊勢市 ふるさと納税 お問い合わせ窓口" in steps[0]["say"][0]
        assert "ただいま受付時間外です" in steps[0]["say"][1]
        assert steps[2]["record"]["max_length"] == 120
        assert "12月9日、水曜日の午前10時ごろまでに" in " ".join(steps[3]["say"])
        assert steps[-1]["request"] == {"path": "/ivr/status", "call": "end"}
        with database.factory() as session:
            assert session.scalars(select(IvrCall)).one().outcome == "voicemail"

    def test_ivr_call_refuses_a_bad_script(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        script = tmp_path / "bad.jsonl"
        script.write_text('{"digits": "1", "speech": "x"}\n', encoding="utf-8")
        with pytest.raises(SystemExit) as exited:
            main(["ivr", "call", "--script", str(script)])
        assert exited.value.code == 2
        assert capsys.readouterr().err.startswith("error: line 1: give exactly one")
