"""Start a throwaway PostgreSQL server for integration tests.

Usage::

    with PostgresServer() as server:
        url = server.create_database("tickets_test")
        engine = sqlalchemy.create_engine(url)

The server lives in a fresh temporary directory, listens on 127.0.0.1 on a free port and is
torn down (process killed, directory removed) by `stop()`, the context manager or, as a last
resort, an `atexit` hook.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self
from urllib.parse import quote

import psycopg
from psycopg import sql

from tests.services.netutil import free_port, wait_until

__all__ = ["PostgresError", "PostgresServer", "find_bindir"]

REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
FALLBACK_USER = "supporttest"
SUPERUSER = "support"
HOST = "127.0.0.1"

_PORT_ATTEMPTS = 3
# C.UTF-8 gives UTF-8 character semantics but is missing on some minimal images.
_LOCALES = ("C.UTF-8", "C")
_LOG_TAIL_LINES = 40
_INSTALL_LOCK = Path(tempfile.gettempdir()) / "support-tests-postgres-install.lock"
# Messages postgres logs when another process took the port between free_port() and bind().
_PORT_IN_USE = re.compile(r"Address already in use|could not create any TCP/IP sockets")


class PostgresError(RuntimeError):
    """The throwaway PostgreSQL server could not be set up or started."""


class _EarlyExitError(PostgresError):
    """The postgres process exited before it accepted connections."""


@dataclass(frozen=True)
class _RunAs:
    """An unprivileged account to run the server as when we are root."""

    name: str
    uid: int
    gid: int


def _has_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in REQUIRED_BINARIES)


def _version_key(bindir: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin: compare versions numerically so 15 beats 9.6.
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name))


def _discover_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        candidate = Path(result.stdout.strip())
        # Debian's libpq-dev ships a pg_config whose bindir may name a server that is not
        # installed, so only trust it when the server binaries are really there.
        if result.returncode == 0 and result.stdout.strip() and _has_binaries(candidate):
            return candidate
    candidates = [
        Path(path) for path in glob.glob("/usr/lib/postgresql/*/bin") if _has_binaries(Path(path))
    ]
    if not candidates:
        return None
    return max(candidates, key=_version_key)


def _apt_install_postgresql() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Parallel test workers may all find the server missing; serialise them so only one
    # runs apt while the others wait and then find the binaries already installed.
    with open(_INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _discover_bindir() is not None:
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
                "postgresql",
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
                raise PostgresError(
                    f"`{' '.join(command)}` failed with exit code {result.returncode}:\n{tail}"
                )


def find_bindir(*, install: bool = True) -> Path:
    """Return the PostgreSQL server bin directory, installing the Debian package as root."""
    bindir = _discover_bindir()
    if bindir is not None:
        return bindir
    if not install or os.geteuid() != 0:
        raise PostgresError(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found via "
            "`pg_config --bindir` or /usr/lib/postgresql/*/bin; install them, e.g. "
            "`sudo apt-get install postgresql`, or run the tests as root to install "
            "them automatically"
        )
    if shutil.which("apt-get") is None:
        raise PostgresError("PostgreSQL server binaries not found and apt-get is unavailable")
    _apt_install_postgresql()
    bindir = _discover_bindir()
    if bindir is None:
        raise PostgresError("installed the postgresql package but still found no server binaries")
    return bindir


def _unprivileged_account() -> _RunAs:
    """Return the account to run postgres as, creating a system user if needed."""
    for name in ("postgres", FALLBACK_USER):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return _RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)
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
            FALLBACK_USER,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        # Look up even after a failed useradd: a parallel worker may have created it first.
        entry = pwd.getpwnam(FALLBACK_USER)
    except KeyError:
        raise PostgresError(
            f"could not create system user {FALLBACK_USER!r}: {result.stderr.strip()}"
        ) from None
    return _RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _traversable_tmp_root() -> str | None:
    """Return a temp root an unprivileged user can reach, or None for the default."""
    default = Path(tempfile.gettempdir()).resolve()
    # TMPDIR may point inside /root; the postgres user must be able to traverse every parent.
    for directory in (default, *default.parents):
        if not os.stat(directory).st_mode & 0o001:
            return "/tmp"
    return None


def _server_env() -> dict[str, str]:
    # Drop inherited locale and libpq settings: a locale that is not installed makes the
    # server complain, and PG* variables could redirect our own client connections.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LC_", "PG")) and key not in {"LANG", "LANGUAGE"}
    }
    env["LANG"] = "C"
    return env


class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1 with a trust/scram-configured superuser."""

    host: str = HOST
    user: str = SUPERUSER

    def __init__(self, *, startup_timeout: float = 30.0, stop_timeout: float = 15.0) -> None:
        """Prepare a server; nothing runs until `start()` or `with`."""
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        # token_hex keeps the password URL-safe without quoting surprises in DSNs.
        self.password: str = secrets.token_hex(16)
        self.bindir: Path | None = None
        self.base_dir: Path | None = None
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._run_as: _RunAs | None = None
        self._owner_pid = os.getpid()
        self._database_count = 0

    # -- public attributes -------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Return whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def port(self) -> int:
        """Return the TCP port the server listens on."""
        if self._port is None or self._proc is None:
            raise PostgresError("PostgresServer is not started")
        return self._port

    @property
    def pid(self) -> int:
        """Return the PID of the postmaster process."""
        if self._proc is None:
            raise PostgresError("PostgresServer is not started")
        return self._proc.pid

    @property
    def data_dir(self) -> Path:
        """Return the cluster's data directory."""
        return self._base() / "data"

    @property
    def socket_dir(self) -> Path:
        """Return the directory holding the server's unix socket."""
        return self._base() / "socket"

    @property
    def log_path(self) -> Path:
        """Return the server log file."""
        return self._base() / "postgres.log"

    @property
    def dbname(self) -> str:
        """Return the name of the default database."""
        return "postgres"

    @property
    def url(self) -> str:
        """Return the SQLAlchemy URL of the default database."""
        return self.url_for(self.dbname)

    def url_for(self, dbname: str) -> str:
        """Return the SQLAlchemy URL of `dbname` on this server."""
        return (
            f"postgresql+psycopg://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(dbname, safe='')}"
        )

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
        """Initialise a fresh cluster in a temp dir and start the server."""
        if self._proc is not None:
            raise PostgresError("PostgresServer is already started")
        self.bindir = find_bindir()
        self._run_as = _unprivileged_account() if os.geteuid() == 0 else None
        tmp_root = _traversable_tmp_root() if self._run_as is not None else None
        self.base_dir = Path(tempfile.mkdtemp(prefix="support-pg-", dir=tmp_root))
        # Register before anything can fail so even a half-started server gets cleaned up.
        atexit.register(self._atexit_stop)
        try:
            self._prepare_dirs()
            self._initdb()
            self._launch_with_port_retries()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (SIGINT, then SIGKILL) and remove its temp directory."""
        atexit.unregister(self._atexit_stop)
        proc, self._proc = self._proc, None
        if proc is not None:
            self._terminate(proc)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
        self._port = None

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        if name is None:
            self._database_count += 1
            name = f"test_{self._database_count}_{secrets.token_hex(4)}"
        with self._connect(self.dbname, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """Return the last `lines` lines of the server log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, PostgresError):
            return "<no server log>"
        return "\n".join(text.splitlines()[-lines:])

    # -- internals ---------------------------------------------------------------------

    def _base(self) -> Path:
        if self.base_dir is None:
            raise PostgresError("PostgresServer is not started")
        return self.base_dir

    def _connect(
        self, dbname: str, *, autocommit: bool = False
    ) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            connect_timeout=2,
            autocommit=autocommit,
        )

    def _prepare_dirs(self) -> None:
        base = self._base()
        self.socket_dir.mkdir(mode=0o700)
        if self._run_as is not None:
            # initdb and postgres run as the unprivileged user and must own their dirs.
            for path in (base, self.socket_dir):
                os.chown(path, self._run_as.uid, self._run_as.gid)

    def _identity(self) -> tuple[int | None, int | None, list[int] | None]:
        """Return Popen's (user, group, extra_groups): the unprivileged account, or inherit."""
        if self._run_as is None:
            return None, None, None
        # Drop root's supplementary groups too, not just the uid/gid.
        return self._run_as.uid, self._run_as.gid, []

    def _run_tool(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        user, group, extra_groups = self._identity()
        return subprocess.run(
            list(args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            cwd=self._base(),
            env=_server_env(),
            user=user,
            group=group,
            extra_groups=extra_groups,
        )

    def _initdb(self) -> None:
        assert self.bindir is not None
        pwfile = self._base() / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self._run_as is not None:
            os.chown(pwfile, self._run_as.uid, self._run_as.gid)
        try:
            failures: list[str] = []
            for locale in _LOCALES:
                result = self._run_tool(
                    [
                        str(self.bindir / "initdb"),
                        "-D",
                        str(self.data_dir),
                        "-U",
                        self.user,
                        "--pwfile",
                        str(pwfile),
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                        "-E",
                        "UTF8",
                        f"--locale={locale}",
                        # Throwaway cluster: skip fsyncing the new files, it costs seconds.
                        "--no-sync",
                    ]
                )
                if result.returncode == 0:
                    return
                failures.append(f"--locale={locale}:\n{(result.stdout + result.stderr).strip()}")
                # initdb leaves a partial data dir behind that would block the retry.
                shutil.rmtree(self.data_dir, ignore_errors=True)
            raise PostgresError("initdb failed:\n" + "\n\n".join(failures))
        finally:
            pwfile.unlink(missing_ok=True)

    def _launch_with_port_retries(self) -> None:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            try:
                self._launch(free_port())
                return
            except _EarlyExitError:
                # Another process may have taken the port after free_port() released it.
                if attempt == _PORT_ATTEMPTS or not _PORT_IN_USE.search(self.log_tail()):
                    raise

    def _launch(self, port: int) -> None:
        assert self.bindir is not None
        if self._log_file is not None:
            self._log_file.close()
        # Append so the log of a failed port attempt stays visible for diagnosis.
        self._log_file = open(self.log_path, "ab")  # closed in stop()
        self._port = port
        user, group, extra_groups = self._identity()
        self._proc = subprocess.Popen(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(port),
                "-k",
                str(self.socket_dir),
                "-c",
                f"listen_addresses={self.host}",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Own process group: a terminal Ctrl-C must not hit postgres behind the test
            # runner's back, and stop() can SIGKILL the postmaster with all its children.
            start_new_session=True,
            cwd=self._base(),
            env=_server_env(),
            user=user,
            group=group,
            extra_groups=extra_groups,
        )
        try:
            wait_until(self._accepts_connections, self.startup_timeout, what="postgres to start")
        except _EarlyExitError:
            self._proc = None
            raise
        except TimeoutError as exc:
            raise PostgresError(f"{exc}; server log tail:\n{self.log_tail()}") from None

    def _accepts_connections(self) -> bool:
        assert self._proc is not None
        code = self._proc.poll()
        if code is not None:
            raise _EarlyExitError(
                f"postgres exited with code {code} before accepting connections; "
                f"server log tail:\n{self.log_tail()}"
            )
        try:
            with self._connect(self.dbname):
                return True
        except psycopg.OperationalError:
            return False

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            # Already exited (and reaped): its backends exit on postmaster death by themselves.
            return
        # SIGINT asks postgres for a "fast" shutdown: abort sessions, checkpoint, exit; the
        # postmaster only exits after all its backends have.
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=self.stop_timeout)
            return
        # Hung shutdown: the postmaster is still unreaped, so its PID (= process group id)
        # cannot have been reused and killing the group takes any stuck backend with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=self.stop_timeout)

    def _atexit_stop(self) -> None:
        # Forked children inherit atexit hooks; only the process that started it may stop it.
        if os.getpid() == self._owner_pid:
            self.stop()
