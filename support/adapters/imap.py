"""IMAP mail fetcher: reads a shared support mailbox with imapclient.

`ImapMailFetcher` implements the `MailFetcher` port. It connects lazily on the first call,
keeps one connection, and on a dropped connection (socket errors, `IMAP4.abort`, a server
BYE) reconnects with exponential backoff plus jitter, a bounded number of attempts per call.
A call that still fails, or that the server refuses, raises `MailFetchError`, whose message
names the host, port and folder but never the password (nor the user, which is often a mail
address).

The server is only read with `BODY.PEEK[]`, so fetching never sets \\Seen: other operators
reading the same mailbox in a mail client still see new mail as unread. Processed mail gets
a keyword flag (`$SupportImported` by default; \\Seen when the server takes no keywords) or
is moved to another folder.

Every call that works on messages checks the folder's UIDVALIDITY against the one
`folder_state` last reported and raises `UidValidityChangedError` on a mismatch, so a cursor
from a folder that was rebuilt on the server is never applied to the new one (which could
flag or move the wrong mail).

Logging names folders, counts and UIDs only, never message contents or addresses.

Thread-safety: a fetcher holds one IMAP connection and is not thread-safe; use one fetcher
per thread. Only `interrupt()` may be called from another thread.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import random
import re
import select
import ssl as ssl_lib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from imapclient import IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import (  # type: ignore[import-untyped]
    IMAPClientError,
    LoginError,
)

from support.adapters.ports import FetchedMail, FolderState

__all__ = [
    "ImapMailFetcher",
    "MailFetchError",
    "UidValidityChangedError",
    "choose_processed_flag",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# Messages per UID FETCH: bounds one response's size while keeping round trips few.
_FETCH_CHUNK = 100
# UIDs per STORE/MOVE/COPY command: keeps command lines far below servers' line limits.
_STORE_CHUNK = 500
# RFC 2177: clients should re-issue IDLE at least every 29 minutes.
_IDLE_RENEW = 25 * 60.0
# How long one poll inside IDLE lasts: bounds how late `interrupt()` is noticed.
_IDLE_SLICE = 1.0
_MAX_UID = 4_294_967_295
# A keyword is an IMAP atom; a system flag is a backslash and an atom.
_FLAG = re.compile(r"\\?[^\s(){%*\"\\\]\x00-\x1f\x7f]+")


class MailFetchError(RuntimeError):
    """Reading or changing mail on the IMAP server failed."""


class UidValidityChangedError(MailFetchError):
    """The folder's UIDVALIDITY changed since `folder_state`: stored cursors are void."""


class _ConnectionLostError(ConnectionError):
    """The server closed the connection while we were waiting in IDLE."""


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _changed(before: FolderState, after: FolderState) -> bool:
    # A new UIDNEXT is the sure sign of new mail; a growing EXISTS covers servers that do not
    # report UIDNEXT precisely. A shrinking EXISTS is someone else's expunge, not new mail.
    return (
        after.uidvalidity != before.uidvalidity
        or after.uidnext != before.uidnext
        or after.exists > before.exists
    )


def _announces_new_mail(response: tuple[Any, ...]) -> bool:
    # Parsed untagged IDLE responses look like (4, b"EXISTS") or (b"OK", b"Still here").
    if len(response) < 2 or not isinstance(response[0], int):
        return False
    kind = response[1]
    return kind == b"EXISTS" or (kind == b"RECENT" and response[0] > 0)


def choose_processed_flag(keyword: str, permanent_flags: Sequence[bytes]) -> str:
    """Return `keyword` when the server stores it permanently, else \\Seen."""
    allowed = {flag.lower() for flag in permanent_flags}
    wanted = keyword.encode("ascii").lower()
    if wanted in allowed or (not keyword.startswith("\\") and b"\\*" in allowed):
        return keyword
    return "\\Seen"


class ImapMailFetcher:
    """Reads new mail from one IMAP account, folder by folder (the `MailFetcher` port)."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        ssl: bool = True,
        starttls: bool = False,
        timeout: float = 30,
        processed_flag: str = "$SupportImported",
        move_to: str | None = None,
        idle: bool = True,
        ssl_context: ssl_lib.SSLContext | None = None,
        max_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        sent_folder: str = "Sent",
    ) -> None:
        """Configure the fetcher; nothing connects until the first call."""
        if ssl and starttls:
            raise ValueError("use either ssl (implicit TLS) or starttls, not both")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if not (processed_flag.isascii() and _FLAG.fullmatch(processed_flag)):
            raise ValueError(f"processed_flag is not a valid IMAP flag: {processed_flag!r}")
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._ssl = ssl
        self._starttls = starttls
        self._timeout = timeout
        self._processed_flag = processed_flag
        self._move_to = move_to
        self._idle = idle
        self._ssl_context = ssl_context
        self._max_attempts = max_attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._sent_folder = sent_folder
        self._client: Any = None
        self._selected: str | None = None
        self._selected_flags: tuple[bytes, ...] = ()
        self._selected_uidvalidity = 0
        self._uidvalidity: dict[str, int] = {}
        self._baseline: dict[str, FolderState] = {}
        self._created: set[str] = set()
        self._interrupt = threading.Event()
        # Jitter needs no cryptographic strength; SystemRandom just avoids shared state.
        self._random = random.SystemRandom()
        self._warned_no_keywords = False
        self._warned_no_uidplus = False

    # -- MailFetcher -------------------------------------------------------------------

    def folder_state(self, folder: str) -> FolderState:
        """Select the folder and return its state."""
        state = self._run("select", folder, lambda client: self._select(client, folder))
        # The caller now knows this UIDVALIDITY: later calls are checked against it.
        self._uidvalidity[folder] = state.uidvalidity
        self._baseline[folder] = state
        return state

    def fetch_after(self, folder: str, last_uid: int, limit: int) -> list[FetchedMail]:
        """Return up to `limit` messages with UID greater than `last_uid`, in UID order."""
        if last_uid < 0:
            raise ValueError(f"last_uid must be >= 0, got {last_uid}")
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        if limit == 0 or last_uid >= _MAX_UID:
            return []

        def fetch(client: Any) -> list[FetchedMail]:
            self._ensure_selected(client, folder)
            found = client.search(["UID", f"{last_uid + 1}:*"])
            # "N:*" always matches the highest UID, even when it is below N: filter.
            uids = sorted(int(uid) for uid in found if int(uid) > last_uid)[:limit]
            mails: list[FetchedMail] = []
            for chunk in _chunks(uids, _FETCH_CHUNK):
                # BODY.PEEK[] leaves \Seen alone; the response still calls the item BODY[].
                data = client.fetch(chunk, ["BODY.PEEK[]"])
                for uid in chunk:
                    raw = data.get(uid, {}).get(b"BODY[]")
                    # Missing: expunged between SEARCH and FETCH by another client.
                    if isinstance(raw, bytes):
                        mails.append(FetchedMail(uid=uid, raw=raw))
            return mails

        mails = self._run("fetch", folder, fetch)
        if mails:
            log.debug(
                "imap fetched messages",
                extra={
                    "folder": folder,
                    "count": len(mails),
                    "first_uid": mails[0].uid,
                    "last_uid": mails[-1].uid,
                },
            )
        return mails

    def mark_processed(self, folder: str, uids: Sequence[int]) -> None:
        """Flag (or move, as configured) messages that are committed here."""
        wanted = sorted({int(uid) for uid in uids})
        if not wanted:
            return
        if wanted[0] < 1:
            raise ValueError("UIDs are positive integers")

        def mark(client: Any) -> None:
            self._ensure_selected(client, folder)
            if self._move_to is None:
                self._flag(client, wanted)
            else:
                self._move(client, folder, self._move_to, wanted)

        self._run("move" if self._move_to else "flag", folder, mark)
        log.debug(
            "imap marked messages processed",
            extra={
                "folder": folder,
                "count": len(wanted),
                "first_uid": wanted[0],
                "last_uid": wanted[-1],
                "moved": self._move_to is not None,
            },
        )

    def append_sent(self, raw: bytes, *, message_id: str) -> bool:
        """Append a sent message to the Sent folder unless its Message-ID is already there."""
        folder = self._sent_folder

        def append(client: Any) -> bool:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.select_folder(folder, readonly=True)
            self._selected = None  # the fetch folders are selected again when next used
            if client.search(["HEADER", "Message-ID", message_id]):
                return False
            client.append(folder, raw, flags=[b"\\Seen"])
            return True

        return self._run("append", folder, append)

    def wait_for_new(self, folder: str, timeout: float) -> bool:
        """Block until the folder may hold new mail (IDLE, or a poll) or the timeout passes."""
        if timeout < 0:
            raise ValueError(f"timeout must be >= 0, got {timeout}")
        deadline = time.monotonic() + timeout
        before = self._baseline.get(folder)
        now = self._run("check", folder, lambda client: self._select(client, folder))
        self._baseline[folder] = now
        # Without a baseline we cannot tell what is new: let the caller look.
        if before is None or _changed(before, now):
            return True
        if self._consume_interrupt() or timeout == 0:
            return False
        if self._idle and self._run("check", folder, self._supports_idle):
            self._run("idle", folder, lambda client: self._idle_until(client, folder, deadline))
        else:
            self._interrupt.wait(max(0.0, deadline - time.monotonic()))
        if self._consume_interrupt():
            return False
        # Compare with the state before waiting: whatever IDLE said, and even if the
        # connection dropped while waiting, this is what decides.
        after = self._run("check", folder, lambda client: self._select(client, folder))
        self._baseline[folder] = after
        return _changed(now, after)

    def close(self) -> None:
        """Log out and drop the connection."""
        client, self._client = self._client, None
        self._selected = None
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # already broken: logging out is a courtesy
            with contextlib.suppress(Exception):
                client.shutdown()

    # -- extras ------------------------------------------------------------------------

    def interrupt(self) -> None:
        """Wake a `wait_for_new` or a reconnect backoff early (safe from any thread)."""
        self._interrupt.set()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- connection and retries --------------------------------------------------------

    def _where(self, folder: str | None) -> str:
        where = f"{self._host}:{self._port}"
        return where if folder is None else f"{where}, folder {folder!r}"

    def _scrub(self, text: str) -> str:
        # Server messages never echo the password, but a proxy's might: be sure.
        return text.replace(self._password, "***") if self._password else text

    def _connect(self) -> Any:
        context = self._ssl_context
        if context is None and (self._ssl or self._starttls):
            context = ssl_lib.create_default_context()
        client = IMAPClient(
            self._host,
            self._port,
            ssl=self._ssl,
            ssl_context=context,
            timeout=self._timeout,
        )
        try:
            if self._starttls:
                client.starttls(context)
            client.login(self._username, self._password)
        except LoginError as exc:
            with contextlib.suppress(Exception):
                client.shutdown()
            # imapclient turns every error during LOGIN into LoginError, a dropped
            # connection too: that one is worth a retry, a refused login is not.
            cause = exc.__context__
            if isinstance(cause, OSError | imaplib.IMAP4.abort):
                raise cause from None
            raise
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        log.info("imap connected", extra={"host": self._host, "port": self._port})
        return client

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._selected = None
        self._created.clear()
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()

    def _backoff(self, failures: int) -> float:
        base = min(self._backoff_max, self._backoff_initial * 2.0 ** (failures - 1))
        # Jitter spreads the reconnects of several workers after a server restart.
        return base * self._random.uniform(0.5, 1.0)

    def _run(self, action: str, folder: str | None, op: Callable[[Any], _T]) -> _T:
        failures = 0
        for attempt in range(1, self._max_attempts + 1):
            reused = self._client is not None
            try:
                if self._client is None:
                    self._client = self._connect()
                return op(self._client)
            except MailFetchError:
                raise
            except imaplib.IMAP4.readonly as exc:
                # Subclass of abort, but not a connection problem: retrying cannot help.
                raise MailFetchError(
                    f"IMAP {action} failed on {self._where(folder)}: folder is read-only"
                ) from exc
            except ssl_lib.SSLCertVerificationError as exc:
                # An OSError, but a wrong certificate does not get better by retrying.
                self._drop()
                raise MailFetchError(
                    f"IMAP TLS certificate of {self._where(None)} not trusted: {exc.verify_message}"
                ) from None
            except (OSError, imaplib.IMAP4.abort) as exc:
                self._drop()
                if attempt == self._max_attempts:
                    raise MailFetchError(
                        f"IMAP {action} failed on {self._where(folder)} after {attempt} "
                        f"attempts: {type(exc).__name__}: {self._scrub(str(exc))}"
                    ) from None
                # A connection that worked before probably just went stale (server
                # restart, idle timeout): reconnect at once; back off only when the
                # server itself is unreachable.
                delay = 0.0 if reused and failures == 0 else self._backoff(failures + 1)
                failures += 1
                log.warning(
                    "imap connection lost; reconnecting",
                    extra={
                        "host": self._host,
                        "port": self._port,
                        "folder": folder,
                        "attempt": attempt,
                        "delay_s": round(delay, 3),
                        "error": type(exc).__name__,
                    },
                )
                if delay and self._interrupt.wait(delay):
                    self._interrupt.clear()
                    raise MailFetchError(
                        f"IMAP {action} on {self._where(folder)} interrupted while reconnecting"
                    ) from None
            except LoginError as exc:
                self._drop()
                raise MailFetchError(
                    f"IMAP login to {self._where(None)} failed: {self._scrub(str(exc))}"
                ) from None
            except IMAPClientError as exc:
                raise MailFetchError(
                    f"IMAP {action} failed on {self._where(folder)}: {self._scrub(str(exc))}"
                ) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _consume_interrupt(self) -> bool:
        if self._interrupt.is_set():
            self._interrupt.clear()
            return True
        return False

    # -- folder operations -------------------------------------------------------------

    def _select(self, client: Any, folder: str) -> FolderState:
        info = client.select_folder(folder)
        self._selected = folder
        flags = info.get(b"PERMANENTFLAGS")
        # Without PERMANENTFLAGS every flag in FLAGS is permanent (RFC 3501 7.1).
        self._selected_flags = tuple(flags if flags is not None else info.get(b"FLAGS", ()))
        uidnext = info.get(b"UIDNEXT")
        if uidnext is None:
            # Servers must send UIDNEXT on SELECT; ask for it when one does not.
            status = client.folder_status(folder, [b"UIDNEXT"])
            uidnext = status[b"UIDNEXT"]
        state = FolderState(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(uidnext),
            exists=int(info[b"EXISTS"]),
        )
        self._selected_uidvalidity = state.uidvalidity
        return state

    def _ensure_selected(self, client: Any, folder: str) -> None:
        if self._selected != folder:
            self._select(client, folder)
        # Also when already selected: wait_for_new may have selected a rebuilt folder.
        expected = self._uidvalidity.setdefault(folder, self._selected_uidvalidity)
        if self._selected_uidvalidity != expected:
            raise UidValidityChangedError(
                f"UIDVALIDITY of {self._where(folder)} changed from {expected} to "
                f"{self._selected_uidvalidity}; call folder_state() and resynchronise"
            )

    def _supports_idle(self, client: Any) -> bool:
        return bool(client.has_capability("IDLE"))

    def _flag(self, client: Any, uids: list[int]) -> None:
        flag = choose_processed_flag(self._processed_flag, self._selected_flags)
        if flag != self._processed_flag and not self._warned_no_keywords:
            self._warned_no_keywords = True
            log.warning(
                "imap server does not store keywords; marking processed mail \\Seen instead",
                extra={"host": self._host, "folder": self._selected},
            )
        for chunk in _chunks(uids, _STORE_CHUNK):
            client.add_flags(chunk, [flag], silent=True)

    def _move(self, client: Any, folder: str, target: str, uids: list[int]) -> None:
        if target not in self._created:
            if not client.folder_exists(target):
                client.create_folder(target)
            self._created.add(target)
        if client.has_capability("MOVE"):
            for chunk in _chunks(uids, _STORE_CHUNK):
                client.move(chunk, target)
            return
        uidplus = client.has_capability("UIDPLUS")
        for chunk in _chunks(uids, _STORE_CHUNK):
            client.copy(chunk, target)
            client.add_flags(chunk, [b"\\Deleted"], silent=True)
            if uidplus:
                # UID EXPUNGE removes only these messages; a plain EXPUNGE would also
                # remove whatever other operators flagged \Deleted.
                client.uid_expunge(chunk)
        if not uidplus and not self._warned_no_uidplus:
            self._warned_no_uidplus = True
            log.warning(
                "imap server lacks MOVE and UIDPLUS; moved mail stays flagged \\Deleted",
                extra={"host": self._host, "folder": folder},
            )

    def _idle_until(self, client: Any, folder: str, deadline: float) -> bool:
        """Wait in IDLE until the server announces new mail; return whether it did."""
        if self._selected != folder:
            self._select(client, folder)
        while True:
            renew_at = min(deadline, time.monotonic() + _IDLE_RENEW)
            client.idle()
            log.debug("imap idle started", extra={"folder": folder})
            try:
                announced = self._idle_poll(client, renew_at)
            finally:
                # DONE must end IDLE before any other command, even on the way out; on a
                # dead connection this raises and _run reconnects.
                _, responses = client.idle_done()
            if announced or any(_announces_new_mail(r) for r in responses):
                return True
            if time.monotonic() >= deadline or self._interrupt.is_set():
                return False

    def _idle_poll(self, client: Any, until: float) -> bool:
        """Poll an IDLE connection until `until`; True on new mail, False to end IDLE."""
        sock = client.socket()
        while True:
            remaining = until - time.monotonic()
            if remaining <= 0 or self._interrupt.is_set():
                return False
            if _has_buffered_input(client):
                # Lines already in the reader's buffer (an EXISTS that came in one packet
                # with the IDLE continuation) never make the socket readable again: end
                # IDLE so that DONE reads them.
                return False
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
            if not poller.poll(min(remaining, _IDLE_SLICE) * 1000):
                continue
            responses = client.idle_check(timeout=0)
            if not responses:
                # Readable but no line: end of stream (imapclient swallows the EOF).
                raise _ConnectionLostError("server closed the connection during IDLE")
            for response in responses:
                if response and response[0] == b"BYE":
                    raise _ConnectionLostError("server said BYE during IDLE")
            if any(_announces_new_mail(r) for r in responses):
                return True


def _has_buffered_input(client: Any) -> bool:
    """Return whether imaplib's reader holds unread bytes (never blocks)."""
    # imaplib reads through a buffered file: readline() may pull more than one line off
    # the socket, and poll() on the socket cannot see what is already buffered.
    reader = getattr(client._imap, "file", None)
    if reader is None or not hasattr(reader, "peek"):
        return False
    sock = client.socket()
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        # peek() returns buffered bytes, else what one non-blocking read gets (maybe none).
        return bool(reader.peek(1))
    except (BlockingIOError, ssl_lib.SSLWantReadError):
        return False
    finally:
        sock.settimeout(timeout)
