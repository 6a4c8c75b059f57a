"""Transfer decoding (base64, uuencode) and plain-text clean-up for inbound mail parts."""

from __future__ import annotations

import binascii
import contextlib
import re
import unicodedata
from collections.abc import Sequence
from typing import AnyStr

from support.mail.parsing_headers import header_bytes, unfold

_DIGITS_RE = re.compile(r"[0-9]+")
_LINKISH_RE = re.compile(r"(?:https?|ftp|mailto|tel|cid):\S+|\S+@\S+|<[^<>\s]*>", re.I)
_B64_CLEAN_RE = re.compile(rb"[^A-Za-z0-9+/=]")
_B64_SEGMENT_RE = re.compile(rb"[A-Za-z0-9+/]+=*")
B64_ALPHABET = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n \t"
)


# --- decoding helpers --------------------------------------------------------------------


def numbers_in(text: str) -> list[str]:
    """Return the sorted numbers of a text, ignoring URLs and addresses (links differ)."""
    text = _LINKISH_RE.sub(" ", unicodedata.normalize("NFKC", text))
    return sorted(_DIGITS_RE.findall(text))


def transfer_encoding(value: object | None) -> str:
    if value is None:
        return "7bit"
    text = unfold(header_bytes(value).decode("ascii", errors="replace")).strip().lower()
    text = re.sub(r"[\s_]+", "-", text.split(";", 1)[0].strip())
    if text in ("quoted-printable", "qp", "quotedprintable"):
        return "quoted-printable"
    if text in ("base64", "base-64", "b64"):
        return "base64"
    if text in ("x-uuencode", "uuencode", "x-uue", "uue"):
        return "x-uuencode"
    if text in ("7bit", "7-bit", "8bit", "8-bit", "binary", ""):
        return "7bit"
    return "unknown:" + text


def _only_trailing_padding(data: AnyStr, equals: AnyStr, pad: AnyStr) -> bool:
    """Tell whether "=" appears only as trailing padding, without copying the data."""
    # rstrip() of the whole payload would copy it; padding and line ends fit in the tail.
    tail = data[-256:]
    end = len(data) - len(tail) + len(tail.rstrip(pad))
    if end == len(data) - len(tail) and len(data) > len(tail):
        end = len(data.rstrip(pad))  # the whole tail was padding: rare, so copying is fine
    return data.find(equals, 0, end) == -1


def decode_base64(data: bytes | str) -> bytes:
    """Decode base64 from bytes or from an ASCII str (the parser's payload, without a copy)."""
    if isinstance(data, str):
        single = _only_trailing_padding(data, "=", "\r\n\t =")
    else:
        single = _only_trailing_padding(data, b"=", b"\r\n\t =")
    if single:
        # Fast path for the usual single chunk: a2b_base64 skips line breaks by itself.
        with contextlib.suppress(binascii.Error, ValueError):
            return binascii.a2b_base64(data)
    if isinstance(data, str):
        data = header_bytes(data)
    # Split at padding so concatenated base64 chunks are all decoded, not just the first.
    out = bytearray()
    for segment in _B64_SEGMENT_RE.findall(_B64_CLEAN_RE.sub(b"", data)):
        body = segment.rstrip(b"=")
        if len(body) % 4 == 1:
            body = body[:-1]
        body += b"=" * (-len(body) % 4)
        try:
            out.extend(binascii.a2b_base64(body))
        except (binascii.Error, ValueError):
            continue
    return bytes(out)


def _uu_line(line: str) -> bytes:
    if not line or line.strip() in ("", "`"):
        return b""
    encoded = line.encode("ascii", errors="replace")
    try:
        return binascii.a2b_uu(encoded)
    except binascii.Error:
        # Some encoders pad lines with junk; the length byte tells what is real.
        count = ((encoded[0] - 32) & 63) * 4 + 5
        try:
            return binascii.a2b_uu(encoded[: count // 3])
        except binascii.Error:
            return b""


def decode_uu_lines(lines: Sequence[str]) -> bytes:
    return b"".join(_uu_line(line.rstrip("\r")) for line in lines)


def decode_uu_payload(data: bytes) -> bytes:
    text = data.decode("ascii", errors="replace")
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("begin ")), -1)
    body = lines[start + 1 :] if start >= 0 else lines
    end = next((i for i, line in enumerate(body) if line.strip() == "end"), len(body))
    return decode_uu_lines(body[:end])


def normalise_newlines(text: str) -> str:
    """Turn CRLF and lone CR into LF and drop NUL characters."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def unflow(text: str, delsp: bool) -> str:
    """Join RFC 3676 format=flowed soft line breaks."""
    out: list[str] = []
    buffer: str | None = None
    buffer_depth = 0
    for line in text.split("\n"):
        stripped = line.lstrip(">")
        depth = len(line) - len(stripped)
        if stripped.startswith(" "):
            stripped = stripped[1:]
        soft = stripped.endswith(" ") and stripped != "-- "
        if soft and delsp:
            stripped = stripped[:-1]
        if buffer is not None and depth == buffer_depth:
            buffer += stripped
        else:
            if buffer is not None:
                out.append(_quote(buffer, buffer_depth))
            buffer, buffer_depth = stripped, depth
        if not soft:
            out.append(_quote(buffer, buffer_depth))
            buffer = None
    if buffer is not None:
        out.append(_quote(buffer, buffer_depth))
    return "\n".join(out)


def _quote(text: str, depth: int) -> str:
    return (">" * depth + " " + text) if depth else text
