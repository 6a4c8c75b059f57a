"""The IMAP fetcher against a real, throwaway Dovecot server (tests.services.dovecot)."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from imapclient import IMAPClient  # type: ignore[import-untyped]

from support.adapters.imap import (
    ImapMailFetcher,
    MailFetchError,
    UidValidityChangedError,
    _has_buffered_input,
    choose_processed_flag,
)
from support.adapters.ports import FolderState, MailFetcher
from tests.services.dovecot import DovecotServer
from tests.services.netutil import free_port

pytestmark = pytest.mark.imap

INBOUND = Path(__file__).resolve().parents[3] / "shared" / "data" / "inbound"
# Generous bounds: they only keep a broken IDLE from hanging the suite, they are not waited.
WAIT_LIMIT = 30.0
FLAG = "$SupportImported"

_names = itertools.count(1)


def _mail(n: int, body: str = "") -> bytes:
    return (
        f"From: donor{n}@example.jp\r\nTo: desk@example.jp\r\nSubject: question {n}\r\n"
        f"Message-ID: <{n}.{os.getpid()}@test.example.jp>\r\n\r\nbody {n} {body}\r\n"
    ).encode()


@pytest.fixture(scope="module")
def server() -> Iterator[DovecotServer]:
    """Share one server across the module: every test gets a fresh user instead."""
    with DovecotServer() as dovecot:
        yield dovecot


@pytest.fixture
def user(server: DovecotServer) -> str:
    """Return a new user with an empty mailbox."""
    return server.add_user(f"desk{next(_names)}").name


@pytest.fixture
def make_fetcher(server: DovecotServer, user: str) -> Iterator[Callable[..., ImapMailFetcher]]:
    """Return a factory of fetchers for `user`, all closed after the test."""
    made: list[ImapMailFetcher] = []

    def make(**options: Any) -> ImapMailFetcher:
        options.setdefault("ssl", False)
        options.setdefault("timeout", 10)
        fetcher = ImapMailFetcher(server.host, server.port, user, server.password(user), **options)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def fetcher(make_fetcher: Callable[..., ImapMailFetcher]) -> ImapMailFetcher:
    """Return a fetcher with the default options (IDLE, keyword flag)."""
    return make_fetcher()


class _IdleStarted(logging.Handler):
    """Counts the fetcher's "imap idle started" records and lets a thread wait for them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._cond = threading.Condition()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "imap idle started":
            with self._cond:
                self.count += 1
                self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = WAIT_LIMIT) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.count >= count, timeout):
                raise TimeoutError(f"fetcher did not enter IDLE {count} time(s)")


@pytest.fixture
def idle_started() -> Iterator[_IdleStarted]:
    """Report when the fetcher is in IDLE, so another connection can deliver mail then."""
    logger = logging.getLogger("support.adapters.imap")
    handler = _IdleStarted()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # reported by the test after join()
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


# -- the port -----------------------------------------------------------------------------


def test_imap_fetcher_satisfies_the_mail_fetcher_port(fetcher: ImapMailFetcher) -> None:
    port: MailFetcher = fetcher
    assert port is fetcher


def test_folder_state_reports_uidvalidity_uidnext_and_count(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher
) -> None:
    empty = fetcher.folder_state("INBOX")
    assert empty.exists == 0
    assert empty.uidnext == 1
    assert empty.uidvalidity == server.uidvalidity(user, "INBOX")

    uids = server.append(user, "INBOX", [_mail(1), _mail(2), _mail(3)])

    state = fetcher.folder_state("INBOX")
    assert state == FolderState(uidvalidity=empty.uidvalidity, uidnext=uids[-1] + 1, exists=3)


def test_folder_state_of_a_missing_folder_raises_mail_fetch_error(
    fetcher: ImapMailFetcher,
) -> None:
    with pytest.raises(MailFetchError, match="folder 'Nowhere'"):
        fetcher.folder_state("Nowhere")


# -- fetch_after --------------------------------------------------------------------------


def test_fetch_after_returns_messages_in_uid_order_up_to_the_limit(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher
) -> None:
    uids = server.append(user, "INBOX", [_mail(n) for n in range(1, 8)])

    first = fetcher.fetch_after("INBOX", 0, 3)
    rest = fetcher.fetch_after("INBOX", first[-1].uid, 100)

    assert [m.uid for m in first] == uids[:3]
    assert [m.uid for m in rest] == uids[3:]
    assert [m.raw for m in first + rest] == [_mail(n) for n in range(1, 8)]


def test_fetch_after_returns_only_uids_above_the_cursor(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher
) -> None:
    uids = server.append(user, "INBOX", [_mail(n) for n in range(1, 6)])

    fetched = fetcher.fetch_after("INBOX", uids[1], 10)

    assert [m.uid for m in fetched] == uids[2:]


def test_fetch_after_ignores_the_highest_uid_when_nothing_is_new(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher
) -> None:
    uids = server.append(user, "INBOX", [_mail(1), _mail(2)])

    # "UID SEARCH UID 3:*" matches UID 2, the highest, although 2 < 3.
    assert fetcher.fetch_after("INBOX", uids[-1], 10) == []
    assert fetcher.fetch_after("INBOX", uids[-1] + 50, 10) == []


def test_fetch_after_on_an_empty_folder_returns_nothing(fetcher: ImapMailFetcher) -> None:
    assert fetcher.fetch_after("INBOX", 0, 10) == []


def test_fetch_after_with_a_zero_limit_returns_nothing(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher
) -> None:
    server.append(user, "INBOX", [_mail(1)])

    assert fetcher.fetch_after("INBOX", 0, 0) == []


def test_fetch_after_reads_other_folders(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher
) -> None:
    server.append(user, "INBOX", [_mail(1)])
    uids = server.append(user, "寄附/問い合わせ", [_mail(2)])

    fetched = fetcher.fetch_after("寄附/問い合わせ", 0, 10)

    assert [(m.uid, m.raw) for m in fetched] == [(uids[0], _mail(2))]


@pytest.mark.parametrize(
    "name",
    [
        "01_iso2022jp.eml",
        "02_iso2022jp_cp50220.eml",
        "03_shiftjis_cp932.eml",
        "04_eucjp.eml",
        "11_reply_quoted.eml",
        "18_large_attachment.eml",
        "23_carrier_sjis.eml",
    ],
)
def test_raw_japanese_mail_round_trips_byte_for_byte(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher, name: str
) -> None:
    path = INBOUND / name
    if not path.is_file():
        pytest.skip(f"sample mail {path} is missing")
    raw = path.read_bytes()
    # IMAP serves CRLF line ends; the samples are CRLF already, as SMTP delivers them.
    assert b"\n" not in raw.replace(b"\r\n", b"")
    server.append(user, "INBOX", [raw])

    (fetched,) = fetcher.fetch_after("INBOX", 0, 10)

    assert fetched.raw == raw


def test_fetching_does_not_mark_mail_seen(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher
) -> None:
    uids = server.append(user, "INBOX", [_mail(1), _mail(2)])

    assert len(fetcher.fetch_after("INBOX", 0, 10)) == 2

    assert server.flags(user, "INBOX") == dict.fromkeys(uids, ())


# -- mark_processed -----------------------------------------------------------------------


def test_mark_processed_sets_the_keyword_and_not_seen(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher
) -> None:
    uids = server.append(user, "INBOX", [_mail(1), _mail(2), _mail(3)])

    fetcher.mark_processed("INBOX", [uids[0], uids[2]])

    flags = server.flags(user, "INBOX")
    assert flags[uids[0]] == (FLAG.encode(),)
    assert flags[uids[1]] == ()
    assert flags[uids[2]] == (FLAG.encode(),)


def test_mark_processed_with_no_uids_does_nothing(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher
) -> None:
    uids = server.append(user, "INBOX", [_mail(1)])

    fetcher.mark_processed("INBOX", [])

    assert server.flags(user, "INBOX") == {uids[0]: ()}


def test_processed_flag_falls_back_to_seen_when_the_server_takes_no_keywords() -> None:
    assert choose_processed_flag(FLAG, [b"\\Seen", b"\\Deleted", b"\\*"]) == FLAG
    assert choose_processed_flag(FLAG, [b"\\Seen", FLAG.lower().encode()]) == FLAG
    assert choose_processed_flag(FLAG, [b"\\Seen", b"\\Deleted"]) == "\\Seen"
    assert choose_processed_flag(FLAG, []) == "\\Seen"


def test_move_mode_moves_processed_mail_to_the_target_folder(
    server: DovecotServer, user: str, make_fetcher: Callable[..., ImapMailFetcher]
) -> None:
    uids = server.append(user, "INBOX", [_mail(1), _mail(2), _mail(3)])
    fetcher = make_fetcher(move_to="Processed")

    fetcher.mark_processed("INBOX", uids[:2])

    assert server.uids(user, "INBOX") == uids[2:]
    assert len(server.uids(user, "Processed")) == 2
    # The moved mail stays unread for the operators' mail clients.
    assert all(flags == () for flags in server.flags(user, "Processed").values())


def test_move_mode_without_move_support_copies_and_expunges_only_those_uids(
    server: DovecotServer,
    user: str,
    make_fetcher: Callable[..., ImapMailFetcher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uids = server.append(user, "INBOX", [_mail(1), _mail(2), _mail(3)])
    with server.connect(user) as other:
        # Another operator deleted a message but has not expunged yet: it must survive.
        other.select_folder("INBOX")
        other.add_flags([uids[2]], [b"\\Deleted"])
    has_capability = IMAPClient.has_capability
    monkeypatch.setattr(
        IMAPClient,
        "has_capability",
        lambda client, name: name.upper() != "MOVE" and has_capability(client, name),
    )
    fetcher = make_fetcher(move_to="Processed")

    fetcher.mark_processed("INBOX", uids[:2])

    assert server.uids(user, "INBOX") == [uids[2]]
    assert len(server.uids(user, "Processed")) == 2


# -- wait_for_new -------------------------------------------------------------------------


def test_idle_wakes_up_when_mail_arrives_from_another_connection(
    server: DovecotServer,
    user: str,
    fetcher: ImapMailFetcher,
    idle_started: _IdleStarted,
) -> None:
    fetcher.folder_state("INBOX")

    def deliver() -> None:
        idle_started.wait_for(1)
        server.append(user, "INBOX", [_mail(1)])

    thread, errors = _in_thread(deliver)
    started = time.monotonic()
    woke = fetcher.wait_for_new("INBOX", WAIT_LIMIT)
    elapsed = time.monotonic() - started
    thread.join(WAIT_LIMIT)

    assert errors == []
    assert woke is True
    assert elapsed < WAIT_LIMIT / 2
    assert len(fetcher.fetch_after("INBOX", 0, 10)) == 1


def test_wait_for_new_reports_mail_that_arrived_before_waiting(
    server: DovecotServer, user: str, make_fetcher: Callable[..., ImapMailFetcher]
) -> None:
    for fetcher in (make_fetcher(), make_fetcher(idle=False)):
        fetcher.folder_state("INBOX")
        server.append(user, "INBOX", [_mail(1)])

        assert fetcher.wait_for_new("INBOX", WAIT_LIMIT) is True


def test_idle_sees_lines_already_buffered_without_blocking() -> None:
    # An EXISTS that arrives in one packet with IDLE's "+ idling" sits in imaplib's reader
    # buffer, where poll() on the socket cannot see it.
    ours, server_end = socket.socketpair()
    with ours, server_end, ours.makefile("rb") as reader:
        client = SimpleNamespace(_imap=SimpleNamespace(file=reader), socket=lambda: ours)
        assert _has_buffered_input(client) is False

        server_end.sendall(b"+ idling\r\n* 3 EXISTS\r\n")
        assert reader.readline() == b"+ idling\r\n"

        assert _has_buffered_input(client) is True
        assert ours.gettimeout() is None  # blocking again afterwards


def test_idle_times_out_without_new_mail(fetcher: ImapMailFetcher) -> None:
    fetcher.folder_state("INBOX")

    started = time.monotonic()
    assert fetcher.wait_for_new("INBOX", 0.5) is False
    assert time.monotonic() - started >= 0.5


def test_polling_mode_detects_new_mail(
    server: DovecotServer, user: str, make_fetcher: Callable[..., ImapMailFetcher]
) -> None:
    fetcher = make_fetcher(idle=False)
    fetcher.folder_state("INBOX")
    assert fetcher.wait_for_new("INBOX", 0.2) is False

    server.append(user, "INBOX", [_mail(1)])

    assert fetcher.wait_for_new("INBOX", WAIT_LIMIT) is True
    # The new state is the baseline now: nothing more is new.
    assert fetcher.wait_for_new("INBOX", 0.2) is False


def test_interrupt_ends_an_idle_wait_early(
    fetcher: ImapMailFetcher, idle_started: _IdleStarted
) -> None:
    fetcher.folder_state("INBOX")

    def interrupt() -> None:
        idle_started.wait_for(1)
        fetcher.interrupt()

    thread, errors = _in_thread(interrupt)
    started = time.monotonic()
    woke = fetcher.wait_for_new("INBOX", WAIT_LIMIT)
    elapsed = time.monotonic() - started
    thread.join(WAIT_LIMIT)

    assert errors == []
    assert woke is False
    assert elapsed < WAIT_LIMIT / 2


def test_interrupt_before_a_polling_wait_ends_it_at_once(
    make_fetcher: Callable[..., ImapMailFetcher],
) -> None:
    fetcher = make_fetcher(idle=False)
    fetcher.folder_state("INBOX")

    fetcher.interrupt()
    started = time.monotonic()

    assert fetcher.wait_for_new("INBOX", WAIT_LIMIT) is False
    assert time.monotonic() - started < WAIT_LIMIT / 2
    # The interrupt is used up: the next wait waits again.
    assert fetcher.wait_for_new("INBOX", 0.2) is False


# -- dropped connections ------------------------------------------------------------------


def test_next_call_reconnects_after_the_server_drops_the_connection(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher
) -> None:
    uids = server.append(user, "INBOX", [_mail(1)])
    assert len(fetcher.fetch_after("INBOX", 0, 10)) == 1

    server.kill_connections(user)
    server.append(user, "INBOX", [_mail(2)])

    fetched = fetcher.fetch_after("INBOX", uids[0], 10)
    assert [m.raw for m in fetched] == [_mail(2)]


def test_fetcher_reconnects_after_a_server_restart(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher
) -> None:
    server.append(user, "INBOX", [_mail(1)])
    state = fetcher.folder_state("INBOX")

    server.restart()

    assert fetcher.folder_state("INBOX") == state


def test_idle_reconnects_when_the_connection_drops_while_waiting(
    server: DovecotServer,
    user: str,
    fetcher: ImapMailFetcher,
    idle_started: _IdleStarted,
) -> None:
    fetcher.folder_state("INBOX")

    def drop_then_deliver() -> None:
        idle_started.wait_for(1)
        server.kill_connections(user)
        idle_started.wait_for(2)
        server.append(user, "INBOX", [_mail(1)])

    thread, errors = _in_thread(drop_then_deliver)
    woke = fetcher.wait_for_new("INBOX", WAIT_LIMIT)
    thread.join(WAIT_LIMIT)

    assert errors == []
    assert woke is True


def test_unreachable_server_raises_mail_fetch_error_after_bounded_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    fetcher = ImapMailFetcher(
        "127.0.0.1",
        port,
        "desk",
        "secret",
        ssl=False,
        timeout=2,
        max_attempts=3,
        backoff_initial=0.01,
    )
    with caplog.at_level(logging.WARNING, logger="support.adapters.imap"):
        with pytest.raises(MailFetchError, match=f"127.0.0.1:{port}.*after 3 attempts"):
            fetcher.folder_state("INBOX")
    assert len([r for r in caplog.records if "reconnecting" in r.getMessage()]) == 2


def test_wrong_password_raises_mail_fetch_error_without_the_password(
    server: DovecotServer, user: str
) -> None:
    password = "wrong-" + server.password(user)
    fetcher = ImapMailFetcher(server.host, server.port, user, password, ssl=False)

    with pytest.raises(MailFetchError) as caught:
        fetcher.folder_state("INBOX")

    message = str(caught.value)
    assert f"{server.host}:{server.port}" in message
    assert "login" in message.lower()
    assert password not in message
    assert server.password(user) not in message
    assert caught.value.__cause__ is None


# -- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server() -> Iterator[DovecotServer]:
    """Start a second server with a self-signed certificate, for IMAPS and STARTTLS."""
    with DovecotServer(tls=True) as dovecot:
        yield dovecot


def test_implicit_tls_fetches_mail_and_idles(
    tls_server: DovecotServer, idle_started: _IdleStarted
) -> None:
    user = tls_server.add_user(f"tls{next(_names)}")
    tls_server.append(user.name, "INBOX", [_mail(1)])
    with ImapMailFetcher(
        tls_server.host,
        tls_server.tls_port,
        user.name,
        user.password,
        ssl_context=tls_server.ssl_context(),
    ) as fetcher:
        assert [m.raw for m in fetcher.fetch_after("INBOX", 0, 10)] == [_mail(1)]
        fetcher.folder_state("INBOX")

        def deliver() -> None:
            idle_started.wait_for(1)
            tls_server.append(user.name, "INBOX", [_mail(2)])

        thread, errors = _in_thread(deliver)
        woke = fetcher.wait_for_new("INBOX", WAIT_LIMIT)
        thread.join(WAIT_LIMIT)

    assert errors == []
    assert woke is True


def test_starttls_fetches_mail(tls_server: DovecotServer) -> None:
    user = tls_server.add_user(f"tls{next(_names)}")
    tls_server.append(user.name, "INBOX", [_mail(1)])
    with ImapMailFetcher(
        tls_server.host,
        tls_server.port,
        user.name,
        user.password,
        ssl=False,
        starttls=True,
        ssl_context=tls_server.ssl_context(),
    ) as fetcher:
        assert [m.raw for m in fetcher.fetch_after("INBOX", 0, 10)] == [_mail(1)]


def test_untrusted_certificate_raises_mail_fetch_error_without_retrying(
    tls_server: DovecotServer, caplog: pytest.LogCaptureFixture
) -> None:
    user = tls_server.add_user(f"tls{next(_names)}")
    # The default context trusts the system CAs only, not the self-signed certificate.
    fetcher = ImapMailFetcher(tls_server.host, tls_server.tls_port, user.name, user.password)

    with caplog.at_level(logging.WARNING, logger="support.adapters.imap"):
        with pytest.raises(MailFetchError, match="certificate .* not trusted"):
            fetcher.folder_state("INBOX")
    assert not [r for r in caplog.records if "reconnecting" in r.getMessage()]


# -- UIDVALIDITY --------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["INBOX", "Archive"])
def test_recreate_folder_changes_uidvalidity(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher, folder: str
) -> None:
    server.append(user, folder, [_mail(1), _mail(2)])
    before = fetcher.folder_state(folder)
    assert len(fetcher.fetch_after(folder, 0, 10)) == 2

    new_uidvalidity = server.recreate_folder(user, folder)

    # A cursor of the old folder must not be used on the new one, for reading or flagging.
    with pytest.raises(UidValidityChangedError, match=str(before.uidvalidity)):
        fetcher.fetch_after(folder, 1, 10)
    with pytest.raises(UidValidityChangedError):
        fetcher.mark_processed(folder, [1])
    after = fetcher.folder_state(folder)
    assert after.uidvalidity == new_uidvalidity != before.uidvalidity
    assert [m.raw for m in fetcher.fetch_after(folder, 0, 10)] == [_mail(1), _mail(2)]
    assert fetcher.wait_for_new(folder, 0.2) is False


def test_wait_for_new_reports_a_recreated_folder(
    server: DovecotServer, user: str, make_fetcher: Callable[..., ImapMailFetcher]
) -> None:
    server.append(user, "INBOX", [_mail(1)])
    fetcher = make_fetcher(idle=False)
    fetcher.folder_state("INBOX")

    server.recreate_folder(user, "INBOX")

    assert fetcher.wait_for_new("INBOX", WAIT_LIMIT) is True


# -- volume -------------------------------------------------------------------------------


def test_two_thousand_messages_load_and_fetch_in_seconds(
    server: DovecotServer, user: str, fetcher: ImapMailFetcher
) -> None:
    mails = [_mail(n, "x" * 400) for n in range(2000)]

    started = time.monotonic()
    uids = server.append(user, "INBOX", mails)
    loaded = time.monotonic()
    fetched = []
    cursor = 0
    while batch := fetcher.fetch_after("INBOX", cursor, 500):
        fetched.extend(batch)
        cursor = batch[-1].uid
    done = time.monotonic()

    assert [m.uid for m in fetched] == uids
    assert [m.raw for m in fetched] == mails
    # Bounds far above the measured times (about 1 s each): they catch a per-message
    # round trip or a quadratic loop, not a slow machine.
    assert loaded - started < 60
    assert done - loaded < 60


# -- the harness --------------------------------------------------------------------------


def test_server_runs_mail_as_an_unprivileged_user(server: DovecotServer, user: str) -> None:
    server.append(user, "INBOX", [_mail(1)])

    owner = os.stat(server.maildir(user)).st_uid

    if os.geteuid() == 0:
        assert owner != 0
    else:
        assert owner == os.geteuid()


def test_stop_kills_dovecot_and_removes_its_directory() -> None:
    dovecot = DovecotServer()
    dovecot.start()
    pid, base = dovecot.pid, dovecot.base_dir
    assert base is not None and base.is_dir()

    dovecot.stop()

    assert not dovecot.running
    assert not base.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
