"""Lenient header decoding: RFC 2047 words, RFC 2231 parameters, addresses, ids and dates."""

from __future__ import annotations

import binascii
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime

from support.mail.parsing_charsets import decode_bytes, normalise_charset

# Encoded-word, loosely: the encoded text may contain folding whitespace (broken folders split
# words across lines) and the charset may carry an RFC 2231 language suffix.
_ENCODED_WORD_RE = re.compile(
    r"=\?(?P<charset>[^?\s]{1,64})\?(?P<enc>[BbQq])\?(?P<text>[^?]{0,4000}?)\?="
)
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")
_BARE_NEWLINE_RE = re.compile(r"[\r\n]+")
_WSP_RE = re.compile(r"\s+")
# Only ASCII whitespace is collapsed: an ideographic space in "山田　太郎" is the sender's.
_ASCII_WSP_RE = re.compile(r"[ \t\r\n\f\v]+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MSGID_RE = re.compile(r"<\s*([^<>\s]+?)\s*>")
_LOOSE_MSGID_RE = re.compile(r"<([^<>]{1,998})>")
_COMMENT_WSP_RE = re.compile(r"\([^()]*\)|\s+")
_BARE_MSGID_RE = re.compile(r"[^\s<>,;\"]+@[^\s<>,;\"]+")
_PARAM_NAME_RE = re.compile(r"^(?P<name>[^*]+)(?:\*(?P<index>\d+))?(?P<star>\*)?$")
_ADDR_SPEC_RE = re.compile(r"^[^@\s\"(),:;<>\[\]]+@[^@\s\"(),:;<>\[\]]+\.?[^@\s]*$")
_ADDR_FIND_RE = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_CT_RE = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")
_B64_JUNK_RE = re.compile(r"[^A-Za-z0-9+/]")
_QP_HEX_RE = re.compile(rb"=([0-9A-Fa-f]{2})")


def header_bytes(value: object) -> bytes:
    """Return the raw octets of a header value as stored by the compat32 bytes parser."""
    if isinstance(value, bytes):
        return value
    text = str(value)
    # compat32 keeps 8-bit octets as surrogate escapes; UTF-8 covers any real non-ASCII text.
    return text.encode("utf-8", errors="surrogateescape")


def unfold(value: str) -> str:
    """Unfold a header value, also mending bare line breaks left by broken folders."""
    value = _FOLD_RE.sub("", value)
    return _BARE_NEWLINE_RE.sub(" ", value)


def header_text(value: object, hint: str | None = None) -> tuple[str, list[str]]:
    """Turn a raw header value into text, decoding 8-bit or ISO-2022-JP octets; keep words."""
    notes: list[str] = []
    raw = header_bytes(value)
    if not raw.isascii() or b"\x1b" in raw:
        decoded = decode_bytes(raw, hint)
        if not raw.isascii():
            notes.append(f"raw 8-bit header text read as {decoded.charset}")
        if "\ufffd" in decoded.text:
            notes.append("undecodable bytes in header replaced")
        text = decoded.text
    else:
        text = raw.decode("ascii")
    return unfold(text), notes


def _decode_b(text: str) -> bytes:
    data = _B64_JUNK_RE.sub("", text)
    if len(data) % 4 == 1:
        data = data[:-1]
    data += "=" * (-len(data) % 4)
    try:
        return binascii.a2b_base64(data.encode("ascii"))
    except (binascii.Error, ValueError):
        return b""


def _decode_q(text: str) -> bytes:
    raw = _WSP_RE.sub("", text).replace("_", " ").encode("utf-8", errors="surrogateescape")
    return _QP_HEX_RE.sub(lambda m: bytes((int(m.group(1), 16),)), raw)


def decode_words(text: str, hint: str | None = None) -> tuple[str, list[str]]:
    """Decode RFC 2047 encoded-words, joining adjacent words of one charset before decoding."""
    notes: list[str] = []
    matches = list(_ENCODED_WORD_RE.finditer(text))
    if not matches:
        return text, notes
    out: list[str] = []
    pos = 0
    group_charset: str | None = None  # decoder family, so "sjis" and "Shift_JIS" join up
    group_label = ""  # the label as written, for decoding and for messages
    group_bytes = bytearray()

    def flush() -> None:
        nonlocal group_charset
        if group_charset is None:
            return
        decoded = decode_bytes(bytes(group_bytes), group_label)
        if decoded.note:
            notes.append(f"encoded-word: {decoded.note}")
        if not decoded.clean:
            notes.append("encoded-word contains undecodable bytes")
        out.append(decoded.text)
        group_charset = None
        group_bytes.clear()

    for match in matches:
        gap = text[pos : match.start()]
        adjacent = group_charset is not None and gap.strip() == ""
        if not adjacent:
            flush()
            out.append(gap)
        charset_label = match.group("charset").split("*", 1)[0]
        family = normalise_charset(charset_label) or charset_label.lower()
        if group_charset is not None and family != group_charset:
            flush()
        if group_charset is None:
            group_charset = family
            group_label = charset_label
        encoded = match.group("text")
        if any(ch.isspace() for ch in encoded):
            notes.append("encoded-word broken by folding whitespace")
        if match.group("enc") in "Bb":
            group_bytes.extend(_decode_b(encoded))
        else:
            group_bytes.extend(_decode_q(encoded))
        pos = match.end()
    flush()
    out.append(text[pos:])
    return "".join(out), notes


def clean_text(text: str) -> str:
    """Collapse whitespace and drop control characters in a one-line header value."""
    return _ASCII_WSP_RE.sub(" ", _CONTROL_RE.sub("", text)).strip(" ")


def decode_header(value: object, hint: str | None = None) -> tuple[str, list[str]]:
    """Decode an unstructured header (Subject, names) to clean one-line text."""
    text, notes = header_text(value, hint)
    text, word_notes = decode_words(text, hint)
    return clean_text(text), notes + word_notes


# --- MIME parameters (Content-Type, Content-Disposition) ---------------------------------


@dataclass
class HeaderParams:
    """A structured MIME header: its main value (lower-cased) and decoded parameters."""

    value: str
    params: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _split_params(text: str) -> list[str]:
    """Split on semicolons outside quoted strings, tolerating an unterminated quote."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            buf.append(ch)
            escaped = False
        elif quoted and ch == "\\":
            buf.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            buf.append(ch)
        elif ch == ";" and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        body = value[1:]
        if body.endswith('"'):
            body = body[:-1]
        return re.sub(r"\\(.)", r"\1", body)
    return value


def _octets(text: str) -> bytes:
    """Recover the original octets of a parameter value (ASCII plus surrogate escapes)."""
    return text.encode("utf-8", errors="surrogateescape")


def parse_params(raw: object, hint: str | None = None) -> HeaderParams:
    """Parse a MIME header with parameters, decoding RFC 2231 and RFC 2047 forms."""
    text, notes = header_text(raw, hint)
    pieces = _split_params(text)
    result = HeaderParams(value=pieces[0].strip().lower(), notes=notes)
    plain: dict[str, str] = {}
    extended: dict[str, dict[int, tuple[str, bool]]] = {}
    for piece in pieces[1:]:
        if "=" not in piece:
            if piece.strip():
                result.notes.append(f"malformed parameter {piece.strip()[:40]!r}")
            continue
        name, _, value = piece.partition("=")
        name = name.strip().lower()
        match = _PARAM_NAME_RE.match(name)
        if not match:
            continue
        base = match.group("name").strip()
        index = match.group("index")
        star = match.group("star") is not None
        if index is None and not star:
            plain.setdefault(base, _unquote(value))
            continue
        segments = extended.setdefault(base, {})
        segments.setdefault(int(index) if index is not None else 0, (_unquote(value), star))
    for base, value in plain.items():
        decoded, word_notes = decode_words(value, hint)
        result.notes.extend(word_notes)
        result.params[base] = decoded.strip()
    for base, segments in extended.items():
        decoded_value = _join_rfc2231(segments, hint, result.notes)
        if decoded_value:
            result.params[base] = decoded_value
    return result


def _join_rfc2231(segments: dict[int, tuple[str, bool]], hint: str | None, notes: list[str]) -> str:
    """Concatenate RFC 2231 continuations as octets, then decode them once."""
    charset: str | None = None
    octets = bytearray()
    expected = 0
    for index in sorted(segments):
        if index != expected:
            notes.append("RFC 2231 continuation numbering has gaps")
        expected = index + 1
        value, encoded = segments[index]
        if encoded:
            if index == sorted(segments)[0] and value.count("'") >= 2:
                charset, _lang, value = value.split("'", 2)
            octets.extend(urllib.parse.unquote_to_bytes(value))
        else:
            octets.extend(_octets(value))
    text = decode_bytes(bytes(octets), charset or hint)
    if text.note:
        notes.append(f"parameter: {text.note}")
    # Some mailers put RFC 2047 words inside RFC 2231 continuations.
    joined, word_notes = decode_words(text.text, hint)
    notes.extend(word_notes)
    return joined.strip()


def parse_content_type(raw: object | None, default: str, hint: str | None) -> HeaderParams:
    """Parse Content-Type, falling back to the default type when it is missing or invalid."""
    if raw is None:
        return HeaderParams(value=default)
    parsed = parse_params(raw, hint)
    value = parsed.value.replace(" ", "")
    if not _CT_RE.match(value):
        parsed.notes.append(f"invalid Content-Type {parsed.value[:60]!r}; using {default}")
        value = default
    parsed.value = value
    return parsed


# --- Addresses, ids, dates ----------------------------------------------------------------


def parse_addresses(values: Sequence[object], hint: str | None = None) -> list[tuple[str, str]]:
    """Parse address headers into (display name, lower-cased addr-spec) pairs."""
    texts: list[str] = []
    for value in values:
        text, _notes = header_text(value, hint)
        texts.append(text)
    result: list[tuple[str, str]] = []
    try:
        pairs = getaddresses(texts)
    except Exception:  # noqa: BLE001 - the stdlib parser has raised on hostile input before
        pairs = []
    malformed = False
    for name, addr in pairs:
        addr = _fold_domain(addr.strip().strip("<>").strip())
        if "@" not in addr:
            # Group syntax and junk come back as bare words; they are not mailboxes.
            continue
        if not _ADDR_SPEC_RE.match(addr):
            malformed = True
            continue
        display, _notes = decode_header(name, hint)
        result.append((display.strip().strip('"').strip(), addr))
    if malformed or (not result and any("@" in text for text in texts)):
        # "From: Big Bug bb@bug.com" and friends: salvage whatever addr-specs are visible.
        seen = {addr for _name, addr in result}
        for text in texts:
            for addr in _ADDR_FIND_RE.findall(text):
                addr = _fold_domain(addr.strip("."))
                if addr not in seen:
                    seen.add(addr)
                    result.append(("", addr))
    return result


def _fold_domain(addr: str) -> str:
    """Lower-case the domain only: the local part is the owner's to spell (MAILER-DAEMON)."""
    local, at, domain = addr.rpartition("@")
    return f"{local}{at}{domain.lower()}" if at else addr


def parse_msgid(value: object | None) -> str | None:
    """Return the first message id of a header without angle brackets, or None."""
    ids = parse_msgids(value)
    return ids[0] if ids else None


def parse_msgids(value: object | None) -> list[str]:
    """Return every message id in a header (References), without angle brackets or repeats."""
    if value is None:
        return []
    text = unfold(header_bytes(value).decode("utf-8", errors="replace"))
    ids = _MSGID_RE.findall(text)
    if not ids:
        # Obsolete syntax allows comments and spaces inside: <1234 @ local(blah) .example>
        ids = [_COMMENT_WSP_RE.sub("", item) for item in _LOOSE_MSGID_RE.findall(text)]
        ids = [item for item in ids if item]
    if not ids:
        ids = _BARE_MSGID_RE.findall(text)
    seen: dict[str, None] = {}
    for item in ids:
        item = item.strip()
        if item:
            seen.setdefault(item, None)
    return list(seen)


def parse_date(value: object | None) -> tuple[datetime | None, list[str]]:
    """Parse a Date header into an aware datetime; naive dates are taken as UTC."""
    if value is None:
        return None, ["no Date header"]
    text = clean_text(unfold(header_bytes(value).decode("utf-8", errors="replace")))
    if not text:
        return None, ["empty Date header"]
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None, [f"unparseable Date header {text[:60]!r}"]
    if parsed is None:
        return None, [f"unparseable Date header {text[:60]!r}"]
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC), ["Date header without time zone; assumed UTC"]
    return parsed, []
