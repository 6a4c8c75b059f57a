"""Start a throwaway OpenSearch-compatible server (osmem-server) for integration tests.

Usage::

    with OpenSearchServer() as server:
        index = ElasticSearchIndex(server.url)

osmem-server is an in-memory server speaking the OpenSearch/Elasticsearch REST API, with
kuromoji analysis built in. The PyPI package `osmem-server` bundles it as a static binary
(`osmem_server/bin/osmem-server`, found by `osmem_server.resolve_binary()`, which honours
OSMEM_SERVER_BIN); it has no console script and no `python -m` entry point, so it is started
directly. It listens on 127.0.0.1 on a free port and is stopped (SIGTERM, then SIGKILL) by
`stop()`, the context manager or, as a last resort, an `atexit` hook. It also exits on its
own when this process dies (`-parent-pid`, and its stdin pipe closing).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from tests.services.netutil import free_port, wait_until

__all__ = ["OSMEM_REQUIREMENT", "OpenSearchError", "OpenSearchServer", "find_binary"]

HOST = "127.0.0.1"
# The version the suite was written against; installed only when the package is missing.
OSMEM_REQUIREMENT = "osmem-server==0.1.6"

_PORT_ATTEMPTS = 3
_LOG_TAIL_LINES = 40
_INSTALL_LOCK = Path(tempfile.gettempdir()) / "support-tests-osmem-install.lock"
_PORT_IN_USE = re.compile(r"address already in use", re.IGNORECASE)


class OpenSearchError(RuntimeError):
    """The throwaway search server could not be installed or started."""


class _EarlyExitError(OpenSearchError):
    """The server process exited before it answered HTTP."""


def _resolve_binary() -> str:
    module = importlib.import_module("osmem_server")
    resolved: str = module.resolve_binary()
    return resolved


def _pip_install() -> None:
    # Parallel test workers may all find the package missing; serialise them so only one
    # runs pip while the others wait and then import what it installed.
    with open(_INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        importlib.invalidate_caches()
        with contextlib.suppress(ImportError):
            importlib.import_module("osmem_server")
            return
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", OSMEM_REQUIREMENT],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()
            tail = "\n".join(output[-_LOG_TAIL_LINES:])
            raise OpenSearchError(
                f"`pip install {OSMEM_REQUIREMENT}` failed with exit code "
                f"{result.returncode}:\n{tail}"
            )
        importlib.invalidate_caches()


def find_binary(*, install: bool = True) -> str:
    """Return the osmem-server executable, pip-installing the package if it is missing."""
    try:
        return _resolve_binary()
    except ImportError:
        if not install:
            raise OpenSearchError(
                f"osmem-server is not installed; run `pip install {OSMEM_REQUIREMENT}`"
            ) from None
    _pip_install()
    try:
        return _resolve_binary()
    except ImportError as exc:
        raise OpenSearchError(f"installed {OSMEM_REQUIREMENT} but cannot import it") from exc


class OpenSearchServer:
    """A throwaway in-memory OpenSearch-compatible server on 127.0.0.1."""

    host: str = HOST

    def __init__(
        self,
        *,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        japanese: bool = True,
    ) -> None:
        """Prepare a server; nothing runs until `start()` or `with`."""
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.japanese = japanese
        self.binary: str | None = None
        self.base_dir: Path | None = None
        self.version: str | None = None
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._owner_pid = os.getpid()

    # -- public attributes -------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Return whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def port(self) -> int:
        """Return the TCP port the server listens on."""
        if self._port is None or self._proc is None:
            raise OpenSearchError("OpenSearchServer is not started")
        return self._port

    @property
    def pid(self) -> int:
        """Return the PID of the server process."""
        if self._proc is None:
            raise OpenSearchError("OpenSearchServer is not started")
        return self._proc.pid

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """Return the file holding the server's stdout and stderr."""
        if self.base_dir is None:
            raise OpenSearchError("OpenSearchServer is not started")
        return self.base_dir / "osmem.log"

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """Return the last `lines` lines of the server log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, OpenSearchError):
            return "<no server log>"
        return "\n".join(text.splitlines()[-lines:])

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
        """Start the server and wait until it answers `GET /`."""
        if self._proc is not None:
            raise OpenSearchError("OpenSearchServer is already started")
        self.binary = find_binary()
        self.base_dir = Path(tempfile.mkdtemp(prefix="support-osmem-"))
        # Register before anything can fail so even a half-started server gets cleaned up.
        atexit.register(self._atexit_stop)
        try:
            self._launch_with_port_retries()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its temp directory."""
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

    # -- internals ---------------------------------------------------------------------

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
        assert self.binary is not None
        if self._log_file is not None:
            self._log_file.close()
        # Append so the log of a failed port attempt stays visible for diagnosis.
        self._log_file = open(self.log_path, "ab")  # closed in stop()
        self._port = port
        args = [self.binary, "-addr", f"{self.host}:{port}", "-parent-pid", str(os.getpid())]
        if not self.japanese:
            args.append("-no-ja")
        self._proc = subprocess.Popen(
            args,
            # The server exits when its stdin closes: if this process dies without running
            # atexit hooks, the kernel closes the pipe and the server follows.
            stdin=subprocess.PIPE,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Own process group: a terminal Ctrl-C must not hit the server behind the test
            # runner's back, and stop() can SIGKILL the whole group.
            start_new_session=True,
            cwd=self.base_dir,
        )
        try:
            wait_until(self._answers_http, self.startup_timeout, what="osmem-server to start")
        except _EarlyExitError:
            self._close_stdin(self._proc)
            self._proc = None
            raise
        except TimeoutError as exc:
            raise OpenSearchError(f"{exc}; server log tail:\n{self.log_tail()}") from None

    def _answers_http(self) -> bool:
        assert self._proc is not None
        code = self._proc.poll()
        if code is not None:
            raise _EarlyExitError(
                f"osmem-server exited with code {code} before answering HTTP; "
                f"server log tail:\n{self.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{self.url}/", timeout=1.0) as response:  # noqa: S310
                info = json.loads(response.read())
        except (OSError, ValueError):
            # URLError and connection resets are OSErrors; a half-written answer is not JSON.
            return False
        self.version = str(info.get("version", {}).get("number", ""))
        return True

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                # Still unreaped, so its PID (= process group id) cannot have been reused.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=self.stop_timeout)
        self._close_stdin(proc)

    @staticmethod
    def _close_stdin(proc: subprocess.Popen[bytes]) -> None:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    def _atexit_stop(self) -> None:
        # Forked children inherit atexit hooks; only the process that started it may stop it.
        if os.getpid() == self._owner_pid:
            self.stop()
