"""Masking of personal fields for lists, where nobody asked to see them in full."""

from __future__ import annotations

import re
import unicodedata

_PREFECTURE = re.compile(r"^(東京都|北海道|大阪府|京都府|.{2,3}?県)")


def normalise_phone(phone: str) -> str:
    """Return only the digits of a phone number, full-width digits included."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", phone) if ch.isdigit())


def mask_name(name: str) -> str:
    """Keep the first character of each part: 山田 太郎 -> 山＊ 太＊."""
    return " ".join(part[:1] + "＊" * max(1, len(part) - 1) for part in name.split())


def mask_email(email: str | None) -> str | None:
    """Keep the first character and the domain: t***@example.ne.jp."""
    if not email:
        return email
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str | None) -> str | None:
    """Keep the last four digits."""
    if not phone:
        return phone
    return "***-****-" + normalise_phone(phone)[-4:]


def prefecture_of(address: str | None) -> str | None:
    """Return the prefecture an address starts with, if any."""
    if not address:
        return None
    match = _PREFECTURE.match(address)
    return match.group(1) if match else None
