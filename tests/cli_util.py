"""Run the `support` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def support_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Return an environment for the command pointing at one database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    env.update(
        SUPPORT_DATABASE_URL=database_url,
        SUPPORT_DATA_DIR=str(data_dir),
        SUPPORT_LOG_LEVEL=os.environ.get("SUPPORT_LOG_LEVEL", "INFO"),
    )
    if "SUPPORT_LOG_FILE" in os.environ:
        env["SUPPORT_LOG_FILE"] = os.environ["SUPPORT_LOG_FILE"]
    env.update(extra)
    return env


def run_support(
    args: list[str], env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m support ARGS` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "support", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
