"""Order and donation numbers written in free text, however they are typed."""

from __future__ import annotations

import re
import unicodedata

# Dashes and long-vowel marks people type between digit groups, after NFKC.
_DASHES = re.compile(r"\s*[‐‑‒–—―−ー－-]\s*")
_ORDER_NO = re.compile(r"(?<![A-Z0-9])ORD-\d{4}-\d{6}(?!\d)")
_DONATION_NO = re.compile(r"(?<![A-Z0-9])D\d{2}-\d{7}(?!\d)")


def normalise(text: str) -> str:
    """Fold widths and case, and unify the dashes between digit groups."""
    folded = unicodedata.normalize("NFKC", text).upper()
    return _DASHES.sub("-", folded)


def find_order_numbers(text: str) -> list[str]:
    """Return the order numbers (ORD-YYYY-NNNNNN) in a text, in order, without repeats."""
    return list(dict.fromkeys(_ORDER_NO.findall(normalise(text))))


def find_donation_numbers(text: str) -> list[str]:
    """Return the donation numbers (DYY-NNNNNNN) in a text, in order, without repeats."""
    return list(dict.fromkeys(_DONATION_NO.findall(normalise(text))))
