"""Fail when log files hold a donor's e-mail address or phone number from the world file.

Usage: python tests/check_logs.py WORLD_JSON LOGFILE_OR_DIR...

Exit 0: nothing found; 1: personal data found (reported as file:line and donor id only);
2: the world file is missing or unreadable, or the arguments are wrong.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

# After NFKC every digit is ASCII and full-width hyphens and brackets are ASCII too; ー and the
# dashes stay, so they are listed. Blanks join groups the way people write 090 1234 5678.
_DIGIT_RUN_RE = re.compile(r"[0-9](?:[-‐‑‒–—―−ー() \t]*[0-9])*")
_NON_DIGIT_RE = re.compile(r"[^0-9]")


@dataclass(frozen=True)
class Donor:
    """The identifying strings of one donor, in the forms the scan compares against."""

    id: str
    email: str
    phone_digits: str


@dataclass(frozen=True)
class Finding:
    """One donor's e-mail address or phone number on one line of a log file."""

    path: Path
    lineno: int
    donor_id: str
    kind: str


def load_donors(world_path: Path) -> list[Donor]:
    """Read the donors' e-mail addresses and phone numbers from the world file."""
    world = json.loads(world_path.read_text(encoding="utf-8"))
    donors = world["donors"]
    if not isinstance(donors, list):
        raise ValueError("'donors' is not a list")
    result = []
    for donor in donors:
        phone = unicodedata.normalize("NFKC", str(donor.get("phone") or ""))
        result.append(
            Donor(
                id=str(donor["id"]),
                email=unicodedata.normalize("NFKC", str(donor.get("email") or "")).casefold(),
                phone_digits=_NON_DIGIT_RE.sub("", phone),
            )
        )
    return result


def scan_line(line: str, donors: Sequence[Donor]) -> list[tuple[str, str]]:
    """Return (donor id, "e-mail" or "phone") for each donor whose data appears in line."""
    norm = unicodedata.normalize("NFKC", line)
    # Logged URLs carry addresses percent-encoded (taro%40example.jp).
    folded = f"{norm}\n{unquote(norm)}".casefold()
    # Digits only, so 090-0648-0434, 09006480434, ０９０ー０６４８ー０４３４ and
    # 03(0575)4225 all compare equal.
    runs = [_NON_DIGIT_RE.sub("", m.group(0)) for m in _DIGIT_RUN_RE.finditer(norm)]
    hits = []
    for donor in donors:
        if donor.email and donor.email in folded:
            hits.append((donor.id, "e-mail"))
        digits = donor.phone_digits
        if len(digits) >= 6:
            international = "81" + digits.removeprefix("0")
            if any(digits in run or international in run for run in runs):
                hits.append((donor.id, "phone"))
    return hits


def iter_files(paths: Sequence[Path]) -> Iterator[Path]:
    """Yield the files given, and every file below the directories given, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
        else:
            print(f"log check: skipping {path}: no such file or directory", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Scan the log files and report; return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print("usage: check_logs.py WORLD_JSON LOGFILE_OR_DIR...", file=sys.stderr)
        return 2
    world_path = Path(args[0])
    try:
        donors = load_donors(world_path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"log check: cannot read world file {world_path}: {exc}", file=sys.stderr)
        return 2

    findings: list[Finding] = []
    n_files = n_lines = 0
    for path in iter_files([Path(a) for a in args[1:]]):
        n_files += 1
        text = path.read_bytes().decode("utf-8", errors="replace")
        # split("\n"), not splitlines(): JSON may carry U+2028, which is no line break here.
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        n_lines += len(lines)
        for lineno, line in enumerate(lines, start=1):
            for donor_id, kind in scan_line(line, donors):
                findings.append(Finding(path, lineno, donor_id, kind))

    if findings:
        # Never echo the matched text: this output lands in CI logs too.
        for f in findings:
            print(f"{f.path}:{f.lineno}: {f.kind} of donor {f.donor_id}")
        bad_lines = len({(f.path, f.lineno) for f in findings})
        print(f"log check: personal data found on {bad_lines} lines ({n_files} files scanned)")
        return 1
    print(f"log check: {n_files} files, {n_lines} lines, no personal data found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
