"""The exact outbound message: its canonical snapshot, SHA-256, diff, and MIME bytes (pure)."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

UTF8 = "utf-8"
ISO2022JP = "iso-2022-jp"
MAX_REFERENCES = 20


@dataclass(frozen=True, slots=True)
class AttachmentFile:
    """One file attached to an outbound message."""

    filename: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        """Return the hex SHA-256 of the bytes."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True)
class Threading:
    """The headers that place a reply in its thread."""

    in_reply_to: str | None = None
    references: Sequence[str] = ()


def snapshot(
    *,
    from_addr: str,
    to: Sequence[str],
    cc: Sequence[str],
    bcc: Sequence[str],
    subject: str,
    body: str,
    attachments: Iterable[AttachmentFile] = (),
) -> dict[str, Any]:
    """Return the canonical description of a message: everything an approval is bound to."""
    return {
        "from": from_addr,
        "to": list(to),
        "cc": list(cc),
        "bcc": list(bcc),
        "subject": subject,
        "body": body,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "sha256": a.sha256}
            for a in attachments
        ],
    }


def message_hash(snap: dict[str, Any]) -> str:
    """Return the SHA-256 (hex) of a snapshot in canonical JSON."""
    canonical = json.dumps(snap, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def lines(snap: dict[str, Any] | None) -> list[str]:
    """Return a snapshot as the lines an approver reads: headers, attachments, then the body."""
    if not snap:
        return []
    out = [
        f"From: {snap.get('from', '')}",
        f"To: {', '.join(snap.get('to', []))}",
        f"Cc: {', '.join(snap.get('cc', []))}",
        f"Bcc: {', '.join(snap.get('bcc', []))}",
        f"Subject: {snap.get('subject', '')}",
    ]
    out += [
        f"Attachment: {a['filename']} ({a['content_type']}, sha256 {a['sha256'][:12]})"
        for a in snap.get("attachments", [])
    ]
    out.append("")
    out += str(snap.get("body", "")).splitlines()
    return out


def unified_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """Return a line-based unified diff from the earlier version (or nothing) to this one."""
    return "\n".join(
        difflib.unified_diff(
            lines(before),
            lines(after),
            fromfile="前回承認・送信した版" if before else "（なし）",
            tofile="今回の版",
            lineterm="",
        )
    )


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def choose_charset(recipients: Iterable[str], iso2022jp_domains: Iterable[str], text: str) -> str:
    """Return ISO-2022-JP when a recipient's domain needs it and the text fits, else UTF-8."""
    wanted = {d.strip().lower().lstrip(".") for d in iso2022jp_domains if d.strip()}
    needs = any(
        domain == w or domain.endswith("." + w)
        for domain in (_domain(r) for r in recipients)
        for w in wanted
    )
    if not needs:
        return UTF8
    try:
        text.encode(ISO2022JP)
    except UnicodeEncodeError:
        # Characters outside JIS X 0208 (①, 髙, emoji): UTF-8 keeps them; mojibake is worse.
        return UTF8
    return ISO2022JP


def build_mime(
    *,
    snap: dict[str, Any],
    attachments: Sequence[AttachmentFile],
    message_id: str,
    threading: Threading,
    date: datetime,
    charset: str,
) -> bytes:
    """Return the RFC 5322 bytes of the message described by a snapshot (Bcc not shown)."""
    body = str(snap["body"])
    if not body.endswith("\n"):
        body += "\n"
    # UTF-8 goes base64 (the email package's choice), ISO-2022-JP 7bit: clean for any relay.
    text = MIMEText(body, "plain", charset)
    mail: MIMEBase
    if attachments:
        mail = MIMEMultipart("mixed")
        mail.attach(text)
        for item in attachments:
            maintype, _, subtype = item.content_type.partition("/")
            part = MIMEApplication(item.data, _subtype=subtype or "octet-stream")
            if maintype != "application":
                part.replace_header("Content-Type", item.content_type)
            part.add_header(
                "Content-Disposition", "attachment", filename=("utf-8", "", item.filename)
            )
            mail.attach(part)
    else:
        mail = text
    mail["From"] = str(snap["from"])
    if snap["to"]:
        mail["To"] = ", ".join(snap["to"])
    if snap["cc"]:
        mail["Cc"] = ", ".join(snap["cc"])
    mail["Subject"] = Header(str(snap["subject"]), charset).encode()
    mail["Date"] = format_datetime(date)
    mail["Message-ID"] = f"<{message_id}>"
    if threading.in_reply_to:
        mail["In-Reply-To"] = f"<{threading.in_reply_to}>"
    refs = [r for r in threading.references if r][-MAX_REFERENCES:]
    if refs:
        mail["References"] = " ".join(f"<{r}>" for r in refs)
    return mail.as_bytes(policy=SMTP)
