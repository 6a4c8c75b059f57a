"""Install Debian packages a test needs (as root, with apt-get), or say why they are missing."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

_LOCK = Path("/tmp/support-tests-apt.lock")  # noqa: S108 - shared by parallel test workers


class DebianPackageMissing(RuntimeError):
    """A Debian package is missing and cannot be installed here."""


def ensure_installed(package: str, present: Path | str) -> None:
    """Make sure `present` (a binary on PATH or a file path) exists, installing `package`."""

    def found() -> bool:
        if isinstance(present, Path):
            return present.exists()
        return shutil.which(present) is not None

    if found():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise DebianPackageMissing(
            f"{present} not found; install the Debian package {package} "
            "(the tests install it themselves when run as root with apt-get)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open(_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if found():
            return
        install = [
            "apt-get",
            "install",
            "-y",
            "--no-install-recommends",
            "-o",
            "DPkg::Lock::Timeout=300",
            package,
        ]
        for command in (install, ["apt-get", "update"], install):
            result = subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode == 0 and command is install and found():
                return
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise DebianPackageMissing(f"apt-get install {package} failed:\n{tail}")
