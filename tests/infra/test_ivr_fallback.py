"""The IVR fallback TwiML that Terraform uploads is valid TwiML, in Japanese.

The document comes from `support ivr fallback-twiml --out FILE` (the IVR's command, issue 7);
Terraform uploads it from var.ivr_fallback_twiml_path. Until that command is on the branch the
check of the real document is skipped; the checker itself is tested on samples here.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - our own generated file
from pathlib import Path

import pytest

from tests.cli_util import run_support, support_env
from tests.infra.hcl import MODULES, PRODUCTION, blocks

VERBS = {
    "Say",
    "Play",
    "Pause",
    "Dial",
    "Number",
    "Record",
    "Hangup",
    "Redirect",
    "Gather",
    "Reject",
    "Leave",
    "Enqueue",
    "Sip",
    "Client",
    "Conference",
    "Queue",
}
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def twiml_problems(document: bytes) -> list[str]:
    """Return why a document is not a valid Japanese TwiML response (empty when it is)."""
    try:
        root = ET.fromstring(document)  # noqa: S314 - generated locally, not untrusted input
    except ET.ParseError as exc:
        return [f"not XML: {exc}"]
    problems = [] if root.tag == "Response" else [f"root is <{root.tag}>, not <Response>"]
    for element in root.iter():
        if element is not root and element.tag not in VERBS:
            problems.append(f"unknown verb <{element.tag}>")
    says = list(root.iter("Say"))
    if not says:
        problems.append("nothing is said to the caller")
    for say in says:
        if not (say.get("language") or "").startswith("ja"):
            problems.append("a <Say> is not in language ja-JP")
        if not JAPANESE.search(say.text or ""):
            problems.append("a <Say> holds no Japanese text")
    return problems


class TestChecker:
    def test_accepts_a_japanese_response(self) -> None:
        doc = (
            '<?xml version="1.0" encoding="UTF-8"?><Response>'
            '<Say language="ja-JP" voice="Polly.Mizuki">'
            "ただいま電話がつながりにくくなっております。</Say>"
            '<Record maxLength="120"/><Hangup/></Response>'
        ).encode()
        assert twiml_problems(doc) == []

    @pytest.mark.parametrize(
        ("doc", "problem"),
        [
            (b"<Response><Say language='en-US'>Sorry</Say></Response>", "ja-JP"),
            (b"<Response><Say language='ja-JP'>Sorry</Say></Response>", "Japanese"),
            (b"<Html><Say language='ja-JP'>\xe3\x81\x82</Say></Html>", "root"),
            (b"<Response><Speak/></Response>", "unknown verb"),
            (b"<Response><Say", "not XML"),
        ],
    )
    def test_refuses_what_twilio_or_a_caller_could_not_use(self, doc: bytes, problem: str) -> None:
        assert any(problem in p for p in twiml_problems(doc))


def test_terraform_uploads_the_file_the_command_writes() -> None:
    (obj,) = [b for b in blocks("resource", MODULES / "ivr_fallback") if b.kind == "aws_s3_object"]
    assert obj.body["source"] == "${var.twiml_path}"
    assert obj.body["content_type"].startswith("application/xml")
    calls = {b.name: b for b in blocks("module", PRODUCTION)}
    assert calls["ivr_fallback"].body["twiml_path"] == "${var.ivr_fallback_twiml_path}"


def test_the_fallback_document_is_japanese_twiml(tmp_path: Path) -> None:
    env = support_env(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    if run_support(["ivr", "fallback-twiml", "--help"], env).returncode != 0:
        pytest.skip("`support ivr fallback-twiml` is not on this branch yet (issue 7)")
    out = tmp_path / "ivr-fallback.xml"
    result = run_support(["ivr", "fallback-twiml", "--out", str(out)], env)
    assert result.returncode == 0, result.stderr
    assert twiml_problems(out.read_bytes()) == []
