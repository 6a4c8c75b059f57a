"""Strip donor contact details from free text before it goes into a municipality report."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MASK = "＊＊＊"
# Dashes NFKC leaves alone (minus sign, hyphens, dashes) are read as "-" in numbers.
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d", "-"))
# Patterns applied after NFKC, so full-width digits and @ are caught too.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\d)0\d{1,4}[-(（ ]?\d{1,4}[-)） ]?\d{3,4}(?!\d)")
_POSTAL = re.compile(r"〒?\s?(?<!\d)\d{3}-\d{4}(?!\d)")
# An address: a prefecture followed by a city/ward/town/village and whatever follows on.
_ADDRESS = re.compile(
    r"(?:東京都|北海道|大阪府|京都府|[^\s、。]{2,3}県)[^\s、。]{1,8}?[市区町村][^\s、。]*"
)


def redact(text: str, known: Iterable[str | None] = ()) -> str:
    """Return `text` with e-mail addresses, phone numbers, postal codes, addresses and the
    `known` personal strings (the donor's name parts, e-mail, phone) replaced by a mask."""
    cleaned = unicodedata.normalize("NFKC", text).translate(_DASHES)
    for value in sorted(set(_known_parts(known)), key=len, reverse=True):
        cleaned = cleaned.replace(value, MASK)
    cleaned = _EMAIL.sub(MASK, cleaned)
    cleaned = _POSTAL.sub(MASK, cleaned)
    cleaned = _PHONE.sub(MASK, cleaned)
    return _ADDRESS.sub(MASK, cleaned)


def _known_parts(known: Iterable[str | None]) -> Iterable[str]:
    for value in known:
        if not value:
            continue
        normal = unicodedata.normalize("NFKC", value).translate(_DASHES).strip()
        if len(normal) >= 2:
            yield normal
            # Names are often written without the space, or only the family name is given.
            yield normal.replace(" ", "")
        for part in normal.split():
            if len(part) >= 2:
                yield part
