"""Monster mails against the parser's configured limits, with the peak memory of each parse.

Every monster is generated here (nothing big is committed), written to a temporary file and
parsed in a fresh interpreter, so that ``ru_maxrss`` measures that one parse and nothing the
test process did before. The bounds are on memory only, never on wall-clock time; the measured
figures are printed in a summary at the end of the module.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import gzip
import hashlib
import io
import json
import random
import subprocess
import sys
import urllib.parse
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.mail.parsing import TEXT_CUT_MARK, parse_message
from support.mail.parsing_types import DEFAULT_LIMITS, ParseLimits

MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]
# Memory bounds (peak RSS of the whole child interpreter, imports included).
BIG_MAIL_RSS_MB = 400
OTHER_RSS_MB = 250
_HEAD = (
    b"From: =?UTF-8?B?5bGx55Sw5aSq6YOO?= <donor@example.jp>\r\n"
    b"To: support@furusato.example.jp\r\n"
    b"Subject: =?UTF-8?B?5a+E6ZmE6YeR5Y+X6aCY6Ki85piO5pu444Gr44Gk44GE44Gm?=\r\n"
    b"Date: Tue, 03 Jun 2025 10:15:12 +0900\r\n"
    b"Message-ID: <monster@example.jp>\r\n"
    b"MIME-Version: 1.0\r\n"
)
_GREETING = "いつもお世話になっております。ふるさと納税の寄附金受領証明書についてご相談です。\n"


def _lines(data: bytes, width: int = 76) -> Iterable[bytes]:
    """Yield base64 of the data in lines of the usual width, CRLF-terminated."""
    encoded = base64.b64encode(data)
    for start in range(0, len(encoded), width):
        yield encoded[start : start + width] + b"\r\n"


def _rfc2231(name: str) -> bytes:
    """Return a filename as an RFC 2231 UTF-8 parameter value."""
    return b"UTF-8''" + urllib.parse.quote(name, safe="").encode("ascii")


def _text_part(text: str) -> bytes:
    """Return a base64 UTF-8 text/plain body part."""
    return (
        b"Content-Type: text/plain; charset=UTF-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b"".join(_lines(text.encode()))
    )


def _attachment_part(name: str, content_type: str, data: bytes) -> bytes:
    """Return a base64 attachment part named in RFC 2231 form."""
    quoted = _rfc2231(name)
    return (
        b"Content-Type: " + content_type.encode() + b"; name*=" + quoted + b"\r\n"
        b"Content-Disposition: attachment; filename*=" + quoted + b"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b"".join(_lines(data))
    )


def _mixed(parts: Iterable[bytes], boundary: bytes = b"==monster==") -> bytes:
    """Return a multipart/mixed mail of the given parts."""
    chunks = [_HEAD, b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n']
    for part in parts:
        chunks += [b"--" + boundary + b"\r\n", part, b"\r\n"]
    chunks.append(b"--" + boundary + b"--\r\n")
    return b"".join(chunks)


def big_pdf_mail(one_line: bool = False) -> tuple[bytes, int]:
    """Return a ~25 MB mail (Japanese text plus a 24 MB base64 PDF) and the PDF's size."""
    body = random.Random(25).randbytes(18 * MIB - 64)
    pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + body + b"\n%%EOF\n"
    text = _GREETING + "寄附金受領証明書をお送りします。ご確認ください。\n" * 50
    attachment = _attachment_part("寄附金受領証明書.pdf", "application/pdf", pdf)
    if one_line:
        # Broken senders put all the base64 on one line: the stdlib parser's worst case.
        head, _, encoded = attachment.partition(b"\r\n\r\n")
        attachment = head + b"\r\n\r\n" + encoded.replace(b"\r\n", b"") + b"\r\n"
    return _mixed([_text_part(text), attachment]), len(pdf)


def many_attachments_mail(count: int = 200) -> bytes:
    """Return a mail with ``count`` small attachments named in Japanese (RFC 2231)."""
    parts = [_text_part(_GREETING + f"書類を{count}点お送りします。\n")]
    for index in range(1, count + 1):
        data = f"領収書 {index} 番\n".encode() * 20
        parts.append(_attachment_part(f"領収書_{index:03d}_山田太郎.txt", "text/plain", data))
    return _mixed(parts)


def long_body_mail(lines: int = 100_000, charset: str = "iso-2022-jp") -> bytes:
    """Return a single-part mail whose Japanese body has ``lines`` lines."""
    text = "".join(f"{n:06d}行目：返礼品の配送状況を確認しています。\n" for n in range(lines))
    body = (_GREETING + text).replace("\n", "\r\n").encode(charset)
    head = _HEAD + b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\n"
    cte = b"7bit" if charset == "iso-2022-jp" else b"8bit"
    return head + b"Content-Transfer-Encoding: " + cte + b"\r\n\r\n" + body


def zip_bomb() -> bytes:
    """Return a small zip whose one member inflates to 10 MiB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("証明書.pdf", "w") as member:
            zeros = bytes(MIB)
            for _ in range(10):
                member.write(zeros)
    return buffer.getvalue()


def gzip_bomb() -> bytes:
    """Return gzip data that inflates to 10 MiB of zeros."""
    return gzip.compress(bytes(10 * MIB), mtime=0)


def zip_bomb_mail(bomb: bytes, gzipped: bytes) -> bytes:
    """Return a mail with the zip bomb attached and an unnamed gzip Content-Encoding body."""
    gzip_part = (
        b"Content-Type: text/plain; charset=UTF-8\r\n"
        b"Content-Encoding: gzip\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b"".join(_lines(gzipped))
    )
    return _mixed(
        [
            _text_part(_GREETING + "証明書をまとめて圧縮しました。\n"),
            _attachment_part("証明書一式.zip", "application/zip", bomb),
            gzip_part,
        ]
    )


def nested_forward_mail(levels: int = 20) -> bytes:
    """Return a chain of ``levels`` forwards, each message/rfc822 inside the one before."""
    inner = _HEAD + b"Content-Type: text/plain; charset=UTF-8\r\n\r\n" + _GREETING.encode()
    for level in range(levels, 0, -1):
        boundary = b"==level%d==" % level
        inner = b"".join(
            [
                _HEAD.replace(b"<monster@", b"<level%d@" % level).replace(
                    b"Subject: =?UTF-8?B?5a+E6ZmE6YeR5Y+X6aCY6Ki85piO5pu444Gr44Gk44GE44Gm?=",
                    b"Subject: Fwd: level %d" % level,
                ),
                b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n',
                b"--" + boundary + b"\r\n",
                _text_part(f"{level}段目の転送です。\n"),
                b"\r\n--" + boundary + b"\r\n",
                b"Content-Type: message/rfc822\r\n\r\n",
                inner,
                b"\r\n--" + boundary + b"--\r\n",
            ]
        )
    return inner


def many_parts_mail(count: int = 5000) -> bytes:
    """Return a multipart/mixed mail with ``count`` tiny attachments."""
    parts = [
        b'Content-Type: text/plain; name="p%d.txt"\r\n\r\n%d\r\n' % (index, index)
        for index in range(count)
    ]
    return _mixed(parts)


def header_bomb_mail(fields: int = 400_000) -> bytes:
    """Return a mail whose header block is ~30 MB of Received fields."""
    received = b"".join(
        b"Received: from relay%d.example.jp by mx.example.jp; Tue, 03 Jun 2025\r\n" % index
        for index in range(fields)
    )
    return _HEAD + received + b"Content-Type: text/plain; charset=UTF-8\r\n\r\nhello\r\n"


def html_mail(paragraphs: int = 250_000) -> bytes:
    """Return an HTML-only mail of ~14 MB with a script the sanitiser would have removed."""
    rows = "".join(f"<p>{n}行目：<b>寄附</b>の確認 &amp; お礼</p>\n" for n in range(paragraphs))
    markup = f"<html><body><script>alert(1)</script>{rows}</body></html>"
    head = _HEAD + b"Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    return head + b"\r\n" + markup.encode()


# --- parsing in a fresh interpreter --------------------------------------------------------

# ru_maxrss survives exec, so a child started from the (big) pytest process would report at
# least pytest's own size. A fork starts the count afresh from the small new interpreter, so
# the measured work runs in a grandchild.
_PROBE = """
import os, sys
pid = os.fork()
if pid:
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))

import hashlib, json, resource, time
from support.mail.parsing import parse_message
from support.mail.parsing_types import ParseLimits

raw = open(sys.argv[1], "rb").read()
limits = ParseLimits(**json.loads(sys.argv[2]))
needles = [needle.encode() for needle in json.loads(sys.argv[3])]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
parsed = parse_message(raw, limits)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "peak_kb": peak,
    "before_kb": before,
    "seconds": seconds,
    "subject": parsed.subject,
    "from_addr": parsed.from_addr,
    "text_len": len(parsed.text),
    "text_head": parsed.text[:400],
    "text_tail": parsed.text[-400:],
    "html": (parsed.html or "")[:400],
    "limited": parsed.limited,
    "parse_failed": parsed.parse_failed,
    "defects": parsed.defects,
    "content_hash": parsed.content_hash,
    "attachments": [
        {
            "filename": a.filename,
            "content_type": a.content_type,
            "size": a.size,
            "kept": len(a.data),
            "omitted": a.omitted,
            "sha256": hashlib.sha256(a.data).hexdigest(),
            "contains": [needle in a.data for needle in needles],
        }
        for a in parsed.attachments
    ],
}))
"""

# (monster, mail size, peak RSS before parsing, peak RSS after, parse seconds)
_MEASURED: list[tuple[str, int, int, int, float]] = []


@pytest.fixture(scope="module", autouse=True)
def _report_peak_rss(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the measured peak RSS of every monster once the module has run, even without -s."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not _MEASURED:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_sep("-", "peak RSS of each monster parse (imports included)")
        reporter.write_line(
            f"{'monster':<42}{'mail':>9}{'at start':>10}{'peak RSS':>10}{'parse':>8}"
        )
        for name, size, before_kb, peak_kb, seconds in _MEASURED:
            reporter.write_line(
                f"{name:<42}{size / MIB:>7.1f}MB{before_kb / 1024:>8.0f}MB"
                f"{peak_kb / 1024:>8.0f}MB{seconds:>7.2f}s"
            )


def parse_in_child(
    tmp_path: Path,
    name: str,
    raw: bytes,
    limits: ParseLimits = DEFAULT_LIMITS,
    needles: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Parse a mail in a fresh interpreter and return its key results and peak RSS."""
    path = tmp_path / "monster.eml"
    path.write_bytes(raw)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            str(path),
            json.dumps(dataclasses.asdict(limits)),
            json.dumps(list(needles)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    size = path.stat().st_size
    _MEASURED.append((name, size, result["before_kb"], result["peak_kb"], result["seconds"]))
    print(f"{name}: {size / MIB:.1f} MB mail, peak RSS {result['peak_kb'] / 1024:.0f} MB")
    return result


def peak_mb(result: dict[str, Any]) -> float:
    """Return the child's peak RSS in MiB."""
    return float(result["peak_kb"]) / 1024


def has_defect(result: dict[str, Any], words: str) -> bool:
    """Tell whether any defect of the child's result contains the words."""
    return any(words in defect for defect in result["defects"])


# --- the monsters ---------------------------------------------------------------------------


class TestMonsterMails:
    @pytest.mark.parametrize("one_line", [False, True], ids=["76-column base64", "one line"])
    def test_a_25_mb_mail_keeps_its_pdf_and_text_within_the_memory_bound(
        self, tmp_path: Path, one_line: bool
    ) -> None:
        raw, pdf_size = big_pdf_mail(one_line)
        assert 24 * MIB < len(raw) < 26 * MIB
        name = "25 MB mail, PDF " + ("on one line" if one_line else "in 76-column lines")
        result = parse_in_child(tmp_path, name, raw)
        assert not result["parse_failed"]
        assert not result["limited"]
        assert result["subject"] == "寄附金受領証明書について"
        assert "ご確認ください" in result["text_head"]
        [pdf] = result["attachments"]
        assert pdf["filename"] == "寄附金受領証明書.pdf"
        assert pdf["size"] == pdf["kept"] == pdf_size
        assert peak_mb(result) < BIG_MAIL_RSS_MB

    def test_a_mail_over_the_size_limit_is_read_as_header_only_and_flagged(
        self, tmp_path: Path
    ) -> None:
        raw, _ = big_pdf_mail()
        unlimited_hash = parse_message(raw).content_hash
        limits = ParseLimits(max_raw_bytes=16 * MIB)
        result = parse_in_child(tmp_path, "25 MB mail over a 16 MiB size limit", raw, limits)
        assert result["limited"]
        assert not result["parse_failed"]
        assert has_defect(result, "only the header was read")
        assert result["subject"] == "寄附金受領証明書について"
        assert result["from_addr"] == "donor@example.jp"
        assert result["attachments"] == []
        assert result["text_len"] == 0
        assert result["content_hash"] == unlimited_hash
        assert peak_mb(result) < OTHER_RSS_MB

    def test_a_mail_with_200_attachments_lists_every_japanese_name(self, tmp_path: Path) -> None:
        result = parse_in_child(tmp_path, "200 attachments", many_attachments_mail(200))
        assert not result["limited"]
        names = [a["filename"] for a in result["attachments"]]
        assert names == [f"領収書_{n:03d}_山田太郎.txt" for n in range(1, 201)]
        assert all(a["kept"] == a["size"] > 0 for a in result["attachments"])
        assert peak_mb(result) < OTHER_RSS_MB

    def test_attachments_over_the_limit_are_listed_by_size_without_data(
        self, tmp_path: Path
    ) -> None:
        limits = ParseLimits(max_attachments=50)
        result = parse_in_child(
            tmp_path, "200 attachments, limit 50", many_attachments_mail(200), limits
        )
        assert result["limited"]
        assert has_defect(result, "more than 50 attachments")
        attachments = result["attachments"]
        assert len(attachments) == 200
        assert all(a["kept"] == a["size"] and not a["omitted"] for a in attachments[:50])
        assert all(a["kept"] == 0 and a["omitted"] for a in attachments[50:])
        sizes = [len(f"領収書 {n} 番\n".encode()) * 20 for n in range(1, 201)]
        assert [a["size"] for a in attachments] == sizes
        assert attachments[199]["filename"] == "領収書_200_山田太郎.txt"
        assert peak_mb(result) < OTHER_RSS_MB

    @pytest.mark.parametrize("charset", ["iso-2022-jp", "utf-8"])
    def test_a_100000_line_japanese_body_is_cut_with_a_marker(
        self, tmp_path: Path, charset: str
    ) -> None:
        raw = long_body_mail(100_000, charset)
        result = parse_in_child(tmp_path, f"100,000-line body ({charset})", raw)
        assert result["limited"]
        assert has_defect(result, "text longer than 500,000 characters")
        assert result["text_head"].startswith(_GREETING + "000000行目：返礼品の配送状況")
        assert result["text_tail"].endswith(TEXT_CUT_MARK)
        assert "\ufffd" not in result["text_head"] + result["text_tail"]
        assert result["text_len"] <= DEFAULT_LIMITS.max_text_chars + len(TEXT_CUT_MARK)
        assert peak_mb(result) < OTHER_RSS_MB

    def test_a_zip_bomb_is_kept_as_its_compressed_bytes_and_never_inflated(
        self, tmp_path: Path
    ) -> None:
        bomb, gzipped = zip_bomb(), gzip_bomb()
        [member] = zipfile.ZipFile(io.BytesIO(bomb)).infolist()
        assert member.file_size == 10 * MIB
        assert len(bomb) < 64 * 1024
        result = parse_in_child(
            tmp_path, "zip bomb and gzip Content-Encoding", zip_bomb_mail(bomb, gzipped)
        )
        archive, encoded = result["attachments"]
        assert archive["filename"] == "証明書一式.zip"
        assert archive["size"] == archive["kept"] == len(bomb)
        assert archive["sha256"] == hashlib.sha256(bomb).hexdigest()
        assert encoded["size"] == encoded["kept"] == len(gzipped)
        assert encoded["sha256"] == hashlib.sha256(gzipped).hexdigest()
        assert has_defect(result, "Content-Encoding gzip kept as an attachment")
        assert result["text_head"].startswith(_GREETING.strip())
        assert peak_mb(result) < OTHER_RSS_MB

    def test_a_20_level_forward_chain_stops_at_the_nesting_limit(self, tmp_path: Path) -> None:
        raw = nested_forward_mail(20)
        result = parse_in_child(
            tmp_path, "20 nested message/rfc822", raw, needles=("Fwd: level 20", _GREETING.strip())
        )
        assert result["limited"]
        assert has_defect(result, "nested too deep")
        assert result["subject"] == "Fwd: level 1"
        text = result["text_head"] + result["text_tail"]
        assert result["text_len"] < 4000
        assert "5段目の転送です" in text
        assert "6段目" not in text
        [forward] = result["attachments"]
        assert forward["filename"] == "Fwd: level 2.eml"
        # The one .eml holds the whole chain, down to the innermost text, and is never
        # serialised once per level.
        assert forward["contains"] == [True, True]
        assert forward["size"] < len(raw)
        assert peak_mb(result) < OTHER_RSS_MB

    def test_a_multipart_with_5000_parts_stops_at_the_part_limit(self, tmp_path: Path) -> None:
        result = parse_in_child(tmp_path, "5,000 MIME parts", many_parts_mail(5000))
        assert result["limited"]
        assert has_defect(result, "more than 500 MIME parts")
        assert has_defect(result, "more than 300 attachments")
        attachments = result["attachments"]
        assert len(attachments) == 499  # the root counts as a part
        assert [a["filename"] for a in attachments[:2]] == ["p0.txt", "p1.txt"]
        assert sum(not a["omitted"] for a in attachments) == 300
        assert all(a["size"] > 0 for a in attachments)
        assert peak_mb(result) < OTHER_RSS_MB

    def test_a_30_mb_header_block_is_read_up_to_the_header_limit(self, tmp_path: Path) -> None:
        result = parse_in_child(tmp_path, "30 MB header block", header_bomb_mail())
        assert result["limited"]
        assert has_defect(result, "header block over 1,048,576 bytes")
        assert result["subject"] == "寄附金受領証明書について"
        assert result["text_len"] == 0
        assert peak_mb(result) < OTHER_RSS_MB

    def test_a_14_mb_html_body_is_shown_as_escaped_text(self, tmp_path: Path) -> None:
        result = parse_in_child(tmp_path, "14 MB HTML body", html_mail())
        assert result["limited"]
        assert has_defect(result, "HTML over 2,097,152 bytes was not sanitised")
        assert result["html"].startswith("<pre>")
        assert "<script>" not in result["html"]
        assert "<b>" not in result["html"]
        assert "0行目： 寄附 の確認 &amp; お礼" in result["html"]
        assert result["text_tail"].endswith(TEXT_CUT_MARK)
        assert peak_mb(result) < OTHER_RSS_MB


# --- each limit on its own, in process, with small limits ------------------------------------


def simple_mail(body: bytes, content_type: bytes = b"text/plain; charset=UTF-8") -> bytes:
    """Return a single-part mail with the given body."""
    return _HEAD + b"Content-Type: " + content_type + b"\r\n\r\n" + body


def limit_defects(defects: list[str]) -> list[str]:
    """Return the defects that report a limit."""
    return [defect for defect in defects if defect.startswith("limit:")]


class TestConfiguredLimits:
    def test_default_limits_are_the_documented_ones(self) -> None:
        assert DEFAULT_LIMITS == ParseLimits(
            max_raw_bytes=40 * MIB,
            max_header_bytes=1 * MIB,
            max_parts=500,
            max_attachments=300,
            max_text_chars=500_000,
            max_html_bytes=2 * MIB,
            max_nesting=10,
        )
        with pytest.raises(dataclasses.FrozenInstanceError):
            DEFAULT_LIMITS.max_parts = 1  # type: ignore[misc]

    def test_negative_limits_are_refused_when_configured(self) -> None:
        with pytest.raises(ValueError, match="max_parts"):
            ParseLimits(max_parts=-1)

    def test_an_ordinary_mail_is_not_limited(self) -> None:
        parsed = parse_message(many_attachments_mail(3))
        assert not parsed.limited
        assert limit_defects(parsed.defects) == []
        assert not any(a.omitted for a in parsed.attachments)

    def test_text_over_the_limit_is_cut_with_a_marker_and_a_defect(self) -> None:
        body = "寄附金の控除について。\n" * 100
        parsed = parse_message(simple_mail(body.encode()), ParseLimits(max_text_chars=100))
        assert parsed.limited
        assert parsed.text == body[:100] + TEXT_CUT_MARK
        assert limit_defects(parsed.defects) == [
            "limit: text longer than 100 characters was cut; "
            "the full text is only in the stored raw message"
        ]

    def test_a_uuencoded_attachment_larger_than_the_text_limit_is_still_extracted(self) -> None:
        data = random.Random(9).randbytes(4500)
        uu = b"".join(binascii.b2a_uu(data[i : i + 45]) for i in range(0, len(data), 45))
        body = "添付します。\n".encode() + b"begin 644 scan.bin\n" + uu + b"`\nend\n"
        parsed = parse_message(simple_mail(body), ParseLimits(max_text_chars=100))
        assert [(a.filename, a.data) for a in parsed.attachments] == [("scan.bin", data)]
        assert parsed.text == "添付します。"
        assert not parsed.limited

    def test_text_exactly_at_the_limit_is_not_cut(self) -> None:
        parsed = parse_message(simple_mail(b"x" * 100), ParseLimits(max_text_chars=100))
        assert parsed.text == "x" * 100
        assert not parsed.limited

    def test_html_over_the_limit_is_escaped_instead_of_sanitised(self) -> None:
        markup = (
            "<html><head><style>p { color: red }</style></head><body>"
            "<script>alert(1)</script><p>寄附 &amp; お礼</p><img src=x onerror=alert(2)>"
            "</body></html>"
        )
        parsed = parse_message(
            simple_mail(markup.encode(), b"text/html; charset=UTF-8"),
            ParseLimits(max_html_bytes=64),
        )
        assert parsed.limited
        assert any("HTML over 64 bytes" in d for d in parsed.defects)
        assert parsed.html == "<pre>寄附 &amp; お礼</pre>"
        assert parsed.text == "寄附 & お礼"

    def test_attachments_over_the_limit_keep_their_size_but_not_their_data(self) -> None:
        parsed = parse_message(many_attachments_mail(3), ParseLimits(max_attachments=1))
        first, *rest = parsed.attachments
        assert first.data and not first.omitted
        assert [(a.size > 0, a.data, a.omitted) for a in rest] == [(True, b"", True)] * 2
        assert parsed.limited

    def test_parts_over_the_limit_are_not_read(self) -> None:
        parsed = parse_message(many_attachments_mail(10), ParseLimits(max_parts=4))
        # The root, the text part and two attachments make four parts.
        assert len(parsed.attachments) == 2
        assert parsed.text.startswith("いつもお世話に")
        assert any("more than 4 MIME parts" in d for d in parsed.defects)

    def test_parts_nested_deeper_than_the_limit_are_not_read(self) -> None:
        inner = _HEAD + b"Content-Type: text/plain; charset=UTF-8\r\n\r\n" + "内側".encode()
        raw = _mixed([_text_part("外側\n"), b"Content-Type: message/rfc822\r\n\r\n" + inner])
        shallow = parse_message(raw, ParseLimits(max_nesting=1))
        assert shallow.limited
        assert any("nested too deep" in d for d in shallow.defects)
        assert "外側" in shallow.text
        assert "内側" not in shallow.text
        assert parse_message(shallow.attachments[0].data).text == "内側"
        assert "内側" in parse_message(raw, ParseLimits(max_nesting=2)).text

    @pytest.mark.parametrize("levels", [300, 5000])
    def test_absurd_multipart_nesting_is_cut_not_a_parse_failure(self, levels: int) -> None:
        raw = b"".join(
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
            for i in range(levels)
        )
        parsed = parse_message(raw + b"\r\nhi")
        assert not parsed.parse_failed
        assert parsed.limited
        assert any("nested too deep" in d for d in parsed.defects)

    def test_a_mail_over_the_size_limit_keeps_its_header_fields_and_hash(self) -> None:
        raw = many_attachments_mail(3)
        parsed = parse_message(raw, ParseLimits(max_raw_bytes=1000))
        assert parsed.limited
        assert parsed.subject == "寄附金受領証明書について"
        assert parsed.from_name == "山田太郎"
        assert parsed.message_id == "monster@example.jp"
        assert (parsed.text, parsed.html, parsed.attachments) == ("", None, [])
        assert parsed.content_hash == parse_message(raw).content_hash
        assert limit_defects(parsed.defects) == parsed.defects

    def test_a_header_block_over_the_limit_is_read_up_to_it(self) -> None:
        received = b"Received: from relay.example.jp by mx.example.jp\r\n" * 100
        parsed = parse_message(simple_mail(b"body") + received, ParseLimits())
        assert not parsed.limited
        raw = _HEAD + received + b"\r\nbody"
        parsed = parse_message(raw, ParseLimits(max_header_bytes=1000))
        assert parsed.limited
        assert parsed.subject == "寄附金受領証明書について"
        assert parsed.text == ""

    def test_a_compressed_body_part_is_an_attachment_never_inflated(self) -> None:
        packed = gzip_bomb()
        parsed = parse_message(zip_bomb_mail(zip_bomb(), packed))
        assert parsed.attachments[1].data == packed
        assert parsed.attachments[1].filename == "attachment-2.txt"
        assert not parsed.limited

    def test_the_text_limit_also_holds_when_the_parser_crashes(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def explode() -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr("support.mail.parsing.make_parser", explode)
        parsed = parse_message(simple_mail(b"x" * 1000), ParseLimits(max_text_chars=10))
        assert parsed.parse_failed
        assert parsed.limited
        assert parsed.text == "x" * 10 + TEXT_CUT_MARK

    def test_the_content_hash_does_not_depend_on_the_limits(self) -> None:
        raw = many_attachments_mail(20)
        tight = ParseLimits(
            max_raw_bytes=5000,
            max_parts=2,
            max_attachments=1,
            max_text_chars=5,
            max_html_bytes=5,
            max_nesting=1,
        )
        assert parse_message(raw, tight).content_hash == parse_message(raw).content_hash

    def test_a_missing_limits_argument_falls_back_to_the_defaults(self) -> None:
        parsed = parse_message(simple_mail(b"hello"), None)  # type: ignore[arg-type]
        assert parsed.text == "hello"
        assert not parsed.limited
