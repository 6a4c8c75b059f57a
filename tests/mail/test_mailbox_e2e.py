"""End to end: 2,000 varied mails through a real Dovecot and the real worker, killed mid-stream.

What lands in the INBOX (`build_corpus`, deterministic from `SEED`):

* 2,000 distinct mails: ISO-2022-JP (7bit), Shift_JIS/Windows-31J and EUC-JP (8bit), UTF-8
  base64 and quoted-printable bodies, with encoded-word headers; some carry an attachment named
  in Japanese (RFC 2231 in UTF-8, Shift_JIS or ISO-2022-JP, RFC 2231 continuations, or an
  encoded-word); a fifth are replies (In-Reply-To and References to an earlier mail); a few
  have no Message-ID; about a tenth are samples of the shared corpus
  (`../shared/data/inbound/*.eml`, when present) with a unique Message-ID substituted.
* `REDELIVERIES` copies of some of them, appended later, each byte for byte or with one more
  Received header, as when the same mail reaches the mailbox twice. A copy is the same mail,
  so it must be merged into the stored one, not stored again.

So "exactly 2,000 stored, no duplicate, no loss" means: 2,000 inbound rows, whose raw bytes
are exactly the 2,000 distinct mails (the originals always have the lower UIDs, so they are
the ones stored), while the server holds 2,000 + `REDELIVERIES` messages, every one flagged.

The worker (`python -m support mail fetch`, batches of `BATCH_SIZE`) is SIGKILLed at five
moments drawn from `SEED`: four right after the stored count in the database passes a
threshold (so mostly between a batch's commit and the IMAP flagging of it), one in the middle
of a batch (after so many "mail stored" log lines of the batch that is not committed yet),
and restarted each time; the last run must finish and stop on SIGTERM. Then the folder is
recreated (new UIDVALIDITY, same mails, the import flag cleared) and fetched again, once
killed halfway and once with `--once`. Each time the same 2,000 rows must be there, every
mail flagged, replies in their parent's ticket, and generated subjects and Japanese
attachment names decoded as written.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import math
import quopri
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from support.mail.models import MailAttachment, MailCursor, MailMessage, MailRaw
from tests.cli_util import run_support, support_env
from tests.services.dovecot import DovecotServer
from tests.services.netutil import wait_until

if TYPE_CHECKING:
    from tests.conftest import Database

pytestmark = pytest.mark.imap

SEED = 20250602
MAIL_COUNT = 2_000
REDELIVERIES = 10
NO_MESSAGE_ID = 12
BATCH_SIZE = 50
KILLS = 5
FOLDER = "INBOX"
ACCOUNT = "desk"
DESK = "support@furusato-desk.example.jp"
FLAG = b"$SupportImported"
INBOUND = Path(__file__).resolve().parents[3] / "shared" / "data" / "inbound"
# Corpus samples above this size (the 7 MB attachment) would only slow the run down.
SAMPLE_MAX_BYTES = 64 * 1024
# Bounds, not expectations: they keep a hung worker from hanging the suite.
WAIT_LIMIT = 180.0
STOP_LIMIT = 30.0
POLL_INTERVAL = 0.01

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


def _header_message_id(raw: bytes) -> bytes | None:
    match = re.search(rb"(?im)^message-id:\s*<([^>\r\n]+)>", raw)
    return match.group(1) if match else None


# -- the worker process -------------------------------------------------------------------

# Warnings that mean the fetch loop itself fails (it would retry forever).
_TROUBLE = frozenset({"mail fetch failed; retrying"})


class WorkerProcess:
    """One `python -m support mail fetch` process; a thread reads its JSON log lines."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        """Start the process; its stderr goes to `log_path` and is counted."""
        self._cond = threading.Condition()
        self._stored = 0
        self._passes = 0
        self._trouble: list[str] = []
        self._tail: deque[str] = deque(maxlen=40)
        self._log = log_path.open("w", encoding="utf-8")
        self.proc: subprocess.Popen[str] = subprocess.Popen(
            [sys.executable, "-m", "support", "mail", "fetch", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc.stderr,), daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        """Return the worker's process id."""
        return self.proc.pid

    @property
    def stored(self) -> int:
        """Return how many "mail stored" lines (committed or not) the worker has logged."""
        with self._cond:
            return self._stored

    @property
    def passes(self) -> int:
        """Return how many passes over the folder the worker has finished."""
        with self._cond:
            return self._passes

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self._log.write(line)
            with contextlib.suppress(ValueError, AttributeError):
                record = json.loads(line)
                if record.get("msg") == "mail stored":
                    with self._cond:
                        self._stored += 1
                        self._cond.notify_all()
                elif record.get("msg") == "folder fetched":
                    with self._cond:
                        self._passes += 1
                elif record.get("level") == "ERROR" or record.get("msg") in _TROUBLE:
                    with self._cond:
                        self._trouble.append(line[:3000])
            with self._cond:
                self._tail.append(line.rstrip("\n"))
        with self._cond:
            self._cond.notify_all()

    def tail(self) -> str:
        """Return the last log lines, for failure messages."""
        with self._cond:
            return "\n".join(self._tail)

    def check_alive(self) -> bool:
        """Return True while running; raise with the log tail when it exited on its own."""
        code = self.proc.poll()
        if code is not None:
            raise AssertionError(f"worker {self.pid} exited with {code}:\n{self.tail()}")
        with self._cond:
            if self._trouble:
                # Every mail of the corpus ingests cleanly: an error is a failure, not noise.
                raise AssertionError(f"worker {self.pid} logged errors:\n{self._trouble[0]}")
        return True

    def wait_stored(self, count: int, timeout: float) -> None:
        """Wait until the worker has logged `count` stored mails."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._stored < count:
                self.check_alive()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"worker logged {self._stored} < {count} stored mails")
                self._cond.wait(min(remaining, 1.0))

    def kill(self) -> None:
        """SIGKILL the worker and reap it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=STOP_LIMIT)
        self._finish()

    def terminate(self, timeout: float = STOP_LIMIT) -> int:
        """SIGTERM the worker, wait (bounded), SIGKILL if it is still there; return its code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._finish()
        return self.proc.returncode

    def _finish(self) -> None:
        self._reader.join(timeout=STOP_LIMIT)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self._log.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers; every one still running after the test is SIGKILLed by its PID."""
    started: list[WorkerProcess] = []

    def start(env: dict[str, str], *args: str) -> WorkerProcess:
        worker = WorkerProcess(args, env, tmp_path / f"worker-{len(started) + 1}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.proc.returncode is None:
            worker.kill()


# -- observing the database and the server ------------------------------------------------


class Observer:
    """Reads what the worker committed, without taking SQLite's write lock."""

    def __init__(self, database: Database) -> None:
        """Use the fixture's engine on PostgreSQL; a plain one (WAL readers) on SQLite."""
        self._own = database.backend == "sqlite"
        # The project's SQLite engine begins every transaction IMMEDIATE (a write lock): a
        # poll through it would stall the worker's commits.
        self.engine: Engine = create_engine(database.url) if self._own else database.engine

    def close(self) -> None:
        """Dispose the engine when it is ours."""
        if self._own:
            self.engine.dispose()

    def inbound(self) -> int:
        """Return how many inbound messages are committed."""
        with Session(self.engine) as session:
            query = select(func.count()).where(MailMessage.direction == "inbound")
            return int(session.scalar(query) or 0)

    def cursor(self) -> tuple[int, int, int]:
        """Return the folder cursor's (uidvalidity, last_uid, resyncs), zeros when absent."""
        with Session(self.engine) as session:
            row = session.execute(
                select(MailCursor.uidvalidity, MailCursor.last_uid, MailCursor.resyncs).where(
                    MailCursor.account == ACCOUNT, MailCursor.folder == FOLDER
                )
            ).one_or_none()
        return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)


def _flags(server: DovecotServer, user: str) -> dict[int, tuple[bytes, ...]]:
    """Return every message's flags by UID, read with imapclient."""
    client = server.connect(user)
    try:
        client.select_folder(FOLDER, readonly=True)
        uids = client.search("ALL")
        fetched: dict[int, dict[bytes, Any]] = client.fetch(uids, ["FLAGS"]) if uids else {}
        return {uid: tuple(data[b"FLAGS"]) for uid, data in fetched.items()}
    finally:
        with contextlib.suppress(Exception):
            client.logout()


def _clear_flag(server: DovecotServer, user: str) -> None:
    client = server.connect(user)
    try:
        client.select_folder(FOLDER)
        client.remove_flags(client.search("ALL"), [FLAG], silent=True)
    finally:
        with contextlib.suppress(Exception):
            client.logout()


@dataclass(frozen=True)
class StoredRow:
    """What identifies one stored message."""

    id: int
    dedupe_key: str
    message_id: str | None
    ticket_id: int
    raw_sha256: str


def _stored_rows(database: Database) -> list[StoredRow]:
    with database.factory() as session:
        rows = session.execute(
            select(
                MailMessage.id,
                MailMessage.dedupe_key,
                MailMessage.message_id,
                MailMessage.ticket_id,
                MailRaw.data,
            )
            .join(MailRaw, MailRaw.message_id == MailMessage.id)
            .where(MailMessage.direction == "inbound")
            .order_by(MailMessage.id)
        ).all()
    return [
        StoredRow(row[0], row[1], row[2], row[3], hashlib.sha256(row[4]).hexdigest())
        for row in rows
    ]


# -- the kill plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class KillMoment:
    """When to SIGKILL one run: once the stored count passes `threshold`; for a mid-batch
    kill, then `into_batch` stored mails into the batch after that."""

    threshold: int
    into_batch: int | None


@dataclass(frozen=True)
class KillRecord:
    """What one killed run had done: mails it logged as stored, and rows that survived."""

    moment: KillMoment
    logged: int
    committed: int


def kill_plan(seed: int = SEED) -> list[KillMoment]:
    """Return `KILLS` moments, one per stretch of the stream, one of them mid-batch."""
    rng = random.Random(f"{seed}-kills")
    low, high = BATCH_SIZE, MAIL_COUNT - 3 * BATCH_SIZE
    stretch = (high - low) // KILLS
    mid_batch = rng.randrange(KILLS)
    return [
        KillMoment(
            # The last BATCH_SIZE of each stretch is left out: kills are a batch apart at least.
            threshold=rng.randint(low + k * stretch, low + (k + 1) * stretch - BATCH_SIZE),
            into_batch=rng.randint(BATCH_SIZE // 4, BATCH_SIZE * 3 // 4)
            if k == mid_batch
            else None,
        )
        for k in range(KILLS)
    ]


def _run_until_killed(worker: WorkerProcess, observer: Observer, moment: KillMoment) -> KillRecord:
    before = observer.inbound()
    wait_until(
        lambda: worker.check_alive() and observer.inbound() >= moment.threshold,
        WAIT_LIMIT,
        POLL_INTERVAL,
        what=f"{moment.threshold} stored messages",
    )
    if moment.into_batch is not None:
        # Batches start where the cursor was: N full batches in, plus some of the next one
        # (re-deliveries log nothing, so this lands a few mails later at most).
        batches = max(1, math.ceil((moment.threshold - before) / BATCH_SIZE))
        worker.wait_stored(batches * BATCH_SIZE + moment.into_batch, WAIT_LIMIT)
    worker.kill()
    return KillRecord(moment, logged=worker.stored, committed=observer.inbound() - before)


# -- the test -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[DovecotServer]:
    """One Dovecot for the module; each test gets its own user."""
    with DovecotServer() as dovecot:
        yield dovecot


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    """The 2,000 mails, generated once."""
    return build_corpus()


def test_corpus_is_deterministic_varied_and_distinct(corpus: Corpus) -> None:
    again = build_corpus()
    assert again.deliveries == corpus.deliveries
    assert len(corpus.mails) == MAIL_COUNT
    assert len(set(corpus.mails)) == MAIL_COUNT
    assert len(corpus.deliveries) == MAIL_COUNT + REDELIVERIES
    assert MAIL_COUNT - len(corpus.message_ids) == NO_MESSAGE_ID
    joined = b"\n".join(corpus.mails)
    for marker in (
        b"charset=ISO-2022-JP",
        b"charset=Shift_JIS",
        b"charset=EUC-JP",
        b"Content-Transfer-Encoding: base64",
        b"Content-Transfer-Encoding: quoted-printable",
        b"filename*=UTF-8''",
        b"filename*0*=UTF-8''",
        b"filename*=Shift_JIS''",
        b"In-Reply-To: <",
    ):
        assert marker in joined, marker
    # 8-bit Shift_JIS with a 0x5C trail byte (表) and an NEC extension (①).
    assert "表".encode("cp932") in joined and "①".encode("cp932") in joined
    # IMAP serves CRLF: every mail must already be CRLF to round-trip byte for byte.
    assert all(b"\n" not in raw.replace(b"\r\n", b"") for raw in corpus.deliveries)
    if INBOUND.is_dir():
        assert corpus.samples > 0


def test_two_thousand_mails_land_exactly_once_through_kills_and_a_uidvalidity_change(
    database: Database,
    server: DovecotServer,
    corpus: Corpus,
    workers: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    user = server.add_user(f"e2e-{database.backend}").name
    uids = server.append(user, FOLDER, corpus.deliveries)
    assert len(uids) == MAIL_COUNT + REDELIVERIES
    account = {
        "name": ACCOUNT,
        "host": server.host,
        "port": server.port,
        "username": user,
        "password": server.password(user),
        "security": "none",
        "folders": [FOLDER],
        "address": DESK,
    }
    env = support_env(
        database.url,
        tmp_path / "data",
        SUPPORT_MAIL_ACCOUNTS=json.dumps([account]),
        SUPPORT_MAIL_BATCH_SIZE=str(BATCH_SIZE),
        SUPPORT_LOG_LEVEL="INFO",
    )
    observer = Observer(database)
    try:
        # (a) five SIGKILLs, each followed by a restart, then a run to the end.
        kills = [_run_until_killed(workers(env), observer, m) for m in kill_plan()]
        last = workers(env)
        # The pass that reaches the last UID logs "folder fetched" when it is done: from
        # then on nothing changes, so whatever is (not) flagged now stays so.
        wait_until(
            lambda: last.check_alive() and last.passes >= 1,
            WAIT_LIMIT,
            POLL_INTERVAL,
            what="the worker to finish a pass over the folder",
        )
        fetched_at = time.monotonic()
        assert last.terminate() == 0, f"worker did not stop on SIGTERM:\n{last.tail()}"
        stopped_at = time.monotonic()

        assert any(k.logged > k.committed for k in kills), f"no kill rolled back work: {kills}"
        rows = _check_exactly_once(database, observer, corpus, server, user, uids)

        # (b) the folder is rebuilt: new UIDVALIDITY, same mails, the import flag gone.
        old_uidvalidity = observer.cursor()[0]
        new_uidvalidity = server.recreate_folder(user, FOLDER)
        assert new_uidvalidity != old_uidvalidity
        _clear_flag(server, user)
        new_uids = sorted(_flags(server, user))
        assert len(new_uids) == len(uids)
        halfway = random.Random(f"{SEED}-resync").randint(
            new_uids[len(new_uids) // 4], new_uids[len(new_uids) * 3 // 4]
        )
        resyncing = workers(env)
        wait_until(
            lambda: (
                resyncing.check_alive()
                and observer.cursor()[0] == new_uidvalidity
                and observer.cursor()[1] >= halfway
            ),
            WAIT_LIMIT,
            POLL_INTERVAL,
            what=f"the resync to pass UID {halfway}",
        )
        resyncing.kill()
        resumed_from = observer.cursor()[1]
        once = run_support(["mail", "fetch", "--once"], env, timeout=WAIT_LIMIT)
        assert once.returncode == 0, once.stderr[-3000:]
        fetched = int(re.findall(r"fetched (\d+) messages", once.stdout)[-1])
        assert fetched == sum(uid > resumed_from for uid in new_uids), once.stdout

        uidvalidity, last_uid, resyncs = observer.cursor()
        assert (uidvalidity, last_uid) == (new_uidvalidity, new_uids[-1])
        # One resync: the restart after the kill found the cursor on the new UIDVALIDITY.
        assert resyncs == 1
        assert _stored_rows(database) == rows
        _check_exactly_once(database, observer, corpus, server, user, new_uids)
    finally:
        observer.close()
    landed = ", ".join(
        f"{k.logged}/{k.committed}{' mid-batch' if k.moment.into_batch else ''}" for k in kills
    )
    print(  # shown with -s: where the kills landed and the wall time of each phase
        f"\n{database.backend}: kills (logged/committed) {landed}; "
        f"fetch with kills {fetched_at - started:.1f}s, SIGTERM stop "
        f"{stopped_at - fetched_at:.1f}s, resync {time.monotonic() - stopped_at:.1f}s"
    )


def _check_exactly_once(
    database: Database,
    observer: Observer,
    corpus: Corpus,
    server: DovecotServer,
    user: str,
    uids: list[int],
) -> list[StoredRow]:
    """Assert the 2,000 mails are stored once each, byte for byte, and all are flagged."""
    rows = _stored_rows(database)
    assert len(rows) == observer.inbound() == MAIL_COUNT
    assert len({r.dedupe_key for r in rows}) == MAIL_COUNT
    assert len({r.raw_sha256 for r in rows}) == MAIL_COUNT
    expected = {hashlib.sha256(raw).hexdigest() for raw in corpus.mails}
    assert {r.raw_sha256 for r in rows} == expected, "stored raw bytes differ from the mails"
    stored_ids = {r.message_id for r in rows if r.message_id is not None}
    assert corpus.message_ids <= stored_ids, sorted(corpus.message_ids - stored_ids)[:10]
    assert sum(r.message_id is None for r in rows) == NO_MESSAGE_ID
    # Replies joined their conversation, whatever was killed in between.
    ticket_of = {r.message_id: r.ticket_id for r in rows if r.message_id is not None}
    strays = [m for m, parent in corpus.replies.items() if ticket_of[m] != ticket_of[parent]]
    assert not strays, strays[:10]
    _check_parsed_as_written(database, corpus)
    flags = _flags(server, user)
    assert sorted(flags) == uids
    assert [uid for uid, f in flags.items() if FLAG not in f] == []
    assert observer.cursor()[1] == max(flags)
    return rows


def _check_parsed_as_written(database: Database, corpus: Corpus) -> None:
    """Assert the generated mails' subjects and attachment names decode as written."""
    with database.factory() as session:
        subjects = {
            message_id: subject
            for message_id, subject in session.execute(
                select(MailMessage.message_id, MailMessage.subject).where(
                    MailMessage.message_id.in_(list(corpus.subjects))
                )
            )
            if message_id is not None
        }
        names = {
            message_id: filename
            for message_id, filename in session.execute(
                select(MailMessage.message_id, MailAttachment.filename)
                .join(MailAttachment, MailAttachment.message_id == MailMessage.id)
                .where(MailMessage.message_id.in_(list(corpus.attachments)))
            )
            if message_id is not None
        }
    wrong_subjects = {m: s for m, s in subjects.items() if s != corpus.subjects[m]}
    assert not wrong_subjects, list(wrong_subjects.items())[:5]
    wrong_names = {m: n for m, n in names.items() if n != corpus.attachments[m]}
    assert not wrong_names, list(wrong_names.items())[:5]
    assert len(names) == len(corpus.attachments)


def test_kill_plan_spreads_five_kills_and_one_lands_mid_batch() -> None:
    plan = kill_plan()
    assert plan == kill_plan()
    assert len(plan) == KILLS
    thresholds = [m.threshold for m in plan]
    assert thresholds == sorted(thresholds)
    assert all(b - a >= BATCH_SIZE for a, b in itertools.pairwise(thresholds))
    assert sum(m.into_batch is not None for m in plan) == 1
