"""pg_dump and pg_restore: found on this machine, run without a password on any command line.

The connection goes to the tools through libpq environment variables and a temporary passfile
(mode 0600, removed afterwards), so the password is never in argv (visible to every user in
`ps`), never in the environment of a child either, and never in a log line.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess  # runs pg_dump/pg_restore by absolute path, never a shell  # nosec B404
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from support.errors import SupportError
from support.logs import mask_pii

TOOLS = ("pg_dump", "pg_restore")
# URL query parameters that libpq also reads from the environment.
_QUERY_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}


class PgToolError(SupportError):
    """pg_dump or pg_restore is missing or failed."""

    status = 500
    title = "PostgreSQL のバックアップツールが失敗しました"
    code = "pg_tool_failed"


def _version_key(bindir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name))


def find_pg_bindir(explicit: Path | None = None) -> Path:
    """Return the directory holding pg_dump and pg_restore (the newest Debian one first)."""

    def usable(directory: Path) -> bool:
        return all(os.access(directory / tool, os.X_OK) for tool in TOOLS)

    if explicit is not None:
        if not usable(explicit):
            raise PgToolError(f"{explicit} に pg_dump と pg_restore がありません")
        return explicit
    # Debian's /usr/bin/pg_dump is a wrapper that picks a version by cluster configuration;
    # the newest versioned binary can dump every older server.
    candidates = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if usable(Path(p))]
    if candidates:
        return max(candidates, key=_version_key)
    found = shutil.which("pg_dump")
    if found is not None and usable(Path(found).parent):
        return Path(found).parent
    raise PgToolError(
        "pg_dump と pg_restore が見つかりません (postgresql-client を入れるか --pg-bindir で指定)"
    )


def _passfile_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@contextmanager
def libpq_env(url: str) -> Iterator[dict[str, str]]:
    """Yield the environment for a libpq tool to reach `url`; its passfile lives only inside."""
    parsed = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    query = {k: v if isinstance(v, str) else v[-1] for k, v in parsed.query.items()}
    host = parsed.host or query.get("host") or ""
    if host:
        env["PGHOST"] = host
    if parsed.port:
        env["PGPORT"] = str(parsed.port)
    if parsed.username:
        env["PGUSER"] = parsed.username
    env["PGDATABASE"] = parsed.database or ""
    env["PGAPPNAME"] = "support-backup"
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    for key, name in _QUERY_ENV.items():
        if key in query:
            env[name] = query[key]
    with tempfile.TemporaryDirectory(prefix="support-pgpass-") as tmp:
        passfile = Path(tmp) / "pgpass"
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            if parsed.password is not None:
                out.write(f"*:*:*:*:{_passfile_field(str(parsed.password))}\n")
        env["PGPASSFILE"] = str(passfile)
        yield env


def _reason(stderr: str) -> str:
    """Return the tool's first error line, masked: errors can quote rows (personal data)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()] or lines or ["(no output)"]
    return mask_pii(errors[0])[:300]


def run_tool(bindir: Path, tool: str, args: Sequence[str], env: dict[str, str]) -> None:
    """Run one PostgreSQL client tool; raise PgToolError with its first error line."""
    result = subprocess.run(  # noqa: S603 - fixed binary, arguments built here  # nosec B603
        [str(bindir / tool), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PgToolError(
            f"{tool} が終了コード {result.returncode} で失敗: {_reason(result.stderr)}"
        )


def dump(bindir: Path, url: str, out: Path, *, snapshot: str | None) -> None:
    """Write a custom-format dump of the database to `out` (at `snapshot` when given)."""
    args = ["--format=custom", "--no-owner", "--no-privileges", f"--file={out}"]
    if snapshot is not None:
        args.append(f"--snapshot={snapshot}")
    with libpq_env(url) as env:
        run_tool(bindir, "pg_dump", args, env)


def restore(bindir: Path, url: str, dump_file: Path, *, jobs: int) -> None:
    """Restore a custom-format dump into the (empty) database of `url`."""
    database = make_url(url).database or ""
    args = ["--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={database}"]
    # One transaction leaves nothing half-restored; parallel jobs trade that for speed.
    args += ["--single-transaction"] if jobs == 1 else [f"--jobs={jobs}"]
    with libpq_env(url) as env:
        run_tool(bindir, "pg_restore", [*args, str(dump_file)], env)
