"""The one-line JSON summary of a parsed mail that `support mail parse --json` prints."""

from __future__ import annotations

from typing import Any

from support.mail.parsing_types import ParsedMail


def summarise(file: str, parsed: ParsedMail) -> dict[str, Any]:
    """Return the summary of one parsed file."""
    problems = list(parsed.defects)
    if parsed.parse_failed and not problems:
        problems.append("parse failed")
    return {
        "file": file,
        "message_id": f"<{parsed.message_id}>" if parsed.message_id else None,
        "from": parsed.from_addr,
        "to": list(parsed.to),
        "cc": list(parsed.cc),
        "subject": parsed.subject,
        "date": parsed.date.isoformat() if parsed.date else None,
        "text": parsed.text,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in parsed.attachments
            if not a.inline
        ],
        "is_auto": parsed.is_auto,
        "auto_kind": parsed.auto_kind if parsed.auto_kind in ("auto_reply", "bounce") else None,
        "problems": problems,
    }
