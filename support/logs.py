"""Structured JSON logging that masks personal data before anything leaves the process."""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import json
import logging
import math
import os
import re
import sys
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "support_request_id", default=None
)
user_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "support_user_id", default=None
)

MASK = "***"
LOG_FILE_ENV = "SUPPORT_LOG_FILE"
ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "alembic")

# --- character classes shared by the patterns ------------------------------------------------
# Full-width forms are listed next to ASCII because donors type them in mails and forms.
_D = "[0-9０-９]"
_ALNUM = "0-9０-９A-Za-zＡ-Ｚａ-ｚ"
_HYPHEN = "[-‐‑‒–—―−－ー﹣]"
_SPACE = "[ \u3000]"
# A digit run preceded by one of these is part of a larger token (ORD-2025-000423, a decimal,
# a path segment, a hex id), never the start of a phone number or postal code.
_TOKEN_BEFORE = rf"(?<![{_ALNUM}_.．/\\\-－‐+＋*#])"
# ...except right after a phone label, where Japanese writers often leave out the space.
_LABEL_BEFORE = r"(?<=tel)|(?<=fax)|(?<=tel\.)|(?<=fax\.)|(?<=tel-)|(?<=tel－)"

_EMAIL_RE = re.compile(
    # Start only at the beginning of a word: retrying inside a long token is quadratic.
    r"(?<![A-Za-z0-9Ａ-Ｚａ-ｚ０-９._%+'\-．＿＋－])"
    r"(?P<first>[A-Za-z0-9Ａ-Ｚａ-ｚ０-９_%+'＿＋])[A-Za-z0-9Ａ-Ｚａ-ｚ０-９._%+'\-．＿＋－]*"
    # %40: the address may sit URL-encoded in a logged query string.
    r"(?:[@＠]|%40)"
    r"(?:[A-Za-z0-9Ａ-Ｚａ-ｚ０-９](?:[A-Za-z0-9Ａ-Ｚａ-ｚ０-９\-－]*[A-Za-z0-9Ａ-Ｚａ-ｚ０-９])?[.．])+"
    r"(?P<tld>[A-Za-zＡ-Ｚａ-ｚ]{2,})"
    r"(?![A-Za-z0-9Ａ-Ｚａ-ｚ０-９\-－])"
)

_PREFECTURES = (
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
)
_ADDRESS_STOP = r"\s、。，,．.！!？?（）()「」『』【】［］\[\]<>＜＞\"'“”‘’：:;；/=|{}"
_JAPANESE_WORD = "\u3040-\u30ff\u4e00-\u9fff\u3005\uff66-\uff9f・"
_ADDRESS_RE = re.compile(
    rf"(?P<pref>{'|'.join(_PREFECTURES)})"
    # The municipality (…市, …区, …郡, …町, …村) must follow, so that a sentence merely naming
    # a prefecture (東京都在住) is left alone.
    rf"[^{_ADDRESS_STOP}]{{1,12}}?[市区町村郡][^{_ADDRESS_STOP}]*"
    # A building and room number after one space still belong to the address.
    rf"(?:{_SPACE}+[{_JAPANESE_WORD}][{_JAPANESE_WORD}A-Za-zＡ-Ｚａ-ｚ]*{_D}{{1,5}}(?:号室|号|室)?)?"
)
# Street numbers without a prefecture (…2丁目15番10号) pin down a house on their own.
_BLOCK_RE = re.compile(
    rf"(?<![0-9０-９])(?:{_D}+丁目{_D}+(?:(?:番地?|{_HYPHEN}){_D}+号?|番地?)?|{_D}+番地?{_D}+号)"
)

_POSTAL_RE = re.compile(
    rf"(?:〒{_SPACE}?{_D}{{3}}{_HYPHEN}?{_D}{{4}}|{_TOKEN_BEFORE}{_D}{{3}}{_HYPHEN}{_D}{{4}})"
    rf"(?![{_ALNUM}]|{_HYPHEN}{_D})"
)

# A phone candidate is a run of digit groups; which part of it is a phone is decided in code
# (digit count, leading 0 or +81) because a regex alone cannot count digits across groups.
_PHONE_SEP = rf"(?:{_SPACE}*(?:{_HYPHEN}|[()（）]){{1,2}}{_SPACE}*|{_SPACE}{{1,2}})"
_PHONE_RUN_RE = re.compile(
    rf"(?:{_TOKEN_BEFORE}|{_LABEL_BEFORE})"
    rf"(?:[+＋]{_SPACE}?)?[(（]?"
    # Grouped digits may run into letters (090-1234-5678FAX); a bare digit string may not, as
    # it could be the front of a hex id.
    rf"(?:{_D}+(?:{_PHONE_SEP}{_D}+)+(?![0-9０-９])|{_D}+(?![{_ALNUM}_]))",
    re.IGNORECASE,
)
_DIGIT_GROUP_RE = re.compile(f"{_D}+")
_HYPHEN_RE = re.compile(_HYPHEN)
_MIN_PHONE_DIGITS = 10
# +81 (0) 90 1234 5678 is the most groups a phone is written in; the bound keeps a long run of
# numbers linear.
_MAX_PHONE_GROUPS = 5

_SENSITIVE_KEYS = frozenset(
    {
        "name",
        "kana",
        "email",
        "phone",
        "tel",
        "address",
        "postal_code",
        "zip_code",
        "zipcode",
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "authorization",
        "cookie",
        "set_cookie",
        "mynumber",
        "my_number",
    }
)
_SENSITIVE_SUFFIXES = (
    "_email",
    "_phone",
    "_tel",
    "_name",
    "_kana",
    "_address",
    "_password",
    "_secret",
    "_token",
    "_postal_code",
)
_MAX_DEPTH = 8

# Attributes every LogRecord has; anything else on a record came from extra=.
_RECORD_ATTRS = frozenset(
    {
        "args",
        "asctime",
        "created",
        "exc_info",
        "exc_text",
        "filename",
        "funcName",
        "levelname",
        "levelno",
        "lineno",
        "message",
        "module",
        "msecs",
        "msg",
        "name",
        "pathname",
        "process",
        "processName",
        "relativeCreated",
        "stack_info",
        "taskName",
        "thread",
        "threadName",
        # uvicorn repeats the message with ANSI colours; it adds nothing to a JSON line.
        "color_message",
    }
)
_OUTPUT_KEYS = frozenset({"ts", "level", "logger", "msg", "request_id", "user_id", "exc", "stack"})


def _mask_email(match: re.Match[str]) -> str:
    first, tld = (unicodedata.normalize("NFKC", match[g]) for g in ("first", "tld"))
    return f"{first}{MASK}@{MASK}.{tld}"


def _mask_address(match: re.Match[str]) -> str:
    return f"{match['pref']}{MASK}"


def _phone_digits(groups: list[str], plus: bool) -> str | None:
    """Return the digits of groups if they form a Japanese phone number, else None."""
    digits = unicodedata.normalize("NFKC", "".join(groups))
    if plus:
        if not digits.startswith("81"):
            return None
        national = digits[2:]
        # +81 (0)90… and the common mistake +81 090… both carry a trunk 0 to drop.
        if national.startswith("0"):
            national = national[1:]
        return digits if 9 <= len(national) <= 10 and national[0] != "0" else None
    # 00… is an international prefix or a zero-padded counter, not a domestic number.
    if len(digits) in (10, 11) and digits[0] == "0" and digits[1] != "0":
        return digits
    return None


def _mask_phone_run(match: re.Match[str]) -> str:
    run = match.group(0)
    groups = list(_DIGIT_GROUP_RE.finditer(run))
    if sum(len(g.group(0)) for g in groups) < _MIN_PHONE_DIGITS:
        return run
    plus = run[:1] in "+＋"

    def separator(index: int) -> str:
        return run[groups[index - 1].end() : groups[index].start()]

    # A phone may start only at the run's start or after blanks or parentheses: a group right
    # after a hyphen (the 05 of 2025-01-05 1234 5678) continues whatever came before it.
    def may_start(i: int) -> bool:
        return i == 0 or _HYPHEN_RE.search(separator(i)) is None

    def longest_phone_from(i: int) -> tuple[int, str] | None:
        for j in range(min(len(groups), i + _MAX_PHONE_GROUPS) - 1, i - 1, -1):
            texts = [g.group(0) for g in groups[i : j + 1]]
            digits = _phone_digits(texts, plus and i == 0)
            if digits is not None:
                return j, digits
        return None

    pieces: list[str] = []
    cursor = 0
    i = 0
    while i < len(groups):
        found = longest_phone_from(i) if may_start(i) else None
        if found is None:
            i += 1
            continue
        j, digits = found
        pieces.append(run[cursor : 0 if i == 0 else groups[i].start()])
        pieces.append(f"[phone:**{digits[-2:]}]")
        cursor = groups[j].end()
        i = j + 1
    pieces.append(run[cursor:])
    return "".join(pieces)


def mask_pii(text: str) -> str:
    """Return text with e-mail addresses, phone numbers, postal codes and addresses masked."""
    text = _EMAIL_RE.sub(_mask_email, text)
    text = _ADDRESS_RE.sub(_mask_address, text)
    text = _POSTAL_RE.sub(f"〒{MASK}-****", text)
    text = _PHONE_RUN_RE.sub(_mask_phone_run, text)
    return _BLOCK_RE.sub(MASK, text)


def _is_sensitive_key(key: str) -> bool:
    norm = key.strip().lower().replace("-", "_")
    candidates = {norm, norm.removesuffix("s"), norm.removesuffix("es")}
    return any(c in _SENSITIVE_KEYS or c.endswith(_SENSITIVE_SUFFIXES) for c in candidates)


def _fields_of(value: object) -> object | None:
    """Return a dataclass's or a pydantic model's fields as plain data, else None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    # Pydantic models: their str() would print every field, names included.
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        fields: object = model_dump(mode="json")
        return fields
    return None


def _mask(key: str, value: object, depth: int) -> object:
    if _is_sensitive_key(key):
        return MASK
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        # json.dumps would write NaN/Infinity, which is not JSON.
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return mask_pii(value)
    if depth >= _MAX_DEPTH:
        return "[too deep]"
    if isinstance(value, Mapping):
        # Keys are masked too: a dict keyed by e-mail address is not unheard of.
        return {mask_pii(str(k)): _mask(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask(key, item, depth + 1) for item in value]
    if isinstance(value, bytes | bytearray):
        return mask_pii(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    try:
        fields = _fields_of(value)
    except Exception:  # an odd object must not cost the log line; str() below still works
        fields = None
    if fields is not None:
        return _mask(key, fields, depth + 1)
    return mask_pii(str(value))


def mask_value(key: str, value: object) -> object:
    """Return value fit for a log line: hidden when key names personal data, else masked."""
    return _mask(key, value, 0)


def _message_of(record: logging.LogRecord) -> str:
    """Return the record's formatted message, even when its arguments do not fit."""
    try:
        return record.getMessage()
    except Exception:  # a bad log call must not take the request down with it
        return f"{record.msg!s} (unformattable args: {record.args!r})"


class MaskingFilter(logging.Filter):
    """Format each record's message, mask it, and freeze it so no handler sees the original."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place and let it through."""
        record.msg = mask_pii(_message_of(record))
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)
        return True


def _json_default(value: object) -> str:
    return mask_pii(str(value))


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object on one line, with personal data masked."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line."""
        ts = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
        payload: dict[str, object] = {
            "ts": ts.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_pii(_message_of(record)),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            payload["request_id"] = mask_pii(request_id)
        user_id = user_id_var.get()
        if user_id is not None:
            payload["user_id"] = mask_pii(str(user_id))
        for key, value in record.__dict__.items():
            if key in _RECORD_ATTRS or key.startswith("_"):
                continue
            # An extra named like one of our fields must not overwrite it.
            out_key = f"extra_{key}" if key in _OUTPUT_KEYS else mask_pii(key)
            payload[out_key] = mask_value(key, value)
        exc_text = record.exc_text
        if record.exc_info and not exc_text:
            exc_text = self.formatException(record.exc_info)
        if exc_text:
            payload["exc"] = mask_pii(exc_text)
        if record.stack_info:
            payload["stack"] = mask_pii(self.formatStack(record.stack_info))
        line = json.dumps(payload, ensure_ascii=False, default=_json_default)
        # Raw U+2028/U+2029 are valid JSON but split "lines" for many readers.
        return line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


class _SupportHandlerMixin:
    """Marks handlers installed by configure_logging, so a second call can find them."""


class _JsonStreamHandler(_SupportHandlerMixin, logging.StreamHandler[TextIO]):
    pass


class _JsonFileHandler(_SupportHandlerMixin, logging.FileHandler):
    pass


def configure_logging(level: str = "INFO", *, stream: TextIO | None = None) -> None:
    """Send all logging, uvicorn's and SQLAlchemy's included, through one masked JSON handler."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    for old in [h for h in root.handlers if isinstance(h, _SupportHandlerMixin)]:
        root.removeHandler(old)
        old.close()

    formatter = JsonFormatter()
    masking = MaskingFilter()
    handlers: list[logging.Handler] = [_JsonStreamHandler(sys.stderr if stream is None else stream)]
    log_file = os.environ.get(LOG_FILE_ENV)
    if log_file:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(_JsonFileHandler(path, mode="a", encoding="utf-8", delay=True))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(masking)
        root.addHandler(handler)

    for name in ROUTED_LOGGERS:
        logger = logging.getLogger(name)
        for own in list(logger.handlers):
            logger.removeHandler(own)
        logger.propagate = True
    sqlalchemy_logger = logging.getLogger("sqlalchemy")
    # At INFO SQLAlchemy logs statements with their bound parameters: names and addresses.
    if sqlalchemy_logger.level == logging.NOTSET:
        sqlalchemy_logger.setLevel(logging.WARNING)
