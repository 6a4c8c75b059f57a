"""A deterministic corpus of varied Japanese inbound mail, for the end-to-end test and the
ingest benchmark.

`build_corpus` makes `count` distinct mails from a seed: ISO-2022-JP (7bit), Shift_JIS/
Windows-31J and EUC-JP (8bit), UTF-8 base64 and quoted-printable bodies, with encoded-word
headers; some carry an attachment named in Japanese (RFC 2231 in UTF-8, Shift_JIS or
ISO-2022-JP, RFC 2231 continuations, or an encoded-word); a fifth are replies (In-Reply-To and
References to an earlier mail); a few have no Message-ID; about a tenth are samples of the
shared corpus (`../shared/data/inbound/*.eml`, when present) with a unique Message-ID
substituted. Re-deliveries (byte for byte, or with one more Received header) are mixed in.
"""

from __future__ import annotations

import base64
import hashlib
import quopri
import random
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

SEED = 20250602
MAIL_COUNT = 2_000
REDELIVERIES = 10
NO_MESSAGE_ID = 12
DESK = "support@furusato-desk.example.jp"
INBOUND = Path(__file__).resolve().parents[3] / "shared" / "data" / "inbound"
# Corpus samples above this size (the 7 MB attachment) would only slow the run down.
SAMPLE_MAX_BYTES = 64 * 1024

JST = timezone(timedelta(hours=9), "JST")
FIRST_DATE = datetime(2025, 6, 2, 9, 0, tzinfo=JST)

# -- the corpus ---------------------------------------------------------------------------

_TOPICS = (
    "返礼品の配送日",
    "寄附金受領証明書の再発行",
    "ワンストップ特例申請書の送付先",
    "住所変更",
    "返礼品の破損",
    "お礼の品の選び直し",
    "寄附の取り消し",
    "領収書の宛名",
    "定期便の停止",
    "申込内容の確認",
)
# Lines every Japanese charset can encode (JIS X 0208 only).
_LINES = (
    "いつもお世話になっております。",
    "先日寄附をさせていただいた者です。",
    "返礼品がまだ届いておりません。",
    "お手数ですがご確認をお願いいたします。",
    "寄附金受領証明書が見当たりません。",
    "申請書の送付先を教えてください。",
    "引っ越しのため住所が変わりました。",
    "到着した品物の箱が潰れていました。",
    "電話がつながらなかったためメールいたします。",
    "注文番号は ORD-2025-001234 です。",
    "（株）山田商店様の干物セットを申し込みました。",
    "よろしくお願い申し上げます。",
)
# Only Windows-31J (and Unicode) has these: NEC and IBM extensions, FULLWIDTH TILDE.
_CP932_LINES = (
    "①配送日 ②宛先 ③数量について",
    "差出人は㈱髙島屋ではありません。",
    "﨑田の「﨑」は旧字です。",
    "到着は6月10日～6月12日の予定です。",
    "ソ連の「ソ」と表の「表」は0x5Cを含みます。",
    "注文番号はＯＲＤ－２０２５－００１２３４です。",
)
_SURNAMES = ("鈴木", "佐藤", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤")
_GIVEN_NAMES = ("一郎", "花子", "健太", "美咲", "翔", "陽子", "大輔", "さくら")
_DOMAINS = ("example.jp", "example.ne.jp", "docomo.example.jp", "ezweb.example.ne.jp")
_ATTACHMENTS = (
    ("寄附金受領証明書.pdf", "application/pdf", b"%PDF-1.7\n"),
    ("ワンストップ特例申請書（記入済み）.pdf", "application/pdf", b"%PDF-1.4\n"),
    ("返礼品の写真.jpg", "image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
    ("住所変更届_2025年6月.png", "image/png", b"\x89PNG\r\n\x1a\n"),
    ("領収書の控え.pdf", "application/pdf", b"%PDF-1.5\n"),
)
_FILENAME_STYLES = ("rfc2231-utf8", "rfc2231-continued", "rfc2231-sjis", "rfc2231-jis", "ew-jis")


@dataclass(frozen=True)
class _Charset:
    """How a generated mail's text is encoded."""

    label: str
    codec: str
    transfer: str
    header: str  # encoded-word encoding: "B" or "Q"
    extended: bool  # may use the Windows-31J/Unicode-only lines


_CHARSETS = (
    _Charset("ISO-2022-JP", "iso2022_jp", "7bit", "B", False),
    _Charset("Shift_JIS", "cp932", "8bit", "B", True),
    _Charset("Windows-31J", "cp932", "8bit", "B", True),
    _Charset("EUC-JP", "euc_jp", "8bit", "B", False),
    _Charset("UTF-8", "utf-8", "base64", "B", True),
    _Charset("UTF-8", "utf-8", "quoted-printable", "Q", True),
)
_CHARSET_WEIGHTS = (28, 12, 5, 12, 25, 18)


@dataclass(frozen=True)
class Corpus:
    """The mails of a run and what the INBOX receives."""

    mails: tuple[bytes, ...]
    """The distinct mails, in delivery order."""
    deliveries: tuple[bytes, ...]
    """Everything appended to the INBOX: the mails with re-deliveries mixed in."""
    message_ids: frozenset[str]
    """Message-IDs (without angle brackets) of the mails that have one."""
    subjects: dict[str, str]
    """Decoded subject of each generated mail, by Message-ID."""
    attachments: dict[str, str]
    """Decoded attachment name of each generated mail with an attachment, by Message-ID."""
    replies: dict[str, str]
    """Message-ID of each generated reply -> Message-ID of the mail it answers."""
    samples: int
    """How many mails are samples of the shared corpus."""


def _encoded_words(text: str, charset: _Charset) -> str:
    """Encode a header text as RFC 2047 words of at most 75 characters, folded."""

    def word(chunk: str) -> str:
        data = chunk.encode(charset.codec)
        if charset.header == "B":
            return f"=?{charset.label}?B?{base64.b64encode(data).decode('ascii')}?="
        safe = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/"
        encoded = "".join(
            "_" if byte == 0x20 else chr(byte) if byte in safe else f"={byte:02X}" for byte in data
        )
        return f"=?{charset.label}?Q?{encoded}?="

    words: list[str] = []
    chunk = ""
    for char in text:
        if chunk and len(word(chunk + char)) > 75:
            words.append(word(chunk))
            chunk = char
        else:
            chunk += char
    if chunk:
        words.append(word(chunk))
    return "\r\n ".join(words)


def _encode_body(lines: Sequence[str], charset: _Charset) -> bytes:
    """Return the body bytes (CRLF line ends) in the charset and transfer encoding."""
    if charset.transfer in ("7bit", "8bit"):
        # Line by line: an ISO-2022-JP line must end in ASCII, before its CRLF.
        return b"\r\n".join(line.encode(charset.codec) for line in lines) + b"\r\n"
    data = "\n".join(lines).encode(charset.codec) + b"\n"
    if charset.transfer == "base64":
        encoded = base64.encodebytes(data)
    else:
        encoded = quopri.encodestring(data)
    return encoded.replace(b"\n", b"\r\n")


def _wrap_base64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _percent(name: str, codec: str) -> str:
    return urllib.parse.quote(name.encode(codec), safe="")


def _disposition(name: str, style: str) -> tuple[str, str]:
    """Return (Content-Type name parameter, Content-Disposition) for an attachment name."""
    jis = _CHARSETS[0]
    if style == "rfc2231-utf8":
        return "", f"attachment;\r\n filename*=UTF-8''{_percent(name, 'utf-8')}"
    if style == "rfc2231-continued":
        encoded = _percent(name, "utf-8")
        # Cut between %XX escapes: every piece but the first is a bare continuation.
        pieces = re.findall(r"(?:%[0-9A-F]{2}|[^%]){1,18}", encoded)
        params = [f" filename*0*=UTF-8''{pieces[0]}"]
        params += [f" filename*{n}*={piece}" for n, piece in enumerate(pieces[1:], 1)]
        return "", "attachment;\r\n" + ";\r\n".join(params)
    if style == "rfc2231-sjis":
        return "", f"attachment;\r\n filename*=Shift_JIS''{_percent(name, 'cp932')}"
    if style == "rfc2231-jis":
        return "", f"attachment;\r\n filename*=ISO-2022-JP''{_percent(name, 'iso2022_jp')}"
    # What many Japanese mailers still send: an encoded-word inside a quoted parameter.
    word = _encoded_words(name, jis).replace("\r\n ", "")
    return f';\r\n name="{word}"', f'attachment;\r\n filename="{word}"'


@dataclass
class _Draft:
    """One generated mail on its way to bytes."""

    serial: str
    message_id: str | None
    charset: _Charset
    sender: str
    subject: str
    date: datetime
    lines: list[str]
    parent: str | None = None
    attachment: tuple[str, str, bytes] | None = None
    filename_style: str = ""
    headers: list[str] = field(default_factory=list)


def _render(draft: _Draft) -> bytes:
    charset = draft.charset
    name, _, address = draft.sender.partition(" <")
    head = [
        f"From: {_encoded_words(name, charset)} <{address}",
        f"To: {DESK}",
        f"Subject: {_encoded_words(draft.subject, charset)}",
        f"Date: {draft.date.strftime('%a, %d %b %Y %H:%M:%S %z')}",
    ]
    if draft.message_id is not None:
        head.append(f"Message-ID: <{draft.message_id}>")
    if draft.parent is not None:
        head += [f"In-Reply-To: <{draft.parent}>", f"References: <{draft.parent}>"]
    head += ["MIME-Version: 1.0", *draft.headers]
    text_type = f"text/plain; charset={charset.label}"
    body = _encode_body(draft.lines, charset)
    if draft.attachment is None:
        head += [f"Content-Type: {text_type}", f"Content-Transfer-Encoding: {charset.transfer}"]
        return "\r\n".join(head).encode("ascii") + b"\r\n\r\n" + body
    filename, content_type, data = draft.attachment
    boundary = f"=_e2e_{draft.serial}_{hashlib.sha256(data).hexdigest()[:12]}"
    name_param, disposition = _disposition(filename, draft.filename_style)
    head.append(f'Content-Type: multipart/mixed;\r\n boundary="{boundary}"')
    parts = [
        f"--{boundary}\r\nContent-Type: {text_type}\r\n"
        f"Content-Transfer-Encoding: {charset.transfer}\r\n\r\n".encode("ascii")
        + body,
        f"--{boundary}\r\nContent-Type: {content_type}{name_param}\r\n"
        f"Content-Disposition: {disposition}\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n".encode("ascii")
        + _wrap_base64(data),
    ]
    preamble = b"This is a multi-part message in MIME format.\r\n\r\n"
    closing = f"--{boundary}--\r\n".encode("ascii")
    return "\r\n".join(head).encode("ascii") + b"\r\n\r\n" + preamble + b"".join(parts) + closing


_MESSAGE_ID_HEADER = re.compile(rb"(?im)^message-id:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*\r\n")


def _load_samples(directory: Path) -> list[bytes]:
    """Return the shared corpus's small mails with CRLF line ends (as IMAP serves them)."""
    if not directory.is_dir():
        return []
    samples = []
    for path in sorted(directory.glob("*.eml")):
        raw = path.read_bytes()
        if len(raw) <= SAMPLE_MAX_BYTES:
            # Dovecot stores LF and serves CRLF: a bare LF would not round-trip.
            samples.append(re.sub(rb"(?<!\r)\n", b"\r\n", raw))
    return samples


def _with_message_id(raw: bytes, message_id: str) -> bytes:
    """Replace the Message-ID header (or add one) of a sample mail."""
    header = f"Message-ID: <{message_id}>\r\n".encode("ascii")
    replaced, count = _MESSAGE_ID_HEADER.subn(lambda _: header, raw, count=1)
    return replaced if count else header + raw


def _header_message_id(raw: bytes) -> bytes | None:
    match = re.search(rb"(?im)^message-id:\s*<([^>\r\n]+)>", raw)
    return match.group(1) if match else None


def build_corpus(
    count: int = MAIL_COUNT,
    *,
    seed: int = SEED,
    redeliveries: int = REDELIVERIES,
    without_message_id: int = NO_MESSAGE_ID,
    samples_dir: Path = INBOUND,
) -> Corpus:
    """Generate `count` distinct mails and their delivery order, the same for the same seed."""
    rng = random.Random(seed)
    samples = _load_samples(samples_dir)
    no_id = set(rng.sample(range(count), min(without_message_id, count)))
    mails: list[bytes] = []
    subjects: dict[str, str] = {}
    attachments: dict[str, str] = {}
    replies: dict[str, str] = {}
    answerable: list[tuple[str, str, str]] = []  # (message id, subject, sender)
    sample_count = 0
    for index in range(count):
        serial = f"E2E-{seed}-{index:05d}"
        message_id = f"{serial.lower()}.{rng.getrandbits(32):08x}@mua.example.jp"
        if samples and index not in no_id and rng.random() < 0.1:
            mails.append(_with_message_id(rng.choice(samples), message_id))
            sample_count += 1
            continue
        charset = rng.choices(_CHARSETS, _CHARSET_WEIGHTS)[0]
        name = rng.choice(_SURNAMES) + " " + rng.choice(_GIVEN_NAMES)
        sender = f"{name} <donor{rng.randrange(400):03d}@{rng.choice(_DOMAINS)}>"
        subject = f"{rng.choice(_TOPICS)}について（{serial}）"
        parent = None
        if answerable and rng.random() < 0.2:
            parent, parent_subject, sender = rng.choice(answerable[-300:])
            subject = f"Re: {parent_subject}"
        lines = [rng.choice(_LINES) for _ in range(rng.randint(2, 9))]
        if charset.extended and rng.random() < 0.7:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(_CP932_LINES))
        lines += ["", f"整理番号: {serial}", name]
        draft = _Draft(
            serial=serial,
            message_id=None if index in no_id else message_id,
            charset=charset,
            sender=sender,
            subject=subject,
            date=FIRST_DATE + timedelta(minutes=7 * index, seconds=rng.randrange(60)),
            lines=lines,
            parent=parent,
            headers=[f"X-Mailer: e2e-generator/{rng.randint(1, 9)}"],
        )
        if rng.random() < 0.12:
            filename, content_type, magic = rng.choice(_ATTACHMENTS)
            draft.attachment = (
                filename,
                content_type,
                magic + rng.randbytes(rng.randint(200, 6000)),
            )
            draft.filename_style = rng.choice(_FILENAME_STYLES)
        mails.append(_render(draft))
        if draft.message_id is not None:
            subjects[draft.message_id] = subject
            if draft.attachment is not None:
                attachments[draft.message_id] = draft.attachment[0]
            if parent is not None:
                replies[draft.message_id] = parent
            answerable.append((draft.message_id, subject.removeprefix("Re: "), sender))
    deliveries = list(mails)
    for original in sorted(rng.sample(range(count), min(redeliveries, count)), reverse=True):
        copy = mails[original]
        if rng.random() < 0.5:
            stamp = (FIRST_DATE + timedelta(days=30)).strftime("%a, %d %b %Y %H:%M:%S %z")
            received = f"Received: from mx2.example.jp by mx.furusato-desk.example.jp; {stamp}\r\n"
            copy = received.encode("ascii") + mails[original]
        # Later than the original, so the original always has the lower UID.
        deliveries.insert(rng.randint(original + 1, len(deliveries)), copy)
    message_ids = frozenset(
        m.decode("ascii") for raw in mails if (m := _header_message_id(raw)) is not None
    )
    return Corpus(
        mails=tuple(mails),
        deliveries=tuple(deliveries),
        message_ids=message_ids,
        subjects=subjects,
        attachments=attachments,
        replies=replies,
        samples=sample_count,
    )
