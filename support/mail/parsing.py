"""Parse raw inbound mail (RFC 5322 bytes) into a typed, display-ready ParsedMail.

Pure: no I/O, no database, and ``parse_message`` never raises. Problems are reported in
``ParsedMail.defects``; ``parse_failed`` is set only when nothing sensible came out.

Decisions worth knowing:

* ``text`` is the text/plain body when there is one; HTML-only mail gets text extracted from
  the HTML. ``html`` is the sanitised HTML alternative (or None).
* A forwarded message/rfc822 part is kept as an ``.eml`` attachment (the whole message, so it
  can be opened or re-parsed with ``parse_message(attachment.data)``) AND its readable text
  is appended to ``text`` under a "Forwarded message" header block, so operators and search
  see it without opening anything.
* In a multipart/report delivery-status bounce the status and returned-message parts feed
  ``dsn`` and are not listed as attachments; the human-readable part is the ``text``.
* uuencoded blocks in a text body become attachments and are cut from ``text``.
* ``Attachment.inline`` means "rendered inside the HTML" (cid: images, multipart/related
  resources), not merely ``Content-Disposition: inline``.

Monster mails are read only within ``ParseLimits`` (size, header size, parts, attachments,
text, HTML, nesting): whatever is over a limit is left in the raw message, which the caller
stores anyway, and the result says so in ``defects`` (entries starting "limit:") and
``limited``. Nothing is ever decompressed. Memory stays a small multiple of the mail's size:
the input is fed to the stdlib parser in slices, base64 is decoded from the parser's own
string, forwarded messages are serialised once, and ``content_hash`` streams over the body.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import urllib.parse
from collections.abc import Iterator
from email.message import Message

from support.mail.parsing_auto import build_delivery_report, classify_auto
from support.mail.parsing_charsets import decode_bytes
from support.mail.parsing_decode import normalise_newlines
from support.mail.parsing_feed import ParseBudget, make_parser
from support.mail.parsing_headers import (
    decode_header,
    parse_addresses,
    parse_content_type,
    parse_date,
    parse_msgid,
    parse_msgids,
)
from support.mail.parsing_html import sanitize_html
from support.mail.parsing_mime import EXTENSIONS, MimeCollector, PartDraft, header_value
from support.mail.parsing_types import (
    DEFAULT_LIMITS,
    MIB,
    Attachment,
    DeliveryReport,
    ParsedMail,
    ParseLimits,
    RecipientStatus,
)

__all__ = [
    "DEFAULT_LIMITS",
    "TEXT_CUT_MARK",
    "Attachment",
    "DeliveryReport",
    "ParseLimits",
    "ParsedMail",
    "RecipientStatus",
    "content_hash",
    "parse_message",
]

_FORWARD_MARK = "---------- Forwarded message ----------"
# Ends ParsedMail.text when ParseLimits.max_text_chars cut it; operators read Japanese.
TEXT_CUT_MARK = (
    "\n\n[…] （本文が長すぎるため、ここから先は省略しました / text cut at the size limit）"
)
# The hash reads at most this much header, whatever the configured limits: the same mail must
# always give the same dedupe key. Real header blocks are a few kilobytes.
_HASH_HEAD_LIMIT = 1 * MIB
_HASH_CHUNK = 256 * 1024
_EOL_RE = re.compile(rb"\r\n|\r|\n")

_HASH_HEADERS = (
    "from",
    "sender",
    "to",
    "cc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
)
_CID_REF_RE = re.compile(r"cid:([^\"'\s)>]+)", re.I)
_FILENAME_BAD_RE = re.compile(r"[\x00-\x1f\x7f]+")
_SPACES_RE = re.compile(r"[ \t\r\n\f\v]+")
_SUBJECT_SNIFF_RE = re.compile(rb"^subject:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)
_HEADER_END_RE = re.compile(rb"\r?\n\r?\n")


def parse_message(raw: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> ParsedMail:
    """Parse raw RFC 5322 bytes into a ParsedMail within limits; never raise, flag instead."""
    try:
        data = _as_bytes(raw)
    except Exception:  # noqa: BLE001 - garbage in must still give a result
        data = b""
    if not isinstance(limits, ParseLimits):
        limits = DEFAULT_LIMITS
    try:
        budget = ParseBudget(limits)
        source, read_body = data, True
        if len(data) > limits.max_raw_bytes:
            budget.note(
                f"limit: message is {len(data):,} bytes, over the {limits.max_raw_bytes:,}-byte "
                "limit; only the header was read, the body is only in the stored raw message"
            )
            source, read_body = _header_block(data, limits.max_header_bytes), False
        elif _header_overflows(data, limits.max_header_bytes):
            budget.note(
                f"limit: header block over {limits.max_header_bytes:,} bytes; only its start "
                "was read, the body is only in the stored raw message"
            )
            source, read_body = _header_block(data, limits.max_header_bytes), False
        prefix, start, repairs = _repair_header_block(source, limits.max_header_bytes)
        message = make_parser().parsebytes(source, budget=budget, prefix=prefix, start=start)
        return _build(message, data, budget, defects=repairs, read_body=read_body)
    except Exception as exc:  # noqa: BLE001 - the contract is to flag, never raise
        return _fallback(data, f"parser crashed: {type(exc).__name__}: {exc}", limits)


def _as_bytes(raw: object) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str):
        return raw.encode("utf-8", errors="surrogateescape")
    return b""


_HEADER_LINE_RE = re.compile(rb"^([!-9;-~]+)([ \t]*):")


def _header_overflows(data: bytes, limit: int) -> bool:
    """Tell whether the header block runs past ``limit`` bytes (a header bomb)."""
    if len(data) <= limit or _HEADER_END_RE.search(data, 0, limit):
        return False
    # No blank line yet; only header fields and continuations all the way make it a header.
    # Otherwise the parser ends the header at the first other line, well within the limit.
    lines = data[:limit].split(b"\n")[:-1]
    start = 1 if lines and lines[0].startswith(b"From ") else 0
    return len(lines) > start and all(
        line[:1] in (b" ", b"\t") or _HEADER_LINE_RE.match(line) for line in lines[start:]
    )


def _header_block(data: bytes, limit: int) -> bytes:
    """Return the header block alone (at most ``limit`` bytes, whole lines) plus a blank line."""
    match = _HEADER_END_RE.search(data, 0, limit)
    if match:
        end = match.start()
    else:
        cut = data.rfind(b"\n", 0, limit)
        end = cut if cut > 0 else min(len(data), limit)
    return data[:end] + b"\r\n\r\n"


def _repair_header_block(data: bytes, limit: int) -> tuple[bytes, int, list[str]]:
    """Drop junk lines between header fields and accept obsolete "Name :" syntax.

    Return the repaired header to parse in place of ``data[:start]``, ``start``, and notes;
    ``(b"", 0, [])`` when nothing needed repair (the header is only looked at up to ``limit``).
    """
    match = _HEADER_END_RE.search(data, 0, limit)
    if match is None and len(data) > limit:
        return b"", 0, []
    end = match.start() if match else len(data)
    lines = data[:end].split(b"\n")
    start = 1 if lines and lines[0].startswith(b"From ") else 0
    if len(lines) <= start or not _HEADER_LINE_RE.match(lines[start]):
        return b"", 0, []
    kept: list[bytes] = lines[:start]
    notes: list[str] = []
    for index in range(start, len(lines)):
        line = lines[index]
        if line[:1] in (b" ", b"\t"):
            kept.append(line)
            continue
        field = _HEADER_LINE_RE.match(line)
        if field:
            if field.group(2):
                line = field.group(1) + b":" + line[field.end() :]
                notes.append("header field name followed by whitespace (obsolete syntax)")
            kept.append(line)
            continue
        # Indexes, not a slice: slicing here made a header of junk lines quadratic.
        following = next(
            (lines[j] for j in range(index + 1, len(lines)) if lines[j][:1] not in (b" ", b"\t")),
            None,
        )
        if following is not None and _HEADER_LINE_RE.match(following):
            notes.append("malformed line inside the header block dropped")
            continue
        # Not followed by another field: the body starts here without its blank line.
        kept.append(line)
    if not notes:
        return b"", 0, []
    return b"\n".join(kept), end, list(dict.fromkeys(notes))


def _safe_filename(name: str | None, content_type: str, index: int) -> str:
    cleaned = ""
    if name:
        # Keep only the last path component: senders leak C:\Users\... and "../" tricks.
        # Other characters stay as sent; whoever writes files must apply its own rules.
        base = re.split(r"[\\/]", name)[-1]
        cleaned = _SPACES_RE.sub(" ", _FILENAME_BAD_RE.sub("", base)).strip(" .")
    if not cleaned:
        return f"attachment-{index}{EXTENSIONS.get(content_type, '.bin')}"
    if len(cleaned) > 200:
        stem, dot, suffix = cleaned.rpartition(".")
        cleaned = (
            (stem[: 200 - len(suffix)] + dot + suffix)
            if dot and len(suffix) < 16
            else cleaned[:200]
        )
    return cleaned


def _raw_headers(message: Message) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        headers.setdefault(str(name).strip().lower(), []).append(str(value))
    return headers


def content_hash(data: bytes) -> str:
    """Hash a raw message over identity headers and body, ignoring transport headers."""
    match = _HEADER_END_RE.search(data, 0, _HASH_HEAD_LIMIT)
    if match:
        head_end, body_start = match.start(), match.end()
    else:
        head_end = body_start = min(len(data), _HASH_HEAD_LIMIT)
    fields: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n(?![ \t])", data[:head_end]):
        name, sep, value = line.partition(b":")
        key = name.strip().lower().decode("ascii", errors="replace")
        if sep and key in _HASH_HEADERS:
            text = value.decode("utf-8", errors="surrogateescape")
            fields.append((key, _SPACES_RE.sub(" ", text).strip()))
    digest = hashlib.sha256()
    for key, value in sorted(fields):
        digest.update(key.encode() + b":" + value.encode("utf-8", errors="surrogateescape") + b"\n")
    digest.update(b"\n")
    # The body's lines, right-stripped and joined by LF, without trailing empty lines: that is
    # the body with blanks before each line end dropped, line ends made LF and trailing LFs
    # cut. Streamed a chunk at a time (chunks end at line ends) so no body-sized copy exists.
    pending = 0  # trailing LFs held back: they count only if more text follows
    for chunk in _normalised_body(data, body_start):
        text = chunk.rstrip(b"\n")
        if text:
            digest.update(b"\n" * pending)
            digest.update(text)
            pending = 0
        pending += len(chunk) - len(text)
    return digest.hexdigest()


_BLANK_EOL_RE = re.compile(rb"[ \t]+\n")


def _normalised_body(data: bytes, start: int) -> Iterator[bytes]:
    """Yield ``data[start:]`` in chunks that end at line ends, blanks stripped, ends made LF."""
    end = len(data)
    pos = start
    while pos < end:
        eol = _EOL_RE.search(data, min(pos + _HASH_CHUNK, end))
        cut = eol.end() if eol else end
        # replace() is much faster than one regex doing it all; CRLF first, as re.split did.
        chunk = data[pos:cut].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b" \n" in chunk or b"\t\n" in chunk:
            chunk = _BLANK_EOL_RE.sub(b"\n", chunk)
        yield chunk if cut < end else chunk.rstrip(b" \t")
        pos = cut


def _parts(message: Message, limits: ParseLimits) -> Iterator[Message]:
    """Walk the parts the limits allow (the walk proper stops there too)."""
    return itertools.islice(message.walk(), limits.max_parts)


def _python_defects(message: Message, limits: ParseLimits) -> list[str]:
    found: list[str] = []
    for part in _parts(message, limits):
        for defect in getattr(part, "defects", []):
            doc = (type(defect).__doc__ or type(defect).__name__).strip().splitlines()[0]
            found.append(f"MIME: {doc}")
    return list(dict.fromkeys(found))


def _charset_hint(message: Message, limits: ParseLimits) -> str | None:
    for part in _parts(message, limits):
        raw = header_value(part, "content-type")
        if raw is None:
            continue
        charset = parse_content_type(raw, "text/plain", None).params.get("charset")
        if charset:
            return charset
    return None


def _build(
    message: Message,
    data: bytes,
    budget: ParseBudget,
    embed_depth: int = 0,
    nesting: int = 0,
    defects: list[str] | None = None,
    read_body: bool = True,
) -> ParsedMail:
    """Build the result for a message, or for a forwarded one inside it (``embed_depth`` > 0).

    A forwarded message is read for its text only: its attachments and hash are never used.
    """
    top = embed_depth == 0
    defects = list(defects) if defects else []
    hint = _charset_hint(message, budget.limits)
    headers = _raw_headers(message)

    def first(name: str) -> str | None:
        values = headers.get(name)
        return values[0] if values else None

    def note_all(messages: list[str], where: str) -> None:
        for item in messages:
            entry = f"{where}: {item}"
            if entry not in defects:
                defects.append(entry)

    subject = ""
    if first("subject") is not None:
        subject, notes = decode_header(first("subject"), hint)
        note_all(notes, "Subject")
    senders = parse_addresses(headers.get("from", []), hint)
    if not senders:
        for fallback in ("sender", "reply-to", "return-path"):
            senders = parse_addresses(headers.get(fallback, []), hint)
            if senders:
                defects.append(f"From: missing or unparseable; address taken from {fallback}")
                break
        else:
            defects.append("From: missing or unparseable")
    from_name, from_addr = senders[0] if senders else ("", None)
    date, date_notes = parse_date(first("date"))
    note_all(date_notes, "Date")
    message_id = parse_msgid(first("message-id"))
    if message_id is None:
        defects.append("Message-ID: missing or unparseable")

    collector = MimeCollector(
        hint, embed_depth, defects, _build, budget=budget, nesting=nesting, keep_data=top
    )
    if read_body:
        collector.walk(message)

    readable = (body.readable().strip("\n") for body in collector.bodies)
    text = "\n\n".join(part for part in readable if part.strip())
    if not text and collector.status_texts:
        text = "\n\n".join(t.strip("\n") for t in collector.status_texts)
    # One join rather than one copy of the growing text per forwarded message.
    blocks = [_forward_block(inner) for inner in collector.forwarded]
    text = "\n\n".join([text, *blocks] if text else blocks)
    htmls = [body.html for body in collector.bodies if body.html]
    html = sanitize_html("\n".join(htmls)).strip() if htmls else None

    referenced = {
        urllib.parse.unquote(ref).lower() for markup in htmls for ref in _CID_REF_RE.findall(markup)
    }
    attachments = [
        _finish(draft, index, referenced) for index, draft in enumerate(collector.drafts, 1)
    ]

    dsn: DeliveryReport | None = None
    if collector.status_texts:
        dsn = build_delivery_report(
            collector.status_texts, collector.returned_id, collector.returned_subject
        )
    auto_kind = classify_auto(headers, from_addr, from_name, subject, collector.report_type)
    # A body left unread (or a parse stopped at a limit) makes the stdlib report missing
    # boundaries and the like: noise next to the limit's own defect.
    complete = read_body and not budget.parse_stopped
    for item in _python_defects(message, budget.limits) if complete else []:
        if item not in defects:
            defects.append(item)
    text = text.rstrip()
    if top:
        text = _cap_text(text, budget)
        # Limits first: they say the result is partial, which matters most to the reader.
        defects[:0] = [note for note in budget.notes if note not in defects]
    # Without a single header field this was not a mail at all; text is only a best effort.
    parse_failed = not headers
    if parse_failed:
        defects.append("no header fields found: not an RFC 5322 message")
    return ParsedMail(
        message_id=message_id,
        in_reply_to=parse_msgid(first("in-reply-to")),
        references=parse_msgids(" ".join(headers.get("references", []))),
        from_addr=from_addr,
        from_name=from_name or None,
        to=_addresses(headers.get("to", []), hint),
        cc=_addresses(headers.get("cc", []), hint),
        reply_to=_addresses(headers.get("reply-to", []), hint),
        subject=subject,
        date=date,
        text=text,
        html=html,
        attachments=attachments,
        is_auto=auto_kind is not None,
        auto_kind=auto_kind,
        dsn=dsn,
        content_hash=content_hash(data) if top else "",
        defects=defects,
        parse_failed=parse_failed,
        limited=budget.limited if top else False,
    )


def _cap_text(text: str, budget: ParseBudget) -> str:
    """Cut the final text at ParseLimits.max_text_chars and mark any cut."""
    limit = budget.limits.max_text_chars
    if len(text) > limit:
        budget.note_text_cut()
        text = text[:limit]
    return text + TEXT_CUT_MARK if budget.text_cut else text


def _addresses(values: list[str], hint: str | None) -> list[str]:
    # One entry per mailbox, whatever the case it was written in; the first spelling wins.
    unique: dict[str, str] = {}
    for _name, addr in parse_addresses(list(values), hint):
        unique.setdefault(addr.lower(), addr)
    return list(unique.values())


def _finish(draft: PartDraft, index: int, referenced: set[str]) -> Attachment:
    cid = draft.content_id
    inline = (cid is not None and cid.lower() in referenced) or (
        draft.related and (cid is not None or draft.content_location is not None)
    )
    return Attachment(
        filename=_safe_filename(draft.filename, draft.content_type, index),
        content_type=draft.content_type,
        size=len(draft.data) if draft.omitted_size is None else draft.omitted_size,
        content_id=cid,
        inline=inline,
        data=draft.data,
        omitted=draft.omitted_size is not None,
    )


def _forward_block(inner: ParsedMail) -> str:
    sender = inner.from_addr or ""
    if inner.from_name and sender:
        sender = f"{inner.from_name} <{sender}>"
    lines = [_FORWARD_MARK, f"From: {sender}"]
    if inner.date is not None:
        lines.append(f"Date: {inner.date.isoformat()}")
    lines.append(f"Subject: {inner.subject}")
    if inner.to:
        lines.append("To: " + ", ".join(inner.to))
    return "\n".join(lines) + "\n\n" + inner.text


def _fallback(data: bytes, reason: str, limits: ParseLimits = DEFAULT_LIMITS) -> ParsedMail:
    """Return a best-effort result when the structured parse failed outright."""
    subject = ""
    text = ""
    budget = ParseBudget(limits)
    try:
        match = _SUBJECT_SNIFF_RE.search(data[:65536])
        if match:
            subject = decode_header(match.group(1).decode("utf-8", errors="surrogateescape"))[0]
    except Exception:  # noqa: BLE001, S110 - best effort only
        pass
    try:
        split = _HEADER_END_RE.search(data, 0, limits.max_header_bytes)
        start = split.end() if split else 0
        # Decode no more than the text limit can show: 4 bytes per character at most.
        allowed = limits.max_text_chars * 4
        if len(data) - start > allowed:
            budget.note_text_cut()
        body = data[start : start + allowed]
        text = _cap_text(normalise_newlines(decode_bytes(body).text).strip(), budget)
    except Exception:  # noqa: BLE001, S110 - best effort only
        pass
    try:
        digest = content_hash(data)
    except Exception:  # noqa: BLE001
        digest = hashlib.sha256(data).hexdigest()
    return ParsedMail(
        message_id=None,
        in_reply_to=None,
        references=[],
        from_addr=None,
        from_name=None,
        to=[],
        cc=[],
        reply_to=[],
        subject=subject,
        date=None,
        text=text,
        html=None,
        attachments=[],
        is_auto=False,
        auto_kind=None,
        dsn=None,
        content_hash=digest,
        defects=[reason, *budget.notes],
        parse_failed=True,
        limited=budget.limited,
    )
