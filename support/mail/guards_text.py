"""Text normalisation and matching primitives used by the outbound send guard.

Everything here is pure and deterministic: the guard normalises each draft field once and
then only compares normalised strings, so full-width digits, odd dashes and spacing variants
cannot hide an identifier.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

# Dash look-alikes that IMEs and word processors produce instead of "-".
_DASH_RE = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d]")
# ー is a real kana letter, so it only stands for a hyphen between ASCII letters or digits.
_LONG_VOWEL_RE = re.compile(r"(?<=[0-9A-Za-z])ー(?=[0-9A-Za-z])")

# A run of digit groups joined by hyphens, parentheses or up to two spaces, as numbers are
# written by hand ("090-0648-0434", "1234 5678 9012", "03(0575)4225", "+81-80-...").
_DIGIT_RUN_RE = re.compile(r"(\+)?(\d+(?:(?:[ \t]?[-()][ \t]?|[ \t]{1,2})\d+)*)")
_DIGIT_GROUP_RE = re.compile(r"\d+")
# Runs glued to a letter belong to an alphanumeric id (ORD-2025-..., D25-...), not a number.
_ALNUM_PREFIX_RE = re.compile(r"[A-Za-z]-?$")
_POSTAL_MARK_RE = re.compile(r"(?:〒|郵便番号)[ \t:]*$")

_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# Letter prefix plus hyphenated digits: order numbers, donation numbers and the like.
_ALNUM_ID_RE = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z]{1,5})[ \t]?-?[ \t]?(\d+(?:[ \t]?-[ \t]?\d+)*)(?!\d)"
)

# Keep long digit runs from exploding into many candidate sub-ranges.
_MAX_GROUPS_PER_CANDIDATE = 6

# Variant kanji that registries and typists use interchangeably for the same person.
_KANJI_VARIANTS = str.maketrans(
    {
        "髙": "高",
        "﨑": "崎",
        "邊": "辺",
        "邉": "辺",
        "濵": "浜",
        "濱": "浜",
        "德": "徳",
        "惠": "恵",
        "櫻": "桜",
        "廣": "広",
        "眞": "真",
    }
)

_QUOTE_HEADER_RE = re.compile(
    r"^(?:-{2,}\s*"
    r"(?:original message|forwarded message|元のメッセージ|転送されたメッセージ)\s*-{2,}"
    r"|on .+ wrote:"
    r"|.*(?:wrote|書きました)\s*:"
    r"|\d{4}年\d{1,2}月\d{1,2}日.*<[^>]+@[^>]+>.*:)$",
    re.IGNORECASE,
)


def normalize(text: str) -> str:
    """Return ``text`` in NFKC with dash look-alikes (and ー between digits) turned into "-"."""
    folded = unicodedata.normalize("NFKC", text)
    folded = _DASH_RE.sub("-", folded)
    return _LONG_VOWEL_RE.sub("-", folded)


def canonical_id(value: str) -> str:
    """Return an alphanumeric identifier without separators, upper-cased, for comparison."""
    return re.sub(r"[^0-9A-Za-z]", "", normalize(value)).upper()


def digits_only(value: str) -> str:
    """Return the ASCII digits of ``value`` after normalisation."""
    return re.sub(r"\D", "", normalize(value))


def email_key(value: str) -> str:
    """Return the comparable form of an e-mail address (NFKC, trimmed, case-folded)."""
    return normalize(value).strip().strip("<>").casefold()


def name_key(value: str) -> str:
    """Return a person name without spaces, with kanji variants folded and kana as katakana."""
    folded = re.sub(r"\s+", "", normalize(value)).translate(_KANJI_VARIANTS)
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in folded)


def org_key(value: str) -> str:
    """Return an organisation name without spaces, for containment tests."""
    return re.sub(r"\s+", "", normalize(value))


@dataclass(frozen=True, slots=True)
class NumberCandidate:
    """A digit string read from text, with how it was written."""

    digits: str
    groups: tuple[int, ...]
    plus: bool
    postal_mark: bool
    start: int
    end: int


def number_candidates(text: str) -> Iterator[NumberCandidate]:
    """Yield every number in normalised ``text``, including sub-runs split at spaces."""
    # Hyphens and parentheses always join groups; a space may join ("1234 5678 9012") or
    # separate ("070-0886-9447 12"), so both readings are produced.
    for run in _DIGIT_RUN_RE.finditer(text):
        body_start = run.start(2)
        if _ALNUM_PREFIX_RE.search(text[max(0, body_start - 2) : body_start]):
            continue
        postal_mark = bool(_POSTAL_MARK_RE.search(text[max(0, run.start() - 8) : run.start()]))
        plain = run.group(2)
        if plain.isdigit():
            # Most runs are one group (dates, amounts): skip the sub-range machinery.
            yield NumberCandidate(
                plain, (len(plain),), bool(run.group(1)), postal_mark, body_start, run.end()
            )
            continue
        groups = list(_DIGIT_GROUP_RE.finditer(plain))
        seps = [plain[groups[i - 1].end() : groups[i].start()] for i in range(1, len(groups))]
        # Index k may start a candidate when the separator before group k is spaces only.
        cuts = {0} | {k for k in range(1, len(groups)) if not seps[k - 1].strip(" \t")}
        ends = {len(groups)} | cuts
        for i in sorted(cuts):
            for j in range(i + 1, min(len(groups), i + _MAX_GROUPS_PER_CANDIDATE) + 1):
                if j not in ends:
                    continue
                part = groups[i:j]
                yield NumberCandidate(
                    digits="".join(g.group() for g in part),
                    groups=tuple(len(g.group()) for g in part),
                    plus=bool(run.group(1)) and i == 0,
                    postal_mark=postal_mark and i == 0,
                    start=body_start + part[0].start(),
                    end=body_start + part[-1].end(),
                )


def emails_in(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield (case-folded address, start, end) for every e-mail address in ``text``."""
    for m in _EMAIL_RE.finditer(text):
        address = m.group().rstrip(".-")
        yield address.casefold(), m.start(), m.start() + len(address)


def alnum_ids_in(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield (canonical id, start, end) for letter-prefixed ids such as ORD-2025-000123."""
    for m in _ALNUM_ID_RE.finditer(text):
        yield (m.group(1) + re.sub(r"\D", "", m.group(2))).upper(), m.start(), m.end()


def address_view(text: str) -> str:
    """Return normalised text in the compact form used for address matching."""
    # Spaces vanish and "3丁目4番8号" becomes "3-4-8", so both spellings compare equal.
    # Newlines stay so that an address cannot run into the next line's numbers.
    compact = re.sub(r"[ \t]+", "", text)
    compact = re.sub(r"(\d+)丁目", r"\1-", compact)
    compact = re.sub(r"(\d+)番地?", r"\1-", compact)
    compact = re.sub(r"(\d+)号", r"\1", compact)
    return re.sub(r"-+", "-", compact)


def address_core(address: str) -> str:
    """Return the matchable core of a postal address: no prefecture, no building name."""
    first = normalize(address).split()[0] if address.strip() else ""
    first = re.sub(r"^(?:東京都|北海道|(?:京都|大阪)府|.{2,3}県)", "", first)
    return address_view(first).rstrip("-")


def is_mynumber(digits: str) -> bool:
    """Return True when a 12-digit string carries a valid 個人番号 check digit."""
    if len(digits) != 12 or not digits.isdigit():
        return False
    weights = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
    remainder = sum(int(d) * w for d, w in zip(digits[:11], weights, strict=True)) % 11
    check = 0 if remainder <= 1 else 11 - remainder
    return check == int(digits[11])


def edit_distance(a: str, b: str, limit: int | None = None) -> int:
    """Return the Damerau-Levenshtein (optimal string alignment) distance, capped at limit+1."""
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], before[j - 2] + 1)
        if limit is not None and min(row) > limit:
            return limit + 1
        before, prev = prev, row
    return prev[len(b)]


def own_part(body: str) -> str:
    """Return the body without quoted history (">" lines and everything after a reply header)."""
    kept: list[str] = []
    for line in body.splitlines():
        stripped = line.strip()
        if _QUOTE_HEADER_RE.match(stripped):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept)


def snippet(text: str, start: int, end: int, width: int = 18) -> str:
    """Return the matched text with a little context, on one line, for the operator."""
    left = max(0, start - width)
    right = min(len(text), end + width)
    return (
        ("…" if left else "")
        + text[left:right].replace("\n", " ")
        + ("…" if right < len(text) else "")
    )
