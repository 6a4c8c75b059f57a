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

import contextlib
import hashlib
import itertools
import json
import math
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from support.mail.models import MailAttachment, MailCursor, MailMessage, MailRaw
from tests.cli_util import run_support, support_env
from tests.mail.corpus import (
    DESK,
    INBOUND,
    MAIL_COUNT,
    NO_MESSAGE_ID,
    REDELIVERIES,
    SEED,
    Corpus,
    build_corpus,
)
from tests.services.dovecot import DovecotServer
from tests.services.netutil import wait_until

if TYPE_CHECKING:
    from tests.conftest import Database

pytestmark = pytest.mark.imap

BATCH_SIZE = 50
KILLS = 5
FOLDER = "INBOX"
ACCOUNT = "desk"
FLAG = b"$SupportImported"
# Bounds, not expectations: they keep a hung worker from hanging the suite.
WAIT_LIMIT = 180.0
STOP_LIMIT = 30.0
POLL_INTERVAL = 0.01


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
