"""Corpus tests of support.mail.parsing against shared, read-only mail collections.

* /work/shared/data/inbound: the project's own Japanese cases with expected.jsonl; every case
  must pass.
* /work/shared/peer/mail-gem: fixtures of the Ruby "mail" library (real and broken mail).
* /work/shared/peer/zammad-mail: fixtures of Zammad's parser with its expected results (.yml).

Each group is skipped when its folder is missing (the data lives outside the repository).

Where our results differ from Zammad's by design, the comparison says so in place:
* Zammad stores the HTML body as a "message.html" attachment; we keep it in ParsedMail.html,
  so that name is left out of the attachment comparison, and for HTML mail Zammad's "body" is
  compared with the text of our sanitised HTML rather than with ParsedMail.text.
* In a delivery-status bounce Zammad lists the status report and the returned message as
  attachments; we read them into ParsedMail.dsn instead (expected.jsonl case 16 requires no
  attachments), so for bounces the comparison checks the DSN rather than the attachment list.
* Zammad keeps a forwarded message only as an attachment; we also append its text to
  ParsedMail.text, so for mail with message/rfc822 parts Zammad's body must be a prefix.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from support.mail.parsing import ParsedMail, parse_message
from support.mail.parsing_html import html_to_text

INBOUND = Path("/work/shared/data/inbound")
PEER = Path("/work/shared/peer")
MAIL_GEM = PEER / "mail-gem"
ZAMMAD = PEER / "zammad-mail"

# The slowest peer mail parses in well under 0.1 s; this only catches pathological regressions.
_SECONDS_PER_MAIL = 5.0


def _load_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _peer_files() -> list[Path]:
    if not PEER.exists():
        return []
    return sorted([*MAIL_GEM.rglob("*.eml"), *ZAMMAD.glob("*.box")])


def _parse(path: Path) -> ParsedMail:
    return parse_message(path.read_bytes())


def _ws(text: str) -> str:
    """Collapse all whitespace (Zammad keeps some our header unfolding removes)."""
    return re.sub(r"\s+", " ", text).strip()


INBOUND_CASES = _load_jsonl(INBOUND / "expected.jsonl")
PEER_FILES = _peer_files()


# --- the project's own inbound cases -----------------------------------------------------


@pytest.mark.skipif(not INBOUND_CASES, reason="shared inbound data not present")
class TestInboundCorpus:
    @pytest.mark.parametrize("case", INBOUND_CASES, ids=[c["file"] for c in INBOUND_CASES])
    def test_case_matches_expected_jsonl(self, case: dict[str, Any]) -> None:
        parsed = _parse(INBOUND / case["file"])
        assert not parsed.parse_failed
        assert parsed.from_addr == case["from"]
        assert parsed.subject == case["subject"]
        for fragment in case["body_contains"]:
            assert fragment in parsed.text
        for fragment in case.get("body_not_contains", []):
            assert fragment not in parsed.text
        for fragment in case.get("new_text_contains", []):
            assert fragment in parsed.text
        for fragment in case.get("html_contains", []):
            assert parsed.html is not None and fragment in parsed.html
        assert [a.filename for a in parsed.attachments if not a.inline] == case["attachments"]
        if "inline" in case:
            assert [a.filename for a in parsed.attachments if a.inline] == case["inline"]
        assert parsed.is_auto is case["is_auto"]
        expected_id = case.get("message_id")
        assert parsed.message_id == (expected_id.strip("<>") if expected_id else None)
        if "from_name" in case:
            assert parsed.from_name == case["from_name"]
        by_name = {a.filename: a for a in parsed.attachments}
        for name, size in case.get("attachment_sizes", {}).items():
            assert by_name[name].size == size
        for name, digest in case.get("attachment_sha256", {}).items():
            assert hashlib.sha256(by_name[name].data).hexdigest() == digest

    @pytest.mark.parametrize(
        "case", [c for c in INBOUND_CASES if "inner" in c], ids=lambda c: c["file"]
    )
    def test_forwarded_message_is_attached_and_readable(self, case: dict[str, Any]) -> None:
        parsed = _parse(INBOUND / case["file"])
        inner_expected = case["inner"]
        attached = [a for a in parsed.attachments if a.content_type == "message/rfc822"]
        assert len(attached) == 1
        inner = parse_message(attached[0].data)
        assert inner.from_addr == inner_expected["from"]
        assert inner.subject == inner_expected["subject"]
        for fragment in inner_expected["body_contains"]:
            assert fragment in inner.text
            assert fragment in parsed.text

    def test_bounce_case_yields_delivery_report(self) -> None:
        case = next((c for c in INBOUND_CASES if c["file"].startswith("16_")), None)
        if case is None:
            pytest.skip("bounce case not in this corpus")
        parsed = _parse(INBOUND / case["file"])
        assert parsed.auto_kind == "bounce"
        assert parsed.dsn is not None
        assert parsed.dsn.failed_recipients == ["daiki.miura@mail.sample-net.jp"]
        assert parsed.dsn.status_codes == ["5.1.1"]
        assert parsed.dsn.original_message_id == "out-77812@furusato-desk.example.jp"

    def test_duplicate_message_id_mails_hash_differently(self) -> None:
        pairs = [c for c in INBOUND_CASES if "duplicate_of" in c]
        if not pairs:
            pytest.skip("no duplicate case in this corpus")
        for case in pairs:
            first = _parse(INBOUND / case["file"])
            second = _parse(INBOUND / case["duplicate_of"])
            assert first.message_id == second.message_id
            assert first.content_hash != second.content_hash

    def test_alternatives_that_disagree_are_flagged(self) -> None:
        case = next((c for c in INBOUND_CASES if "html_contains" in c), None)
        if case is None:
            pytest.skip("no disagreeing alternative in this corpus")
        parsed = _parse(INBOUND / case["file"])
        assert any("disagree" in defect for defect in parsed.defects)


# --- every peer mail ---------------------------------------------------------------------


@pytest.mark.skipif(not PEER_FILES, reason="shared peer corpora not present")
class TestPeerCorporaParse:
    @pytest.mark.parametrize("path", PEER_FILES, ids=lambda p: str(p.relative_to(PEER)))
    def test_parses_without_raising_or_failing(self, path: Path) -> None:
        started = time.perf_counter()
        parsed = _parse(path)
        assert time.perf_counter() - started < _SECONDS_PER_MAIL
        assert isinstance(parsed, ParsedMail)
        # Every peer mail has real header fields, so none may come back as a failed parse.
        assert not parsed.parse_failed
        assert len(parsed.content_hash) == 64
        assert parsed.date is None or parsed.date.tzinfo is not None
        if parsed.html is not None:
            assert "<script" not in parsed.html.lower()

    def test_every_multipart_report_is_a_bounce(self) -> None:
        reports = sorted((MAIL_GEM / "multipart_report_emails").glob("*.eml"))
        assert reports
        for path in reports:
            parsed = _parse(path)
            assert parsed.auto_kind == "bounce", path.name


_JAPANESE = {
    "japanese.eml": ("まみむめも", "かきくえこ", []),
    "japanese_iso_2022.eml": ("まみむめも", "すみません。", []),
    "japanese_shift_jis.eml": ("test", "このメールはテスト用のメールです。", []),
    "japanese_attachment.eml": ("testing", "testing", ["てすと.txt"]),
    "japanese_attachment_long_name.eml": (
        "まみむめも" * 10,
        "",
        ["かきくけこ" * 5 + ".txt"],
    ),
}


@pytest.mark.skipif(not (MAIL_GEM / "multi_charset").exists(), reason="mail-gem corpus missing")
class TestMailGemJapanese:
    @pytest.mark.parametrize("name", sorted(_JAPANESE))
    def test_decodes_japanese_fixture(self, name: str) -> None:
        subject, body, attachments = _JAPANESE[name]
        parsed = _parse(MAIL_GEM / "multi_charset" / name)
        assert parsed.subject == subject
        assert body in parsed.text
        assert [a.filename for a in parsed.attachments] == attachments
        assert "\ufffd" not in parsed.subject + parsed.text

    def test_decodes_korean_label_alias(self) -> None:
        parsed = _parse(MAIL_GEM / "multi_charset" / "ks_c_5601-1987.eml")
        assert "\ufffd" not in parsed.text
        assert parsed.text.strip()


# --- Zammad's expected results -----------------------------------------------------------


def _load_yaml(path: Path) -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")

    class _Loader(yaml.SafeLoader):
        """Safe loader that ignores Ruby type tags (!ruby/hash:...)."""

    def _untagged(loader: Any, _suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    _Loader.add_multi_constructor("!", _untagged)
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    assert isinstance(loaded, dict)
    return loaded


ZAMMAD_CASES = sorted(ZAMMAD.glob("*.yml")) if ZAMMAD.exists() else []


@pytest.mark.skipif(not ZAMMAD_CASES, reason="zammad corpus missing")
class TestZammadExpectations:
    @pytest.mark.parametrize("yml", ZAMMAD_CASES, ids=lambda p: p.stem)
    def test_sender_matches(self, yml: Path) -> None:
        expected = _load_yaml(yml)
        parsed = _parse(yml.with_suffix(".box"))
        assert parsed.from_addr == str(expected["from_email"])
        assert _ws(parsed.from_name or "") == _ws(str(expected.get("from_display_name") or ""))

    @pytest.mark.parametrize("yml", ZAMMAD_CASES, ids=lambda p: p.stem)
    def test_subject_matches(self, yml: Path) -> None:
        expected = _load_yaml(yml)
        parsed = _parse(yml.with_suffix(".box"))
        assert _ws(parsed.subject) == _ws(str(expected["subject"]))

    @pytest.mark.parametrize("yml", ZAMMAD_CASES, ids=lambda p: p.stem)
    def test_body_matches(self, yml: Path) -> None:
        expected = _load_yaml(yml)
        parsed = _parse(yml.with_suffix(".box"))
        body = str(expected.get("body") or "")
        if expected.get("content_type") == "text/html" or body.lstrip().startswith("<"):
            # Zammad's body is the HTML alternative: compare visible text of both HTMLs.
            assert parsed.html is not None
            assert _ws(html_to_text(parsed.html)) == _ws(html_to_text(body))
        elif any(a.content_type == "message/rfc822" for a in parsed.attachments):
            assert _ws(parsed.text).startswith(_ws(body))
        else:
            assert _ws(parsed.text) == _ws(body)

    @pytest.mark.parametrize("yml", ZAMMAD_CASES, ids=lambda p: p.stem)
    def test_attachments_match(self, yml: Path) -> None:
        expected = _load_yaml(yml)
        parsed = _parse(yml.with_suffix(".box"))
        wanted = [
            str(item["filename"])
            for item in expected.get("attachments") or []
            if item.get("filename") != "message.html"
        ]
        if parsed.auto_kind == "bounce" and parsed.dsn is not None:
            # By design the report parts feed ParsedMail.dsn instead of the attachment list.
            assert parsed.attachments == []
            assert parsed.dsn.failed_recipients
            assert parsed.dsn.status_codes
            return
        assert sorted(a.filename for a in parsed.attachments) == sorted(wanted)
