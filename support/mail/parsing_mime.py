"""MIME tree walking for inbound mail: bodies, attachments, reports and forwarded parts."""

from __future__ import annotations

import binascii
import html
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import Message

from support.mail.parsing_charsets import decode_bytes
from support.mail.parsing_decode import (
    B64_ALPHABET,
    decode_base64,
    decode_uu_lines,
    decode_uu_payload,
    normalise_newlines,
    numbers_in,
    transfer_encoding,
    unflow,
)
from support.mail.parsing_feed import ParseBudget, RawMessage, make_parser, raw_payload_of
from support.mail.parsing_headers import (
    HeaderParams,
    decode_header,
    header_bytes,
    parse_content_type,
    parse_msgid,
    parse_params,
    unfold,
)
from support.mail.parsing_html import crude_text, html_to_text, is_pathological_html
from support.mail.parsing_types import DEFAULT_LIMITS, ParsedMail

# HTML over ParseLimits.max_html_bytes is reduced to text this many bytes (at least) at a time.
_HTML_WINDOW = 256 * 1024
# Content-Encoding values that mean compressed data; those parts are never decompressed.
_COMPRESSED = frozenset({"gzip", "x-gzip", "deflate", "compress", "x-compress", "br", "zstd"})
EXTENSIONS = {
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/ms-tnef": ".dat",
    "application/vnd.ms-tnef": ".dat",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/pgp-signature": ".asc",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/heic": ".heic",
    "image/webp": ".webp",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/csv": ".csv",
    "text/calendar": ".ics",
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
}
_IGNORED_ALTERNATIVES = frozenset({"text/watch-html", "text/x-amp-html"})
_META_CHARSET_RE = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_UU_BEGIN_RE = re.compile(r"^begin [0-7]{3,4} (?P<name>[^\r\n]+?)[ \t]*\r?$", re.M)
_UU_END_RE = re.compile(r"^end[ \t]*\r?$", re.M)
_UU_BEGIN_BYTES_RE = re.compile(rb"^begin [0-7]{3,4} ", re.M)


@dataclass
class PartDraft:
    """A non-body part on its way to becoming an Attachment."""

    filename: str | None
    content_type: str
    data: bytes
    content_id: str | None
    content_location: str | None
    related: bool
    # Set when the data was left out (ParseLimits.max_attachments): its decoded size.
    omitted_size: int | None = None


@dataclass
class Body:
    """One readable body: plain text, HTML, or both when they are alternatives."""

    text: str | None
    html: str | None

    def readable(self) -> str:
        """Return the text to show: the plain text, else text extracted from the HTML."""
        if self.text is not None and self.text.strip():
            return self.text
        return html_to_text(self.html) if self.html else ""


@dataclass
class MimeCollector:
    """Mutable state of one walk over a MIME tree.

    ``nesting`` is how many containers enclose the walked message (it is above zero for a
    forwarded message); ``keep_data`` is False for forwarded messages, which are read only
    for their text because the whole forward is already kept as one .eml attachment.
    """

    hint: str | None
    embed_depth: int
    defects: list[str]
    build: Callable[[Message, bytes, ParseBudget, int, int], ParsedMail]
    budget: ParseBudget = field(default_factory=lambda: ParseBudget(DEFAULT_LIMITS))
    nesting: int = 0
    keep_data: bool = True
    bodies: list[Body] = field(default_factory=list)
    drafts: list[PartDraft] = field(default_factory=list)
    forwarded: list[ParsedMail] = field(default_factory=list)
    status_texts: list[str] = field(default_factory=list)
    returned_id: str | None = None
    returned_subject: str | None = None
    report_type: str | None = None

    def child(self) -> MimeCollector:
        """Return a fresh collector sharing this walk's hint, depth, budget and defect list."""
        return MimeCollector(
            self.hint,
            self.embed_depth,
            self.defects,
            self.build,
            budget=self.budget,
            nesting=self.nesting,
            keep_data=self.keep_data,
        )

    def merge(self, other: MimeCollector) -> None:
        """Take over everything but the bodies, which the caller chooses."""
        self.drafts.extend(other.drafts)
        self.forwarded.extend(other.forwarded)
        self.status_texts.extend(other.status_texts)
        self.returned_id = self.returned_id or other.returned_id
        self.returned_subject = self.returned_subject or other.returned_subject
        self.report_type = self.report_type or other.report_type

    def note(self, message: str) -> None:
        """Record a defect once."""
        if message not in self.defects:
            self.defects.append(message)

    # -- part access --

    def content_type(self, part: Message) -> HeaderParams:
        """Parse a part's Content-Type, noting problems."""
        parsed = parse_content_type(
            header_value(part, "content-type"), part.get_default_type(), self.hint
        )
        for message in parsed.notes:
            self.note(f"Content-Type: {message}")
        return parsed

    def disposition(self, part: Message) -> HeaderParams:
        """Parse a part's Content-Disposition (empty value when absent)."""
        raw = header_value(part, "content-disposition")
        if raw is None:
            return HeaderParams(value="")
        parsed = parse_params(raw, self.hint)
        for message in parsed.notes:
            self.note(f"Content-Disposition: {message}")
        return parsed

    def payload(self, part: Message) -> bytes:
        """Return a part's body octets with the transfer encoding undone."""
        payload = part.get_payload()
        if isinstance(payload, list):
            return b"".join(message_bytes(sub) for sub in payload if isinstance(sub, Message))
        cte = transfer_encoding(header_value(part, "content-transfer-encoding"))
        if cte == "base64":
            stored = part.raw_text() if isinstance(part, RawMessage) else None
            sample = header_bytes(stored[:4096]) if stored is not None else b""
            if stored is not None and stored.isascii() and _is_base64(sample):
                # Decoding the parser's str directly saves a bytes copy of the whole payload.
                return decode_base64(stored)
            data = raw_payload_of(part)
            if not _is_base64(data[:4096]):
                self.note("Content-Transfer-Encoding base64 but body is not base64; kept raw")
                return data
            return decode_base64(data)
        data = raw_payload_of(part)
        if cte == "quoted-printable":
            return binascii.a2b_qp(data)
        if cte == "x-uuencode":
            return decode_uu_payload(data)
        if cte.startswith("unknown:"):
            self.note(f"unknown Content-Transfer-Encoding {cte[8:]!r}; body kept raw")
        return data

    # -- the walk --

    def walk(self, part: Message, depth: int = 0, related: bool = False) -> None:
        """Collect bodies, attachments and report data from a part and its children."""
        if self.nesting + depth > self.budget.limits.max_nesting:
            self.budget.note_nesting()
            return
        self.budget.walked_parts += 1
        if self.budget.walked_parts > self.budget.limits.max_parts:
            self.budget.note_parts()
            return
        ct = self.content_type(part)
        is_list = isinstance(part.get_payload(), list)
        if ct.value in ("message/rfc822", "message/global", "message/news"):
            self.embedded(part, ct, related, depth)
        elif ct.value in ("message/delivery-status", "message/global-delivery-status"):
            self.status_texts.append(self.decode_text(self.payload(part), ct))
        elif is_list and ct.value.startswith("multipart/"):
            self.multipart(part, ct, depth)
        elif is_list:
            # A message/* type that the parser expanded into sub-parts: walk them.
            self.multipart(part, HeaderParams(value="multipart/mixed"), depth)
        else:
            if ct.value.startswith("multipart/"):
                self.note(f"{ct.value} without usable boundary; read as plain text")
                ct = HeaderParams(value="text/plain", params=ct.params)
            self.leaf(part, ct, related)

    def multipart(self, part: Message, ct: HeaderParams, depth: int) -> None:
        """Dispatch a multipart container on its subtype."""
        subparts = [sub for sub in part.get_payload() if isinstance(sub, Message)]
        subtype = ct.value.split("/", 1)[1]
        if subtype == "alternative":
            self.alternative(subparts, depth)
        elif subtype == "related":
            self.related(subparts, ct, depth)
        elif subtype == "report":
            self.report(subparts, ct, depth)
        else:
            if subtype == "encrypted":
                self.note("encrypted message: content cannot be read")
            for sub in subparts:
                self.walk(sub, depth + 1)

    def alternative(self, subparts: list[Message], depth: int) -> None:
        """Pick the plain-text and HTML alternatives; keep every attachment."""
        branches: list[MimeCollector] = []
        for sub in subparts:
            if self.content_type(sub).value in _IGNORED_ALTERNATIVES:
                continue
            branch = self.child()
            branch.walk(sub, depth + 1)
            branches.append(branch)
            self.merge(branch)
        plain = next(
            (b for b in branches if any(body.text and body.text.strip() for body in b.bodies)),
            None,
        )
        rich = next((b for b in reversed(branches) if any(body.html for body in b.bodies)), None)
        text = "\n\n".join(body.readable() for body in plain.bodies) if plain else None
        markup = "\n".join(body.html for body in rich.bodies if body.html) if rich else None
        if text is not None and markup is not None and plain is not rich:
            text = self.compare_alternatives(text, markup)
        if text is not None or markup is not None:
            self.bodies.append(Body(text, markup))

    def compare_alternatives(self, text: str, markup: str) -> str:
        """Return the text to use, noting when the two alternatives tell different stories."""
        html_text = html_to_text(markup)
        if len(text.strip()) < 20 and len(html_text) > 200:
            self.note("text/plain alternative is only a placeholder; text taken from HTML")
            return html_text
        if numbers_in(text) != numbers_in(html_text):
            self.note(
                "text/plain and text/html alternatives disagree (different numbers); "
                "check the HTML version"
            )
        return text

    def related(self, subparts: list[Message], ct: HeaderParams, depth: int) -> None:
        """Walk a multipart/related: the root is the body, the rest are its resources."""
        if not subparts:
            return
        start = parse_msgid(ct.params.get("start"))
        root = 0
        if start:
            for index, sub in enumerate(subparts):
                if parse_msgid(header_value(sub, "content-id")) == start:
                    root = index
                    break
        for index, sub in enumerate(subparts):
            self.walk(sub, depth + 1, related=index != root)

    def report(self, subparts: list[Message], ct: HeaderParams, depth: int) -> None:
        """Read a multipart/report: human text first, then machine-readable parts."""
        self.report_type = (ct.params.get("report-type") or "unknown").lower()
        for index, sub in enumerate(subparts):
            sub_ct = self.content_type(sub)
            if index == 0 and sub_ct.value == "message/delivery-status":
                # Mislabelled human-readable part: show it and still mine it for fields.
                status = self.decode_text(self.payload(sub), sub_ct)
                self.status_texts.append(status)
                self.bodies.append(Body(status, None))
            elif index == 0:
                self.walk(sub, depth + 1)
            elif sub_ct.value in ("message/rfc822", "message/global"):
                self.returned_message(sub, sub_ct)
            elif sub_ct.value in ("text/rfc822-headers", "message/global-headers"):
                headers = make_parser().parsebytes(self.payload(sub), budget=self.budget)
                self.returned_headers(headers)
            elif sub_ct.value in ("message/disposition-notification",):
                continue
            else:
                self.walk(sub, depth + 1)

    def returned_message(self, part: Message, ct: HeaderParams) -> None:
        """Read the identity of the message a bounce returned."""
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            self.returned_headers(inner[0])
        else:
            parsed = make_parser().parsebytes(self.payload(part), budget=self.budget)
            self.returned_headers(parsed)

    def returned_headers(self, headers: Message) -> None:
        """Take Message-ID and Subject from returned headers."""
        self.returned_id = self.returned_id or parse_msgid(header_value(headers, "message-id"))
        if self.returned_subject is None and header_value(headers, "subject") is not None:
            self.returned_subject = decode_header(header_value(headers, "subject"), self.hint)[0]

    def embedded(self, part: Message, ct: HeaderParams, related: bool, depth: int) -> None:
        """Keep a message/rfc822 part as an .eml attachment and parse it for its text."""
        disposition = self.disposition(part)
        cte = transfer_encoding(header_value(part, "content-transfer-encoding"))
        inner_payload = part.get_payload()
        if isinstance(inner_payload, list) and cte not in ("base64", "quoted-printable"):
            head = inner_payload[0] if inner_payload else None
            inner_message = head if isinstance(head, Message) else Message()
            # Only the outermost forward is serialised: each deeper one is inside its bytes.
            data = message_bytes(inner_message) if self.keep_data else b""
        else:
            if isinstance(inner_payload, list):
                # Illegal but seen: an encoded message/rfc822, which the parser has misread as
                # a message. Serialise what it read, undo the encoding, then parse afresh.
                self.note(f"message/rfc822 with {cte} transfer encoding")
                raw = b"".join(message_bytes(m) for m in inner_payload if isinstance(m, Message))
                data = decode_base64(raw) if cte == "base64" else binascii.a2b_qp(raw)
            else:
                data = self.payload(part)
            inner_message = make_parser().parsebytes(data, budget=self.budget)
        inner = self.build(
            inner_message, data, self.budget, self.embed_depth + 1, self.nesting + depth + 1
        )
        self.forwarded.append(inner)
        filename = disposition.params.get("filename") or ct.params.get("name")
        if not filename:
            filename = (inner.subject[:80] or "forwarded_message") + ".eml"
        content_id = parse_msgid(header_value(part, "content-id"))
        self.add_draft(PartDraft(filename, "message/rfc822", data, content_id, None, related))

    def leaf(self, part: Message, ct: HeaderParams, related: bool) -> None:
        """Classify a single part as text body, HTML body or attachment."""
        disposition = self.disposition(part)
        filename = disposition.params.get("filename") or ct.params.get("name")
        is_body = disposition.value != "attachment" and not filename and not self.compressed(part)
        if is_body and ct.value == "text/plain":
            data = self.payload(part)
            # A uuencoded attachment is cut out before the text limit applies: cutting the
            # bytes first could cut a big one in half and lose it.
            whole = _UU_BEGIN_BYTES_RE.search(data) is not None
            text = self._decode(data, ct) if whole else self.decode_text(data, ct)
            if (ct.params.get("format") or "").lower() == "flowed":
                text = unflow(text, (ct.params.get("delsp") or "").lower() == "yes")
            text = self.extract_uuencoded(text)
            self.bodies.append(Body(self.charge(text) if whole else text, None))
            return
        if is_body and ct.value == "text/html":
            self.bodies.append(self.html_body(self.payload(part), ct))
            return
        if not self.keep_data:
            return  # a forwarded message's attachments are inside its .eml already
        draft = PartDraft(
            filename=filename,
            content_type=ct.value,
            data=self.payload(part),
            content_id=parse_msgid(header_value(part, "content-id")),
            content_location=_location(header_value(part, "content-location")),
            related=related,
        )
        self.add_draft(draft)

    def compressed(self, part: Message) -> bool:
        """Tell whether a part declares compressed content, which is never decompressed."""
        value = header_value(part, "content-encoding")
        if value is None:
            return False
        coding = unfold(value).strip().lower()
        if coding not in _COMPRESSED:
            return False
        self.note(f"part with Content-Encoding {coding} kept as an attachment, not decompressed")
        return True

    def add_draft(self, draft: PartDraft) -> None:
        """Keep an attachment, or only list it once ParseLimits.max_attachments is reached."""
        if not self.keep_data:
            return
        limit = self.budget.limits.max_attachments
        if self.budget.kept_attachments >= limit:
            self.budget.note(
                f"limit: more than {limit} attachments; the rest are listed with name and "
                "size only, their data is only in the stored raw message"
            )
            draft.omitted_size = len(draft.data)
            draft.data = b""
        else:
            self.budget.kept_attachments += 1
        self.drafts.append(draft)

    def _decode(self, data: bytes, ct: HeaderParams) -> str:
        decoded = decode_bytes(data, ct.params.get("charset"))
        if decoded.note:
            self.note(f"{ct.value} body: {decoded.note}")
        elif not decoded.clean:
            self.note(f"{ct.value} body: undecodable bytes replaced")
        return normalise_newlines(decoded.text)

    def decode_text(self, data: bytes, ct: HeaderParams) -> str:
        """Decode a text body to str with charset detection, within the text limit."""
        budget = self.budget
        if budget.text_left <= 0:
            if data.strip():
                budget.note_text_cut()
            return ""
        # Text takes at most 4 bytes a character (UTF-8), so this many bytes hold all the
        # characters still allowed; the rest is never decoded. (Should escape-heavy
        # ISO-2022-JP need more, the cut is still marked.)
        allowed = budget.text_left * 4 + 4
        if len(data) > allowed:
            data = _cut_at_line_end(data, allowed)
            budget.note_text_cut()
        return self.charge(self._decode(data, ct))

    def charge(self, text: str) -> str:
        """Take decoded text from the text budget, cutting what is over it."""
        budget = self.budget
        if len(text) > budget.text_left:
            budget.note_text_cut()
            text = text[: max(budget.text_left, 0)]
        budget.text_left -= len(text)
        return text

    def html_body(self, data: bytes, ct: HeaderParams) -> Body:
        """Return an HTML body, or its tag-stripped text once ParseLimits.max_html_bytes is hit."""
        budget = self.budget
        ct = _html_charset(data, ct)
        if len(data) <= budget.html_left:
            budget.html_left -= len(data)
            return Body(None, self.decode_html(data, ct))
        budget.note(
            f"limit: HTML over {budget.limits.max_html_bytes:,} bytes was not sanitised or "
            "rendered; its text is shown as escaped plain text"
        )
        budget.html_left = 0
        # Window by window, so that a huge body is never decoded whole; windows end after a
        # ">", where no tag is cut and every Japanese charset is back in its initial state.
        window = max(budget.limits.max_html_bytes, _HTML_WINDOW)
        pieces: list[str] = []
        pos = 0
        while pos < len(data) and budget.text_left > 0:
            end = min(pos + window, len(data))
            if end < len(data):
                close = data.rfind(b">", pos, end)
                end = close + 1 if close >= pos else end
            text = crude_text(self._decode(data[pos:end], ct))
            if len(text) > budget.text_left:
                budget.note_text_cut()
                text = text[: budget.text_left]
            budget.text_left -= len(text)
            pieces.append(text)
            pos = end
        if pos < len(data):
            budget.note_text_cut()
        text = "\n".join(piece for piece in pieces if piece)
        return Body(text, "<pre>" + html.escape(text) + "</pre>")

    def decode_html(self, data: bytes, ct: HeaderParams) -> str:
        """Decode an HTML body, taking the charset from a meta tag when undeclared."""
        markup = self._decode(data, _html_charset(data, ct))
        if is_pathological_html(markup):
            self.note("HTML too deeply nested or malformed to render; shown as plain text")
        return markup

    def extract_uuencoded(self, text: str) -> str:
        """Cut uuencoded blocks out of a text body, turning them into attachments."""
        if "begin " not in text:
            return text
        pieces: list[str] = []
        pos = 0
        for match in _UU_BEGIN_RE.finditer(text):
            if match.start() < pos:
                continue
            end = _UU_END_RE.search(text, match.end())
            if end is None:
                break  # no "end" line further on, so no later block can be complete either
            lines = text[match.end() : end.start()].strip("\r\n").split("\n")
            data = decode_uu_lines(lines)
            if not data:
                continue
            name = match.group("name").strip()
            self.add_draft(PartDraft(name, _guess_type(name), data, None, None, False))
            pieces.append(text[pos : match.start()])
            pos = end.end()
        pieces.append(text[pos:])
        return "".join(pieces)


def _html_charset(data: bytes, ct: HeaderParams) -> HeaderParams:
    """Return the Content-Type with the charset of a meta tag when none is declared."""
    if ct.params.get("charset"):
        return ct
    match = _META_CHARSET_RE.search(data[:8192])
    if not match:
        return ct
    sniffed = match.group(1).decode("ascii", errors="replace")
    return HeaderParams(value=ct.value, params={**ct.params, "charset": sniffed})


def _is_base64(sample: bytes) -> bool:
    """Tell whether the start of a payload looks like base64 (at most 5% other bytes)."""
    junk = sum(1 for b in sample if b not in B64_ALPHABET)
    return junk <= len(sample) // 20


def _cut_at_line_end(data: bytes, limit: int) -> bytes:
    """Return at most ``limit`` bytes, ending at a line end when there is one near it."""
    # Every Japanese mail charset is back in its initial state at a line end (ISO-2022-JP
    # must switch back to ASCII before it), so a cut there decodes cleanly.
    end = data.rfind(b"\n", max(0, limit - 65536), limit)
    return data[: end + 1] if end >= 0 else data[:limit]


def header_value(part: Message, name: str) -> str | None:
    """Return the first raw value of a header, octets intact (as surrogate escapes)."""
    # Message.get() turns 8-bit values into Header objects whose str() loses the octets.
    for key, value in part.raw_items():
        if str(key).lower() == name:
            return str(value)
    return None


def _location(value: object | None) -> str | None:
    if value is None:
        return None
    text = unfold(header_bytes(value).decode("utf-8", errors="replace")).strip()
    return text or None


def _guess_type(filename: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    for content_type, suffix in EXTENSIONS.items():
        if suffix == "." + extension:
            return content_type
    return "application/octet-stream"


def message_bytes(message: Message) -> bytes:
    """Serialise a parsed (sub-)message back to bytes with CRLF line ends."""
    buffer = io.BytesIO()
    try:
        generator = BytesGenerator(buffer, mangle_from_=False, maxheaderlen=0)
        generator.flatten(message, linesep="\r\n")
    except Exception:  # noqa: BLE001 - a half-written message beats losing it entirely
        return buffer.getvalue()
    return buffer.getvalue()
