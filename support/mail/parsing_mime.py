"""MIME tree walking for inbound mail: bodies, attachments, reports and forwarded parts."""

from __future__ import annotations

import binascii
import contextlib
import io
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email import policy as email_policy
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesParser

from support.mail.parsing_charsets import decode_bytes
from support.mail.parsing_headers import (
    HeaderParams,
    decode_header,
    header_bytes,
    parse_content_type,
    parse_msgid,
    parse_params,
    unfold,
)
from support.mail.parsing_html import html_to_text, is_pathological_html
from support.mail.parsing_types import ParsedMail

MAX_MIME_DEPTH = 40
MAX_EMBED_DEPTH = 4
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
_DIGITS_RE = re.compile(r"[0-9]+")
_LINKISH_RE = re.compile(r"(?:https?|ftp|mailto|tel|cid):\S+|\S+@\S+|<[^<>\s]*>", re.I)
_B64_CLEAN_RE = re.compile(rb"[^A-Za-z0-9+/=]")
_B64_SEGMENT_RE = re.compile(rb"[A-Za-z0-9+/]+=*")
_B64_ALPHABET = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n \t"
)


# --- decoding helpers --------------------------------------------------------------------


def _numbers(text: str) -> list[str]:
    """Return the sorted numbers of a text, ignoring URLs and addresses (links differ)."""
    text = _LINKISH_RE.sub(" ", unicodedata.normalize("NFKC", text))
    return sorted(_DIGITS_RE.findall(text))


def _transfer_encoding(value: object | None) -> str:
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


def _decode_base64(data: bytes) -> bytes:
    if b"=" not in data.rstrip(b"\r\n\t ="):
        # Fast path for the usual single chunk: a2b_base64 skips line breaks by itself.
        with contextlib.suppress(binascii.Error, ValueError):
            return binascii.a2b_base64(data)
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


def _decode_uu_lines(lines: Sequence[str]) -> bytes:
    return b"".join(_uu_line(line.rstrip("\r")) for line in lines)


def _decode_uu_payload(data: bytes) -> bytes:
    text = data.decode("ascii", errors="replace")
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("begin ")), -1)
    body = lines[start + 1 :] if start >= 0 else lines
    end = next((i for i, line in enumerate(body) if line.strip() == "end"), len(body))
    return _decode_uu_lines(body[:end])


@dataclass
class PartDraft:
    """A non-body part on its way to becoming an Attachment."""

    filename: str | None
    content_type: str
    data: bytes
    content_id: str | None
    content_location: str | None
    related: bool


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
    """Mutable state of one walk over a MIME tree."""

    hint: str | None
    embed_depth: int
    defects: list[str]
    build: Callable[[Message, bytes, int], ParsedMail]
    bodies: list[Body] = field(default_factory=list)
    drafts: list[PartDraft] = field(default_factory=list)
    forwarded: list[ParsedMail] = field(default_factory=list)
    status_texts: list[str] = field(default_factory=list)
    returned_id: str | None = None
    returned_subject: str | None = None
    report_type: str | None = None

    def child(self) -> MimeCollector:
        """Return a fresh collector sharing this walk's hint, depth and defect list."""
        return MimeCollector(self.hint, self.embed_depth, self.defects, self.build)

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
        data = _raw_payload(part)
        cte = _transfer_encoding(header_value(part, "content-transfer-encoding"))
        if cte == "base64":
            junk = sum(1 for b in data[:4096] if b not in _B64_ALPHABET)
            if junk > len(data[:4096]) // 20:
                self.note("Content-Transfer-Encoding base64 but body is not base64; kept raw")
                return data
            return _decode_base64(data)
        if cte == "quoted-printable":
            return binascii.a2b_qp(data)
        if cte == "x-uuencode":
            return _decode_uu_payload(data)
        if cte.startswith("unknown:"):
            self.note(f"unknown Content-Transfer-Encoding {cte[8:]!r}; body kept raw")
        return data

    # -- the walk --

    def walk(self, part: Message, depth: int = 0, related: bool = False) -> None:
        """Collect bodies, attachments and report data from a part and its children."""
        if depth > MAX_MIME_DEPTH:
            self.note("MIME nesting too deep; inner parts ignored")
            return
        ct = self.content_type(part)
        is_list = isinstance(part.get_payload(), list)
        if ct.value in ("message/rfc822", "message/global", "message/news"):
            self.embedded(part, ct, related)
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
        if _numbers(text) != _numbers(html_text):
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
                headers = make_parser().parsebytes(self.payload(sub))
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
            parsed = make_parser().parsebytes(self.payload(part))
            self.returned_headers(parsed)

    def returned_headers(self, headers: Message) -> None:
        """Take Message-ID and Subject from returned headers."""
        self.returned_id = self.returned_id or parse_msgid(header_value(headers, "message-id"))
        if self.returned_subject is None and header_value(headers, "subject") is not None:
            self.returned_subject = decode_header(header_value(headers, "subject"), self.hint)[0]

    def embedded(self, part: Message, ct: HeaderParams, related: bool) -> None:
        """Keep a message/rfc822 part as an .eml attachment and parse it for its text."""
        disposition = self.disposition(part)
        cte = _transfer_encoding(header_value(part, "content-transfer-encoding"))
        inner_payload = part.get_payload()
        if isinstance(inner_payload, list) and cte not in ("base64", "quoted-printable"):
            head = inner_payload[0] if inner_payload else None
            inner_message = head if isinstance(head, Message) else Message()
            data = message_bytes(inner_message)
        else:
            if isinstance(inner_payload, list):
                # Illegal but seen: an encoded message/rfc822, which the parser has misread as
                # a message. Serialise what it read, undo the encoding, then parse afresh.
                self.note(f"message/rfc822 with {cte} transfer encoding")
                raw = b"".join(message_bytes(m) for m in inner_payload if isinstance(m, Message))
                data = _decode_base64(raw) if cte == "base64" else binascii.a2b_qp(raw)
            else:
                data = self.payload(part)
            inner_message = make_parser().parsebytes(data)
        inner: ParsedMail | None = None
        if self.embed_depth < MAX_EMBED_DEPTH:
            inner = self.build(inner_message, data, self.embed_depth + 1)
            self.forwarded.append(inner)
            for defect in inner.defects:
                if "nested too deep" in defect:
                    self.note(defect)
        else:
            self.note("forwarded messages nested too deep; innermost kept only as attachment")
        filename = disposition.params.get("filename") or ct.params.get("name")
        if not filename:
            subject = inner.subject if inner is not None else ""
            filename = (subject[:80] or "forwarded_message") + ".eml"
        self.drafts.append(
            PartDraft(
                filename=filename,
                content_type="message/rfc822",
                data=data,
                content_id=parse_msgid(header_value(part, "content-id")),
                content_location=None,
                related=related,
            )
        )

    def leaf(self, part: Message, ct: HeaderParams, related: bool) -> None:
        """Classify a single part as text body, HTML body or attachment."""
        disposition = self.disposition(part)
        filename = disposition.params.get("filename") or ct.params.get("name")
        is_body = disposition.value != "attachment" and not filename
        data = self.payload(part)
        if is_body and ct.value == "text/plain":
            text = self.decode_text(data, ct)
            if (ct.params.get("format") or "").lower() == "flowed":
                text = _unflow(text, (ct.params.get("delsp") or "").lower() == "yes")
            self.bodies.append(Body(self.extract_uuencoded(text), None))
            return
        if is_body and ct.value == "text/html":
            self.bodies.append(Body(None, self.decode_html(data, ct)))
            return
        self.drafts.append(
            PartDraft(
                filename=filename,
                content_type=ct.value,
                data=data,
                content_id=parse_msgid(header_value(part, "content-id")),
                content_location=_location(header_value(part, "content-location")),
                related=related,
            )
        )

    def decode_text(self, data: bytes, ct: HeaderParams) -> str:
        """Decode a text body to str with charset detection, noting problems."""
        decoded = decode_bytes(data, ct.params.get("charset"))
        if decoded.note:
            self.note(f"{ct.value} body: {decoded.note}")
        elif not decoded.clean:
            self.note(f"{ct.value} body: undecodable bytes replaced")
        return normalise_newlines(decoded.text)

    def decode_html(self, data: bytes, ct: HeaderParams) -> str:
        """Decode an HTML body, taking the charset from a meta tag when undeclared."""
        if not ct.params.get("charset"):
            match = _META_CHARSET_RE.search(data[:8192])
            if match:
                sniffed = match.group(1).decode("ascii", errors="replace")
                ct = HeaderParams(value=ct.value, params={**ct.params, "charset": sniffed})
        markup = self.decode_text(data, ct)
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
            data = _decode_uu_lines(lines)
            if not data:
                continue
            name = match.group("name").strip()
            self.drafts.append(PartDraft(name, _guess_type(name), data, None, None, False))
            pieces.append(text[pos : match.start()])
            pos = end.end()
        pieces.append(text[pos:])
        return "".join(pieces)


def header_value(part: Message, name: str) -> str | None:
    """Return the first raw value of a header, octets intact (as surrogate escapes)."""
    # Message.get() turns 8-bit values into Header objects whose str() loses the octets.
    for key, value in part.raw_items():
        if str(key).lower() == name:
            return str(value)
    return None


class _RawMessage(Message):
    """Message that exposes its undecoded payload octets."""

    def raw_payload(self) -> bytes:
        """Return the body octets exactly as received, before any charset decoding."""
        # get_payload() re-decodes 8-bit bodies with the declared charset and errors="replace",
        # which destroys mislabelled Japanese text; the stored string still has every octet.
        payload = getattr(self, "_payload", None)
        if payload is None or isinstance(payload, list):
            return b""
        return header_bytes(payload)


def _raw_payload(part: Message) -> bytes:
    if isinstance(part, _RawMessage):
        return part.raw_payload()
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def make_parser() -> BytesParser:
    """Return a lenient bytes parser whose messages keep their raw payload octets."""
    return BytesParser(_class=_RawMessage, policy=email_policy.compat32)


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


def normalise_newlines(text: str) -> str:
    """Turn CRLF and lone CR into LF and drop NUL characters."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _unflow(text: str, delsp: bool) -> str:
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
