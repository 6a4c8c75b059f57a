"""Feeding the stdlib parser within limits: raw-payload messages, nesting and part budgets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy as email_policy
from email.feedparser import FeedParser
from email.message import Message
from email.policy import Policy

from support.mail.parsing_headers import header_bytes
from support.mail.parsing_types import DEFAULT_LIMITS, ParseLimits

# The stdlib parser recurses once per nesting level and hits Python's recursion limit at a
# few hundred levels. It is stopped at this depth, or at max_nesting + 1 if that is deeper:
# deep enough that a forwarded chain past max_nesting is still parsed whole, so its .eml
# attachment is complete and the parts after it are read.
_PARSER_MAX_DEPTH = 100

# Input is fed to the stdlib parser in slices this big, so that no str copy of the whole mail
# is ever built and the part count can be checked as parsing goes.
_FEED_CHUNK = 32 * 1024


@dataclass
class ParseBudget:
    """What is left of the ParseLimits during one parse, shared by every part and forward."""

    limits: ParseLimits
    parsed_parts: int = 0
    walked_parts: int = 0
    kept_attachments: int = 0
    text_left: int = 0
    html_left: int = 0
    text_cut: bool = False
    parse_stopped: bool = False
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.text_left = self.limits.max_text_chars
        self.html_left = self.limits.max_html_bytes

    @property
    def limited(self) -> bool:
        """Tell whether any limit has triggered."""
        return bool(self.notes)

    def note(self, message: str) -> None:
        """Record that a limit triggered, once per kind."""
        if message not in self.notes:
            self.notes.append(message)

    def note_parts(self) -> None:
        """Record that the part limit stopped reading."""
        self.note(
            f"limit: more than {self.limits.max_parts} MIME parts; the rest were not read "
            "(they remain in the stored raw message)"
        )

    def note_nesting(self) -> None:
        """Record that the nesting limit stopped reading."""
        self.note(
            f"limit: parts nested too deep (more than {self.limits.max_nesting} levels of "
            "multipart or message/rfc822); inner parts were not read"
        )

    def note_text_cut(self) -> None:
        """Record that the text was cut."""
        self.text_cut = True
        self.note(
            f"limit: text longer than {self.limits.max_text_chars:,} characters was cut; "
            "the full text is only in the stored raw message"
        )


class TooDeep(Exception):
    """Raised inside the stdlib parser to stop it before it recurses too deep."""


class RawMessage(Message):
    """Message that exposes its undecoded payload octets and knows how deep it sits."""

    def __init__(self, policy: Policy = email_policy.compat32, max_depth: int | None = None):
        super().__init__(policy)
        self.depth = 0
        self.max_depth = max_depth

    def attach(self, payload: Message | str) -> None:
        """Add a sub-part, refusing to go deeper than ``max_depth``."""
        if isinstance(payload, RawMessage):
            payload.depth = self.depth + 1
            if self.max_depth is not None and payload.depth > self.max_depth:
                raise TooDeep
        super().attach(payload)

    def raw_text(self) -> str | None:
        """Return the stored payload str (octets as surrogate escapes), or None."""
        payload = getattr(self, "_payload", None)
        return payload if isinstance(payload, str) else None

    def raw_payload(self) -> bytes:
        """Return the body octets exactly as received, before any charset decoding."""
        # get_payload() re-decodes 8-bit bodies with the declared charset and errors="replace",
        # which destroys mislabelled Japanese text; the stored string still has every octet.
        payload = self.raw_text()
        return b"" if payload is None else header_bytes(payload)


def raw_payload_of(part: Message) -> bytes:
    if isinstance(part, RawMessage):
        return part.raw_payload()
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


class _Factory:
    """Make the parser's messages, counting them against the budget."""

    def __init__(self, budget: ParseBudget) -> None:
        self.budget = budget
        self.max_depth = max(_PARSER_MAX_DEPTH, budget.limits.max_nesting + 1)
        self.root: RawMessage | None = None
        self.armed = False  # FeedParser calls the factory once to probe it; that one is no part

    def __call__(self, policy: Policy = email_policy.compat32) -> RawMessage:
        message = RawMessage(policy, self.max_depth)
        if self.armed:
            self.budget.parsed_parts += 1
            if self.root is None:
                self.root = message
        return message


class MailParser:
    """Lenient bytes parser whose messages keep their raw payload octets, within limits."""

    def parsebytes(
        self,
        data: bytes,
        *,
        budget: ParseBudget | None = None,
        prefix: bytes = b"",
        start: int = 0,
    ) -> Message:
        """Parse ``prefix`` + ``data[start:]``, stopping at the part and nesting limits."""
        budget = budget if budget is not None else ParseBudget(DEFAULT_LIMITS)
        factory = _Factory(budget)
        parser = FeedParser(factory, policy=email_policy.compat32)
        factory.armed = True
        try:
            for chunk in _chunks(prefix, data, start):
                parser.feed(chunk)
                if budget.parsed_parts > budget.limits.max_parts:
                    budget.note_parts()
                    budget.parse_stopped = True
                    break
            return parser.close()
        except TooDeep:
            # The parser is dead, but everything it read hangs off the root already.
            budget.note_nesting()
            budget.parse_stopped = True
            return factory.root if factory.root is not None else RawMessage()


def _chunks(prefix: bytes, data: bytes, start: int) -> Iterator[str]:
    """Yield the input as str slices, as the stdlib bytes parser would see it."""
    if prefix:
        yield str(prefix, "ascii", "surrogateescape")
    view = memoryview(data)
    for pos in range(start, len(data), _FEED_CHUNK):
        yield str(view[pos : pos + _FEED_CHUNK], "ascii", "surrogateescape")


def make_parser() -> MailParser:
    """Return a lenient bytes parser whose messages keep their raw payload octets."""
    return MailParser()
