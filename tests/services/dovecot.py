"""Start a throwaway Dovecot IMAP server for integration tests.

Usage::

    with DovecotServer() as server:
        server.add_user("desk", "secret")
        server.append("desk", "INBOX", [raw_bytes, ...])
        fetcher = ImapMailFetcher(server.host, server.port, "desk", "secret", ssl=False)

The server runs in the foreground (`dovecot -F`) as our child process with its own config in
a fresh temporary directory: sockets, state, log, the passwd-file of users and every Maildir
live there, nothing under /etc/dovecot or /var is read or written. It listens on 127.0.0.1 on
a free port with plaintext LOGIN (loopback only, `ssl = no`) and is torn down (SIGTERM, then
SIGKILL to its process group; directory removed) by `stop()`, the context manager or, as a
last resort, an `atexit` hook. As root, a missing Dovecot is installed from Debian's
`dovecot-imapd` package.

Mail belongs to an unprivileged account (`supportmail`, created when missing): Dovecot refuses
to run mail processes as root. Run as another user, everything runs as that user. With
`tls=True` the server also offers IMAPS (`tls_port`) and STARTTLS with a self-signed
certificate that `ssl_context()` trusts.

The config is written for the installed version (`dovecot --version`): Dovecot 2.3 (Debian 12)
or the renamed settings of 2.4 (`auth_allow_cleartext`, `mail_driver`/`mail_path`, named
passdb/userdb blocks). Users live in one passwd-file each, so `add_user` works while the
server runs. `kill_connections` kicks sessions with `doveadm kick` (the server side of a
dropped connection); `restart` stops and starts the server on the same ports.

Bulk loading goes through IMAP MULTIAPPEND: one APPEND command carrying many LITERAL+
literals, so 2,000 messages cost a handful of round trips. Measured on loopback and ext4,
2,000 messages of 0.5-5 KB load in 0.2-2 s, bound by creating 2,000 files: writing the
Maildir files directly measured the same (0.15-1.3 s), so IMAP it is, which also lets Dovecot
assign UIDs in order, keep its indexes and wake IDLE sessions as a real delivery would.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from imapclient import IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import IMAPClientError  # type: ignore[import-untyped]

from tests.services.netutil import free_port, wait_until

__all__ = ["DovecotError", "DovecotServer", "MailUser", "dovecot_version", "find_dovecot"]

HOST = "127.0.0.1"
MAIL_ACCOUNT = "supportmail"
PACKAGE = "dovecot-imapd"
# Where Debian puts the binaries; /usr/sbin is not on an ordinary user's PATH.
_SEARCH_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")

_PORT_ATTEMPTS = 3
_LOG_TAIL_LINES = 40
# One APPEND command per this many messages: large enough that round trips do not matter,
# small enough that one command's literals stay a few megabytes for ordinary test mail.
_APPEND_BATCH = 500
_INSTALL_LOCK = Path(tempfile.gettempdir()) / "support-tests-dovecot-install.lock"
_PORT_IN_USE = re.compile(r"Address already in use", re.IGNORECASE)
# passwd-file fields are ':'-separated lines; keep names to what a Maildir path can hold too.
_USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]")


class DovecotError(RuntimeError):
    """The throwaway Dovecot server could not be set up, started or driven."""


class _EarlyExitError(DovecotError):
    """The dovecot master exited before it accepted an IMAP login."""


@dataclass(frozen=True)
class _Account:
    """A system account: the mail owner, or the user dovecot's own services run as."""

    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class MailUser:
    """One IMAP login of the throwaway server."""

    name: str
    password: str
    home: Path


def _find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found is not None:
        return found
    for directory in _SEARCH_DIRS:
        candidate = Path(directory) / name
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _apt_install() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Parallel test workers may all find dovecot missing; serialise them so only one runs
    # apt while the others wait and then find the binaries already installed.
    with open(_INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _find_binary("dovecot") is not None and _find_binary("doveadm") is not None:
            return
        commands = [
            ["apt-get", "update"],
            [
                "apt-get",
                "install",
                "-y",
                "--no-install-recommends",
                "-o",
                "DPkg::Lock::Timeout=300",
                PACKAGE,
            ],
        ]
        for command in commands:
            result = subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                output = (result.stdout + result.stderr).strip().splitlines()
                tail = "\n".join(output[-_LOG_TAIL_LINES:])
                raise DovecotError(
                    f"`{' '.join(command)}` failed with exit code {result.returncode}:\n{tail}"
                )


def find_dovecot(*, install: bool = True) -> tuple[str, str]:
    """Return the paths of `dovecot` and `doveadm`, installing the Debian package as root."""
    dovecot, doveadm = _find_binary("dovecot"), _find_binary("doveadm")
    if dovecot is not None and doveadm is not None:
        return dovecot, doveadm
    if not install or os.geteuid() != 0:
        raise DovecotError(
            "Dovecot (dovecot, doveadm) not found; install it, e.g. "
            f"`sudo apt-get install {PACKAGE}`, or run the tests as root to install it "
            "automatically"
        )
    if shutil.which("apt-get") is None:
        raise DovecotError("Dovecot not found and apt-get is unavailable")
    _apt_install()
    dovecot, doveadm = _find_binary("dovecot"), _find_binary("doveadm")
    if dovecot is None or doveadm is None:
        raise DovecotError(f"installed {PACKAGE} but still found no dovecot/doveadm binaries")
    return dovecot, doveadm


def dovecot_version(binary: str) -> tuple[int, int]:
    """Return the (major, minor) version `dovecot --version` reports."""
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    # e.g. "2.3.19.1 (9b53102964)" or "2.4.1-4 (7d8c0e5759)"
    match = re.match(r"\s*(\d+)\.(\d+)", result.stdout)
    if result.returncode != 0 or match is None:
        raise DovecotError(
            f"`{binary} --version` failed or printed no version: {result.stdout!r} "
            f"{result.stderr!r}"
        )
    return int(match.group(1)), int(match.group(2))


def _account(name: str) -> _Account:
    entry = pwd.getpwnam(name)
    return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _mail_account() -> _Account:
    """Return the unprivileged owner of all mail, creating a system user if needed."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
    with contextlib.suppress(KeyError):
        return _account(MAIL_ACCOUNT)
    result = subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            MAIL_ACCOUNT,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        # Look up even after a failed useradd: a parallel worker may have created it first.
        return _account(MAIL_ACCOUNT)
    except KeyError:
        raise DovecotError(
            f"could not create system user {MAIL_ACCOUNT!r}: {result.stderr.strip()}"
        ) from None


def _service_accounts() -> tuple[str, str]:
    """Return (default_internal_user, default_login_user) for this run."""
    if os.geteuid() != 0:
        # Without root nothing can switch users: every service runs as ourselves.
        name = pwd.getpwuid(os.geteuid()).pw_name
        return name, name
    names = []
    for wanted in ("dovecot", "dovenull"):
        try:
            names.append(_account(wanted).name)
        except KeyError:
            raise DovecotError(
                f"system user {wanted!r} is missing; the {PACKAGE} package creates it"
            ) from None
    return names[0], names[1]


def _traversable_tmp_root() -> str | None:
    """Return a temp root the unprivileged accounts can reach, or None for the default."""
    default = Path(tempfile.gettempdir()).resolve()
    # TMPDIR may point inside /root; dovecot's users must be able to traverse every parent.
    for directory in (default, *default.parents):
        if not os.stat(directory).st_mode & 0o001:
            return "/tmp"
    return None


def _uid_set(text: bytes) -> list[int]:
    """Expand an IMAP UID set such as b"3:5,9" into [3, 4, 5, 9]."""
    uids: list[int] = []
    for part in text.split(b","):
        first, _, last = part.partition(b":")
        start, end = int(first), int(last or first)
        uids.extend(range(min(start, end), max(start, end) + 1))
    return uids


class DovecotServer:
    """A throwaway Dovecot IMAP server on 127.0.0.1 with passwd-file users and Maildir mail."""

    host: str = HOST

    def __init__(
        self, *, tls: bool = False, startup_timeout: float = 30.0, stop_timeout: float = 15.0
    ) -> None:
        """Prepare a server (with `tls`, also IMAPS and STARTTLS); nothing runs yet."""
        self.tls = tls
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.base_dir: Path | None = None
        self.version: tuple[int, int] | None = None
        self._dovecot: str | None = None
        self._doveadm: str | None = None
        self._port: int | None = None
        self._tls_port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._out_file: IO[bytes] | None = None
        self._mail: _Account | None = None
        self._users: dict[str, MailUser] = {}
        self._owner_pid = os.getpid()

    # -- public attributes -------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Return whether the dovecot master process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def port(self) -> int:
        """Return the IMAP port on 127.0.0.1."""
        if self._port is None or self._proc is None:
            raise DovecotError("DovecotServer is not started")
        return self._port

    @property
    def tls_port(self) -> int:
        """Return the IMAPS (implicit TLS) port on 127.0.0.1; needs `tls=True`."""
        if self._tls_port is None or self._proc is None:
            raise DovecotError("DovecotServer is not started with tls=True")
        return self._tls_port

    @property
    def certificate_path(self) -> Path:
        """Return the server's self-signed certificate (PEM), made when `tls=True`."""
        return self._base() / "tls" / "cert.pem"

    def ssl_context(self) -> ssl.SSLContext:
        """Return a client SSLContext that trusts this server's certificate."""
        return ssl.create_default_context(cafile=str(self.certificate_path))

    @property
    def pid(self) -> int:
        """Return the PID of the dovecot master process."""
        if self._proc is None:
            raise DovecotError("DovecotServer is not started")
        return self._proc.pid

    @property
    def config_path(self) -> Path:
        """Return the generated dovecot.conf."""
        return self._base() / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        """Return the server log file (dovecot's log_path)."""
        return self._base() / "dovecot.log"

    @property
    def users(self) -> dict[str, MailUser]:
        """Return the users added so far, by name."""
        return dict(self._users)

    def password(self, user: str) -> str:
        """Return the password of `user`."""
        return self._user(user).password

    def maildir(self, user: str) -> Path:
        """Return the root Maildir (INBOX) of `user`."""
        return self._user(user).home / "Maildir"

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Write a fresh config into a temp dir and start dovecot in the foreground."""
        if self._proc is not None:
            raise DovecotError("DovecotServer is already started")
        self._dovecot, self._doveadm = find_dovecot()
        self.version = dovecot_version(self._dovecot)
        self._mail = _mail_account()
        self.base_dir = Path(tempfile.mkdtemp(prefix="support-dovecot-", dir=_tmp_root()))
        # Register before anything can fail so even a half-started server gets cleaned up.
        atexit.register(self._atexit_stop)
        try:
            self._prepare_dirs()
            # The readiness probe logs in for real, so it needs a user of its own.
            self.add_user("probe", secrets.token_hex(16))
            if self.tls:
                self._make_certificate()
            self._launch_with_port_retries()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop dovecot (SIGTERM, then SIGKILL) and remove its temp directory."""
        atexit.unregister(self._atexit_stop)
        self._halt()
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
        self._port = None
        self._tls_port = None
        self._users.clear()

    def restart(self) -> None:
        """Stop and start dovecot on the same ports, keeping users and mail."""
        port, tls_port = self.port, self._tls_port
        self._halt()
        self._launch(port, tls_port)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """Return the last `lines` lines of the server log and the master's own output."""
        chunks = []
        for path in (self._base() / "master.out", self.log_path):
            with contextlib.suppress(OSError):
                chunks.extend(path.read_text(errors="replace").splitlines())
        return "\n".join(chunks[-lines:]) if chunks else "<no server log>"

    # -- users and mail ----------------------------------------------------------------

    def add_user(self, name: str, password: str | None = None) -> MailUser:
        """Add an IMAP user (live: dovecot re-reads its passwd-file) and return it."""
        if not _USER_NAME.fullmatch(name):
            raise ValueError(f"user name must match {_USER_NAME.pattern}, got {name!r}")
        if name in self._users:
            raise DovecotError(f"user {name!r} already exists")
        password = secrets.token_hex(16) if password is None else password
        if any(ch in password for ch in ":\r\n\0"):
            raise ValueError("password must not contain ':', NUL or line breaks")
        assert self._mail is not None
        home = self._base() / "mail" / name
        home.mkdir(mode=0o700)
        os.chown(home, self._mail.uid, self._mail.gid)
        user = MailUser(name, password, home)
        self._write_passwd_file(user)
        self._users[name] = user
        return user

    def connect(self, user: str) -> IMAPClient:
        """Return a logged-in plaintext IMAP client for `user`; the caller logs out."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        try:
            client.login(user, self.password(user))
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def append(self, user: str, folder: str, messages: Iterable[bytes]) -> list[int]:
        """Append raw messages to `folder` (created if missing) and return their UIDs in order."""
        entries: list[dict[str, Any]] = [{"msg": raw} for raw in messages]
        with self._session(user) as client:
            return self._append_entries(client, folder, entries)

    def create_folder(self, user: str, folder: str) -> None:
        """Create `folder` for `user` unless it exists."""
        with self._session(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)

    def uids(self, user: str, folder: str) -> list[int]:
        """Return the UIDs in `folder`, ascending."""
        with self._session(user) as client:
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def flags(self, user: str, folder: str) -> dict[int, tuple[bytes, ...]]:
        """Return each message's flags in `folder` (without \\Recent), by UID."""
        with self._session(user) as client:
            client.select_folder(folder, readonly=True)
            fetched = client.fetch(client.search("ALL"), ["FLAGS"])
            # \Recent is per session: it only says who looked first.
            return {
                uid: tuple(f for f in data[b"FLAGS"] if f.lower() != b"\\recent")
                for uid, data in fetched.items()
            }

    def uidvalidity(self, user: str, folder: str) -> int:
        """Return the UIDVALIDITY of `folder`."""
        with self._session(user) as client:
            status = client.folder_status(folder, [b"UIDVALIDITY"])
            return int(status[b"UIDVALIDITY"])

    def recreate_folder(self, user: str, folder: str) -> int:
        """Delete and recreate `folder` with the same mails; return its new UIDVALIDITY.

        The mails keep their flags and internal dates but get new UIDs from 1, as when a
        mailbox is rebuilt on the server; open sessions on the folder are disconnected.
        """
        with self._session(user) as client:
            old = int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])
            client.select_folder(folder, readonly=True)
            client.normalise_times = False
            fetched = client.fetch(client.search("ALL"), ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
            entries = [_append_entry(fetched[uid]) for uid in sorted(fetched)]
            client.unselect_folder()
        self.kill_connections(user)
        if folder.upper() == "INBOX":
            # IMAP cannot DELETE INBOX; rebuilding its Maildir index gives the same result.
            self._reset_maildir(self.maildir(user))
        else:
            with self._session(user) as client:
                client.delete_folder(folder)
                client.create_folder(folder)
        with self._session(user) as client:
            new = int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])
            if new == old:
                raise DovecotError(f"recreating {folder!r} kept UIDVALIDITY {old}")
            if entries:
                self._append_entries(client, folder, entries)
        return new

    def kill_connections(self, user: str | None = None, *, timeout: float = 10.0) -> None:
        """Disconnect every IMAP session (of `user`, or all) as a server-side drop would."""
        mask = "*" if user is None else user
        kicked = self._session_pids(user)
        result = self._doveadm_run("kick", mask)
        output = (result.stdout + result.stderr).strip()
        # doveadm kick exits non-zero when nobody was connected (nothing to kick).
        if result.returncode != 0 and "no users" not in output.lower():
            raise DovecotError(f"doveadm kick {mask} failed ({result.returncode}): {output}")
        # kick only signals the sessions' processes: wait until those are gone. Clients may
        # already have reconnected, so new sessions do not count.
        wait_until(
            lambda: not kicked & self._session_pids(user),
            timeout,
            what=f"kicked IMAP sessions of {mask} to end",
        )

    # -- internals ---------------------------------------------------------------------

    def _session_pids(self, user: str | None) -> set[int]:
        """Return the PIDs of the IMAP processes serving `user`, or everyone."""
        result = self._doveadm_run("who", *([] if user is None else [user]))
        if result.returncode != 0:
            raise DovecotError(f"doveadm who failed ({result.returncode}): {result.stderr}")
        pids: set[int] = set()
        # Rows look like "desk1   2 imap  (4711 4712) (127.0.0.1)" after a header line.
        for row in result.stdout.splitlines()[1:]:
            match = re.search(r"\(([\d ]+)\)", row)
            if match:
                pids.update(int(pid) for pid in match.group(1).split())
        return pids

    def _doveadm_run(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self._doveadm is not None
        return subprocess.run(
            [self._doveadm, "-c", str(self.config_path), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )

    def _base(self) -> Path:
        if self.base_dir is None:
            raise DovecotError("DovecotServer is not started")
        return self.base_dir

    def _user(self, name: str) -> MailUser:
        try:
            return self._users[name]
        except KeyError:
            raise DovecotError(f"no such user {name!r}") from None

    @contextlib.contextmanager
    def _session(self, user: str) -> Iterator[Any]:
        client = self.connect(user)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def _append_entries(
        self, client: IMAPClient, folder: str, entries: Sequence[dict[str, Any]]
    ) -> list[int]:
        if folder.upper() != "INBOX" and not client.folder_exists(folder):
            client.create_folder(folder)
        uids: list[int] = []
        for start in range(0, len(entries), _APPEND_BATCH):
            batch = entries[start : start + _APPEND_BATCH]
            # imapclient's multiappend returns imaplib's (typ, data) without checking it.
            typ, data = client.multiappend(folder, batch)
            text = data[0] if data and isinstance(data[0], bytes) else b""
            if typ != "OK":
                raise DovecotError(f"APPEND to {folder!r} failed: {typ} {text!r}")
            match = _APPENDUID.search(text)
            if match is None:
                raise DovecotError(f"APPEND to {folder!r} returned no APPENDUID: {text!r}")
            uids.extend(_uid_set(match.group(2)))
        return uids

    def _reset_maildir(self, maildir: Path) -> None:
        # Dovecot keeps UIDs and UIDVALIDITY in dovecot-uidlist and its indexes (the list
        # index caches them too); without them it rebuilds the folder with the next value
        # from dovecot-uidvalidity, which must stay. The mails are appended back afterwards,
        # so the old files go too.
        for sub in ("cur", "new", "tmp"):
            for path in (maildir / sub).iterdir():
                path.unlink(missing_ok=True)
        for pattern in ("dovecot-uidlist", "dovecot.index*", "dovecot.list.index*"):
            for path in maildir.glob(pattern):
                path.unlink(missing_ok=True)

    def _prepare_dirs(self) -> None:
        base = self._base()
        assert self._mail is not None
        # Dovecot's unprivileged services and the mail owner must traverse the base dir.
        base.chmod(0o755)
        (base / "state").mkdir(mode=0o755)
        (base / "mail").mkdir(mode=0o755)
        (base / "passwd").mkdir(mode=0o755)

    def _write_passwd_file(self, user: MailUser) -> None:
        assert self._mail is not None
        # One passwd-file per user: dovecot re-reads a changed file at most once a second,
        # so a user added to a shared file could stay unknown for a second; a file it never
        # opened before is read at the first login.
        uid, gid = self._mail.uid, self._mail.gid
        line = f"{user.name}:{{PLAIN}}{user.password}:{uid}:{gid}::{user.home}::\n"
        path = self._base() / "passwd" / user.name
        staging = path.with_name(f".{user.name}.new")
        staging.write_text(line)
        staging.chmod(0o600)
        if os.geteuid() == 0:
            # The auth service reads the file as default_internal_user, not as root.
            internal = _account(_service_accounts()[0])
            os.chown(staging, internal.uid, internal.gid)
        # Rename into place so the auth service never reads a half-written file.
        os.replace(staging, path)

    def _make_certificate(self) -> None:
        directory = self._base() / "tls"
        directory.mkdir(mode=0o700)
        # openssl comes with dovecot-core (a dependency), so it is there whenever dovecot is.
        openssl = _find_binary("openssl")
        if openssl is None:
            raise DovecotError("openssl is needed for tls=True but was not found")
        result = subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                f"/CN={HOST}",
                "-addext",
                f"subjectAltName=IP:{HOST},DNS:localhost",
                "-keyout",
                str(directory / "key.pem"),
                "-out",
                str(self.certificate_path),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise DovecotError(f"openssl could not make a certificate: {result.stderr.strip()}")

    def _tls_config(self, tls_port: int | None) -> str:
        assert self.version is not None
        if tls_port is None:
            return "ssl = no\n"
        cert, key = self.certificate_path, self._base() / "tls" / "key.pem"
        if self.version >= (2, 4):
            files = f"ssl_server_cert_file = {cert}\nssl_server_key_file = {key}\n"
        else:
            # 2.3 reads "<path" as the file's contents, as root, before dropping privileges.
            files = f"ssl_cert = <{cert}\nssl_key = <{key}\n"
        return f"ssl = yes\n{files}"

    def _internal_group_setting(self) -> str:
        if os.geteuid() == 0:
            return ""
        # Without root the sockets cannot be given to the "dovecot" group: use our own.
        return f"default_internal_group = {grp.getgrgid(os.getegid()).gr_name}\n"

    def _config(self, port: int, tls_port: int | None) -> str:
        assert self._mail is not None and self.version is not None
        base = self._base()
        internal_user, login_user = _service_accounts()
        # user:password:uid:gid:gecos:home:shell, one file per user (see _write_passwd_file)
        users = base / "passwd" / "%u" if self.version < (2, 4) else base / "passwd" / "%{user}"
        common = f"""\
base_dir = {base / "run"}
state_dir = {base / "state"}
instance_name = support-dovecot-{secrets.token_hex(4)}
log_path = {self.log_path}
listen = {HOST}
protocols = imap
{self._tls_config(tls_port)}auth_mechanisms = plain login
# Wrong-password tests would otherwise wait two seconds per failed login.
auth_failure_delay = 0
default_internal_user = {internal_user}
default_login_user = {login_user}
{self._internal_group_setting()}first_valid_uid = {self._mail.uid}
last_valid_uid = {self._mail.uid}
first_valid_gid = {self._mail.gid}
last_valid_gid = {self._mail.gid}
# Throwaway mail: skip fsync, which only slows bulk APPENDs down.
mail_fsync = never
# IDLE is woken by inotify; when inotify is unavailable (watch limits in CI), poll often.
mailbox_idle_check_interval = 1 secs
namespace inbox {{
  inbox = yes
  separator = /
}}
protocol imap {{
  # Tests open many sessions for one user from 127.0.0.1; the default allows ten.
  mail_max_userip_connections = 1000
}}
service imap-login {{
  # Login processes are chrooted by default, which needs root and a root-owned base_dir.
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port or 0}
  }}
}}
service anvil {{
  chroot =
  # No growing delay for every login from 127.0.0.1 after the wrong-password tests.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        if self.version >= (2, 4):
            return f"""\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
{common}
auth_allow_cleartext = yes
mail_driver = maildir
mail_path = ~/Maildir
passdb passwd-file {{
  passwd_file_path = {users}
}}
userdb passwd-file {{
  passwd_file_path = {users}
}}
"""
        return f"""\
{common}
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {users}
}}
userdb {{
  driver = passwd-file
  args = {users}
}}
"""

    def _launch_with_port_retries(self) -> None:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            port = free_port()
            tls_port = _other_free_port(port) if self.tls else None
            try:
                self._launch(port, tls_port)
                return
            except _EarlyExitError:
                # Another process may have taken the port after free_port() released it.
                if attempt == _PORT_ATTEMPTS or not _PORT_IN_USE.search(self.log_tail()):
                    raise

    def _launch(self, port: int, tls_port: int | None) -> None:
        assert self._dovecot is not None
        self.config_path.write_text(self._config(port, tls_port))
        if self._out_file is not None:
            self._out_file.close()
        # Errors before dovecot's log service is up (bad config, port taken) go to stderr;
        # append so the output of a failed port attempt stays visible for diagnosis.
        self._out_file = open(self._base() / "master.out", "ab")  # closed in _halt()
        self._port, self._tls_port = port, tls_port
        self._proc = subprocess.Popen(
            [self._dovecot, "-c", str(self.config_path), "-F"],
            stdin=subprocess.DEVNULL,
            stdout=self._out_file,
            stderr=subprocess.STDOUT,
            # Own process group: a terminal Ctrl-C must not hit dovecot behind the test
            # runner's back, and _halt() can SIGKILL the master with all its children.
            start_new_session=True,
            cwd=self._base(),
        )
        try:
            wait_until(self._accepts_logins, self.startup_timeout, what="dovecot to start")
        except _EarlyExitError:
            self._proc = None
            raise
        except TimeoutError as exc:
            raise DovecotError(f"{exc}; server log tail:\n{self.log_tail()}") from None

    def _accepts_logins(self) -> bool:
        assert self._proc is not None
        code = self._proc.poll()
        if code is not None:
            raise _EarlyExitError(
                f"dovecot exited with code {code} before accepting logins; "
                f"server log tail:\n{self.log_tail()}"
            )
        try:
            client = IMAPClient(self.host, self.port, ssl=False, timeout=2)
        except OSError:
            return False
        try:
            client.login("probe", self.password("probe"))
            client.logout()
        except (OSError, IMAPClientError):
            with contextlib.suppress(Exception):
                client.shutdown()
            return False
        return True

    def _halt(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            self._terminate(proc)
        if self._out_file is not None:
            self._out_file.close()
            self._out_file = None

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            # SIGTERM the whole group while the master is unreaped (so its PID, the group
            # id, cannot have been reused): the master stops its services and every IMAP
            # session is disconnected.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                # Hung shutdown: still unreaped, so killing the group is still safe.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=self.stop_timeout)
        # Services may outlive the master by a moment; wait until none is left writing into
        # the directory we are about to remove. A group id is not reused while the group
        # has members, so probing it can only find dovecot's own processes.
        try:
            wait_until(lambda: not _group_alive(proc.pid), self.stop_timeout, what="dovecot")
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def _atexit_stop(self) -> None:
        # Forked children inherit atexit hooks; only the process that started it may stop it.
        if os.getpid() == self._owner_pid:
            self.stop()


def _other_free_port(taken: int) -> int:
    while (port := free_port()) == taken:
        pass
    return port


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Only a process of another user can answer so: the group id was reused.
        return False
    return True


def _tmp_root() -> str | None:
    return _traversable_tmp_root() if os.geteuid() == 0 else None


def _append_entry(data: dict[bytes, Any]) -> dict[str, Any]:
    # \Recent is session state the server sets itself; APPEND refuses it.
    flags = tuple(flag for flag in data[b"FLAGS"] if flag.lower() != b"\\recent")
    date = data[b"INTERNALDATE"]
    entry: dict[str, Any] = {"msg": data[b"BODY[]"], "flags": flags}
    if isinstance(date, datetime):
        entry["date"] = date
    return entry
