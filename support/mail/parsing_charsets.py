"""Charset handling for inbound mail: Japanese encodings, vendor extensions and detection.

Everything here is pure: bytes in, text out, never an exception.
"""

from __future__ import annotations

import codecs
import functools
import re
import unicodedata
from dataclasses import dataclass

# Labels seen in the wild mapped to the decoder family we use. Shift_JIS is always read as
# CP932 because Japanese Windows and phones send vendor characters (①, ㈱, 髙) under that label.
_ALIASES: dict[str, str] = {
    "iso-2022-jp": "iso-2022-jp",
    "iso2022jp": "iso-2022-jp",
    "iso-2022-jp-1": "iso-2022-jp",
    "iso-2022-jp-2": "iso-2022-jp",
    "iso-2022-jp-3": "iso-2022-jp",
    "iso-2022-jp-2004": "iso-2022-jp",
    "iso-2022-jp-ms": "iso-2022-jp",
    "iso-2022-jp-ext": "iso-2022-jp",
    "csiso2022jp": "iso-2022-jp",
    "x-iso-2022-jp": "iso-2022-jp",
    "cp50220": "iso-2022-jp",
    "cp50221": "iso-2022-jp",
    "cp50222": "iso-2022-jp",
    "jis": "iso-2022-jp",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "shiftjis": "cp932",
    "sjis": "cp932",
    "s-jis": "cp932",
    "x-sjis": "cp932",
    "x-shift-jis": "cp932",
    "x-shift_jis": "cp932",
    "ms_kanji": "cp932",
    "csshiftjis": "cp932",
    "windows-31j": "cp932",
    "cswindows31j": "cp932",
    "cp932": "cp932",
    "ms932": "cp932",
    "x-ms-cp932": "cp932",
    "ibm-943": "cp932",
    "shift_jis-2004": "cp932",
    "shift_jisx0213": "cp932",
    "x-sjis-docomo": "cp932",
    "x-sjis-kddi": "cp932",
    "x-sjis-softbank": "cp932",
    "euc-jp": "euc-jp",
    "eucjp": "euc-jp",
    "euc_jp": "euc-jp",
    "x-euc-jp": "euc-jp",
    "x-eucjp": "euc-jp",
    "cseucpkdfmtjapanese": "euc-jp",
    "eucjp-ms": "euc-jp",
    "eucjp-win": "euc-jp",
    "cp51932": "euc-jp",
    "euc-jis-2004": "euc-jp",
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "x-utf-8": "utf-8",
    "x-utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "big5": "big5hkscs",
}

# Labels that mean "the sender did not know": treat as if no charset was declared.
_UNKNOWN_LABELS = frozenset(
    {"", "unknown", "unknown-8bit", "x-unknown", "default", "charset", "none", "x-user-defined"}
)

_PYTHON_ONLY_CODECS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "mbcs", "oem"}
)

# Families whose bytes are guessed when no usable charset is declared, in tie-break order.
_JAPANESE_GUESSES = ("utf-8", "cp932", "euc-jp")

_ESC_RE = re.compile(rb"\x1b[$(&]")
_LABEL_CLEAN_RE = re.compile(r"[\s\"']+")


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes, with the family actually used and whether it was clean."""

    text: str
    charset: str
    clean: bool
    note: str | None = None


def normalise_charset(label: str | None) -> str | None:
    """Return the decoder family for a declared charset label, or None when unusable."""
    if label is None:
        return None
    name = _LABEL_CLEAN_RE.sub("", label).lower()
    if "*" in name:
        # RFC 2231 language suffix: utf-8*ja
        name = name.split("*", 1)[0]
    if name in _UNKNOWN_LABELS:
        return None
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # Reject bytes-to-bytes codecs such as base64 or zlib that happen to share a label, and
    # Python-internal codecs no mailer means (they would interpret backslashes and the like).
    if not getattr(info, "_is_text_encoding", True) or info.name in _PYTHON_ONLY_CODECS:
        return None
    return _ALIASES.get(info.name, info.name)


def _jis_pair_to_sjis(j1: int, j2: int) -> bytes:
    """Convert one JIS X 0208 row/cell byte pair to its Shift_JIS bytes."""
    s1 = ((j1 + 1) >> 1) + (0x70 if j1 <= 0x5E else 0xB0)
    if j1 & 1:
        s2 = j2 + (0x1F if j2 < 0x60 else 0x20)
    else:
        s2 = j2 + 0x7E
    return bytes((s1, s2))


def _decode_jis_pair(j1: int, j2: int) -> str | None:
    """Decode a JIS X 0208 pair through CP932, which carries the NEC and IBM extensions."""
    if not (0x21 <= j1 <= 0x7E and 0x21 <= j2 <= 0x7E):
        return None
    try:
        return _jis_pair_to_sjis(j1, j2).decode("cp932")
    except UnicodeDecodeError:
        return None


def _decode_via(codec: str, data: bytes) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError, ValueError, TypeError):
        return None


# Escape sequences of ISO-2022-JP and relatives (RFC 1468, RFC 1554, JIS X 0213).
_G0_SETS: dict[bytes, str] = {
    b"(B": "ascii",
    b"(J": "ascii",
    b"(H": "ascii",
    b"(I": "kana",
    b"$@": "jis0208",
    b"$B": "jis0208",
    b"$(B": "jis0208",
    b"$(D": "jis0212",
    b"$(O": "jis0213-1",
    b"$(Q": "jis0213-1",
    b"$(P": "jis0213-2",
}


# Runs that decode the same byte by byte and in one go: in ASCII mode every byte but ESC,
# SO, SI and 8-bit ones stands for itself; in JIS X 0208 mode printable pairs go through
# CP932. Taking them whole keeps a long body from becoming a list of one-character strings.
_ASCII_RUN_RE = re.compile(rb"[\x00-\x0d\x10-\x1a\x1c-\x7f]+")
_JIS_RUN_RE = re.compile(rb"[\x21-\x7e]{2,}")


def _jis_run(data: bytes, start: int) -> tuple[str, int] | None:
    """Decode the printable JIS X 0208 pairs at ``start`` in one go, or return None."""
    match = _JIS_RUN_RE.match(data, start)
    if match is None:
        return None
    end = start + (match.end() - start) // 2 * 2
    sjis = bytearray()
    for index in range(start, end, 2):
        sjis += _jis_pair_to_sjis(data[index], data[index + 1])
    try:
        return sjis.decode("cp932"), end
    except UnicodeDecodeError:
        return None  # some pair is unmapped: the byte-by-byte loop marks exactly that one


def decode_iso2022jp_ms(data: bytes) -> tuple[str, int]:
    """Decode ISO-2022-JP with Microsoft (CP50220/CP50221) extensions; return text and errors."""
    out: list[str] = []
    errors = 0
    mode = "ascii"
    shifted = False  # SO/SI half-width katakana (CP50221)
    i = 0
    n = len(data)
    while i < n:
        if not shifted and mode == "ascii":
            run = _ASCII_RUN_RE.match(data, i)
            if run is not None:
                out.append(run.group().decode("ascii"))
                i = run.end()
                continue
        elif not shifted and mode == "jis0208":
            pairs = _jis_run(data, i)
            if pairs is not None:
                out.append(pairs[0])
                i = pairs[1]
                continue
        b = data[i]
        if b == 0x1B:
            matched = False
            for seq, target in _G0_SETS.items():
                if data.startswith(seq, i + 1):
                    mode = target
                    i += 1 + len(seq)
                    matched = True
                    break
            if not matched:
                if data.startswith(b"&@", i + 1):
                    # JIS X 0208-1990 announcer: the real designation follows.
                    i += 3
                    continue
                errors += 1
                i += 1
            continue
        if b == 0x0E:
            shifted = True
            i += 1
            continue
        if b == 0x0F:
            shifted = False
            i += 1
            continue
        if b in (0x0A, 0x0D):
            # Lines must end in ASCII; broken encoders forget ESC ( B, so reset here.
            mode = "ascii"
            shifted = False
            out.append(chr(b))
            i += 1
            continue
        if b >= 0x80:
            errors += 1
            out.append("\ufffd")
            i += 1
            continue
        if shifted or mode == "kana":
            if 0x21 <= b <= 0x5F:
                out.append(chr(0xFF61 + b - 0x21))
            else:
                out.append(chr(b))
            i += 1
            continue
        if mode == "ascii" or b < 0x21 or b == 0x7F:
            out.append(chr(b))
            i += 1
            continue
        if i + 1 >= n:
            errors += 1
            out.append("\ufffd")
            i += 1
            continue
        b2 = data[i + 1]
        char: str | None
        if mode == "jis0208":
            char = _decode_jis_pair(b, b2)
        elif mode == "jis0212":
            char = _decode_via("euc_jp", bytes((0x8F, b | 0x80, b2 | 0x80)))
        elif mode == "jis0213-1":
            char = _decode_via("euc_jis_2004", bytes((b | 0x80, b2 | 0x80)))
        else:
            char = _decode_via("euc_jis_2004", bytes((0x8F, b | 0x80, b2 | 0x80)))
        if char is None:
            errors += 1
            char = "\ufffd"
        out.append(char)
        i += 2
    return "".join(out), errors


def decode_eucjp_ms(data: bytes) -> tuple[str, int]:
    """Decode EUC-JP including the NEC/IBM rows of eucJP-ms; return text and error count."""
    out: list[str] = []
    errors = 0
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            out.append(chr(b))
            i += 1
            continue
        if b == 0x8E and i + 1 < n and 0xA1 <= data[i + 1] <= 0xDF:
            out.append(chr(0xFF61 + data[i + 1] - 0xA1))
            i += 2
            continue
        if b == 0x8F and i + 2 < n:
            char = _decode_via("euc_jp", data[i : i + 3])
            if char is None:
                char = _decode_via("euc_jis_2004", data[i : i + 3])
            if char is None:
                errors += 1
                char = "\ufffd"
            out.append(char)
            i += 3
            continue
        if 0xA1 <= b <= 0xFE and i + 1 < n and 0xA1 <= data[i + 1] <= 0xFE:
            pair = _decode_jis_pair(b & 0x7F, data[i + 1] & 0x7F)
            if pair is None:
                pair = _decode_via("euc_jis_2004", data[i : i + 2])
            if pair is None:
                errors += 1
                pair = "\ufffd"
            out.append(pair)
            i += 2
            continue
        errors += 1
        out.append("\ufffd")
        i += 1
    return "".join(out), errors


def _strict(family: str, data: bytes) -> str | None:
    """Decode with one family and no errors allowed, or return None."""
    if family == "iso-2022-jp":
        text = _decode_via("iso2022_jp", data)
        if text is not None:
            return text
        text, errors = decode_iso2022jp_ms(data)
        return text if errors == 0 else None
    if family == "cp932":
        text = _decode_via("cp932", data)
        if text is None:
            text = _decode_via("shift_jis_2004", data)
        return text
    if family == "euc-jp":
        text = _decode_via("euc_jp", data)
        if text is None:
            text, errors = decode_eucjp_ms(data)
            if errors:
                return _decode_via("euc_jis_2004", data)
        return text
    if family == "utf-8":
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        return _decode_via("utf-8", data)
    if family == "cp1252":
        # WHATWG reads latin-1 labels as windows-1252; fall back for its five holes.
        text = _decode_via("cp1252", data)
        return text if text is not None else data.decode("latin-1")
    return _decode_via(family, data)


def _lossy(family: str, data: bytes) -> tuple[str, int]:
    """Decode with one family replacing bad bytes; return text and replacement count."""
    if family == "iso-2022-jp":
        return decode_iso2022jp_ms(data)
    if family == "euc-jp":
        return decode_eucjp_ms(data)
    try:
        text = data.decode(family, errors="replace")
    except (UnicodeError, LookupError, ValueError, TypeError):
        text = data.decode("utf-8", errors="replace")
    return text, text.count("\ufffd")


_SCORE_SAMPLE = 32_768


def japanese_score(text: str) -> float:
    """Score how much a decoded string looks like real Japanese/readable text (higher is better)."""
    # A sample from the start and the end is plenty and keeps multi-megabyte bodies fast.
    if len(text) > 2 * _SCORE_SAMPLE:
        text = text[:_SCORE_SAMPLE] + "\n" + text[-_SCORE_SAMPLE:]
    total = 0
    score = 0.0
    for index, ch in enumerate(text):
        code = ord(ch)
        if code < 0x80:
            continue
        total += 1
        if 0 < index < len(text) - 1 and text[index - 1].isascii() and text[index + 1].isascii():
            if text[index - 1].isalpha() and text[index + 1].isalpha():
                # "Forma鈬o": a lone CJK character inside a Latin word is a misread accent.
                score -= 3.0
                continue
        if 0x3041 <= code <= 0x309F or 0x30A1 <= code <= 0x30FC:
            score += 2.0  # kana: the strongest sign of Japanese
        elif 0x4E00 <= code <= 0x9FFF or 0x3000 <= code <= 0x303F or 0xFF01 <= code <= 0xFF5E:
            score += 1.0
        elif 0x2460 <= code <= 0x24FF or 0x2160 <= code <= 0x217F or 0x3200 <= code <= 0x33FF:
            score += 0.5
        elif 0xFF61 <= code <= 0xFF9F:
            score -= 0.5  # half-width kana: what EUC-JP looks like when misread as CP932
        elif 0xE000 <= code <= 0xF8FF:
            score -= 0.5  # private use (carrier pictographs): possible but suspicious
        elif code == 0xFFFD or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
            score -= 3.0
        elif 0x00A0 <= code <= 0x024F:
            score += 0.2
        else:
            score += 0.1
    if total == 0:
        return 1.0
    return score / total


def _looks_japanese(text: str) -> bool:
    return japanese_score(text) >= 0.9


def _kana_ratio(text: str) -> float:
    """Share of kana among non-ASCII characters: Japanese prose is never without kana."""
    high = [ch for ch in text[: 2 * _SCORE_SAMPLE] if ord(ch) >= 0x80]
    if not high:
        return 0.0
    kana = sum(1 for ch in high if 0x3041 <= ord(ch) <= 0x30FC)
    return kana / len(high)


def decode_bytes(data: bytes, declared: str | None = None) -> Decoded:
    """Decode bytes to text: try the declared charset, then detect; never raise."""
    try:
        return _decode_bytes(data, declared)
    except Exception:  # noqa: BLE001 - decoding must never break parsing
        return Decoded(data.decode("utf-8", errors="replace"), "utf-8", False, "decoder crashed")


def _decode_bytes(data: bytes, declared: str | None) -> Decoded:
    family = normalise_charset(declared)
    note: str | None = None
    if declared and family is None and declared.strip().lower() not in _UNKNOWN_LABELS:
        note = f"unknown charset {declared.strip()!r}"
    if not data:
        return Decoded("", family or "ascii", True, note)
    if data.startswith(codecs.BOM_UTF8):
        text = _strict("utf-8", data)
        if text is not None:
            return Decoded(text, "utf-8", True, note)
    has_high = not data.isascii()
    if not has_high:
        if _ESC_RE.search(data) and family not in ("utf-7",):
            text, errors = decode_iso2022jp_ms(data)
            if family != "iso-2022-jp":
                note = f"declared {declared or 'no charset'} but content is ISO-2022-JP"
            return Decoded(text, "iso-2022-jp", errors == 0, note)
        if family is not None and family not in ("ascii", "cp1252", "utf-8", "cp932", "euc-jp"):
            # 7-bit charsets other than ASCII (UTF-7, HZ) must go through their own codec.
            text = _strict(family, data)
            if text is not None:
                return Decoded(text, family, True, note)
        return Decoded(data.decode("ascii"), family or "ascii", True, note)

    if family in ("utf-8", "cp932", "euc-jp"):
        text = _strict(family, data)
        if text is not None:
            if family != "utf-8":
                # EUC-JP labelled Shift_JIS (or the reverse) still decodes, as half-width
                # katakana soup; switch only when another family is clearly better.
                own = japanese_score(text)
                better = _guess(data, exclude=family) if own < 0.3 else None
                if better is not None and japanese_score(better.text) - own > 0.8:
                    msg = f"declared {declared} but content decodes as {better.charset}"
                    return Decoded(better.text, better.charset, True, msg)
            return Decoded(text, family, True, note)
        better = _guess(data, exclude=family)
        if better is not None:
            msg = f"declared {declared} but content decodes as {better.charset}"
            return Decoded(better.text, better.charset, True, msg)
        lossy, errors = _lossy(family, data)
        return Decoded(lossy, family, errors == 0, f"invalid {declared} bytes replaced")

    if family == "iso-2022-jp":
        # 8-bit bytes cannot be ISO-2022-JP: the label is wrong (usually Shift_JIS or UTF-8).
        guessed = _guess(data)
        if guessed is not None:
            msg = f"declared {declared} but content decodes as {guessed.charset}"
            return Decoded(guessed.text, guessed.charset, True, msg)
        return _best_lossy(data, f"declared {declared} but content has 8-bit bytes")

    if family is not None and family != "ascii" and not _is_single_byte(family):
        # A declared multibyte charset (GB18030, Big5, EUC-KR...) is trusted when it reads
        # cleanly: CJK encodings overlap so much that guessing would hijack Chinese mail.
        text = _strict(family, data)
        if text is not None:
            return Decoded(text, family, True, note)
        guessed = _guess(data)
        if guessed is not None:
            msg = f"declared {declared} but content decodes as {guessed.charset}"
            return Decoded(guessed.text, guessed.charset, True, msg)
        lossy, errors = _lossy(family, data)
        return Decoded(lossy, family, errors == 0, f"invalid {declared} bytes replaced")

    # Single-byte, ASCII, unknown or missing label: valid multibyte UTF-8 or clearly Japanese
    # text outranks the label, because any byte string "decodes" as latin-1. Other
    # single-byte labels (Cyrillic, Greek...) only yield to UTF-8: their letters pair up into
    # plausible-looking EUC-JP kanji.
    if family is None:
        guessed = _guess(data)
    elif family in ("ascii", "cp1252"):
        # Latin-1 umlauts pair up into valid CP932 kanji ("für" -> "f鯝"), so overriding
        # an explicit Western label needs kana, not just plausible kanji.
        guessed = _guess(data, need_kana=True)
    else:
        guessed = _guess(data, exclude="cp932", only_utf8=True)
    if guessed is not None:
        if family is not None:
            note = f"declared {declared} but content decodes as {guessed.charset}"
        elif note is None:
            note = f"no charset declared; detected {guessed.charset}"
        return Decoded(guessed.text, guessed.charset, True, note)
    if family is not None and family != "ascii":
        text = _strict(family, data)
        if text is not None:
            return Decoded(text, family, True, note)
        lossy, errors = _lossy(family, data)
        return Decoded(lossy, family, errors == 0, note or f"invalid {declared} bytes replaced")
    return _best_lossy(data, note)


@functools.cache
def _is_single_byte(family: str) -> bool:
    """Tell whether a codec maps every high byte to exactly one character."""
    try:
        return len(bytes(range(0x80, 0x100)).decode(family, errors="replace")) == 0x80
    except (LookupError, ValueError, TypeError):
        return False


def _guess(
    data: bytes, exclude: str | None = None, only_utf8: bool = False, need_kana: bool = False
) -> Decoded | None:
    """Return a clean Japanese-family decoding that looks like real text, or None."""
    candidates: list[tuple[float, int, Decoded]] = []
    for order, family in enumerate(_JAPANESE_GUESSES):
        if family == exclude or (only_utf8 and family != "utf-8"):
            continue
        text = _strict(family, data)
        if text is None:
            continue
        if family == "utf-8":
            # Multibyte UTF-8 almost never validates by accident.
            return Decoded(text, family, True)
        score = japanese_score(text)
        if need_kana and _kana_ratio(text) < 0.1:
            continue
        if score >= 0.9:
            candidates.append((score, -order, Decoded(text, family, True)))
    if not candidates:
        return None
    candidates.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return candidates[0][2]


def _best_lossy(data: bytes, note: str | None) -> Decoded:
    """Decode undeclared bytes that no family reads convincingly, losing as little as possible."""
    best: tuple[float, str, str, int] | None = None
    for family in _JAPANESE_GUESSES:
        text, errors = _lossy(family, data)
        rank = errors * 4 - japanese_score(text)
        if best is None or rank < best[0]:
            best = (rank, family, text, errors)
    assert best is not None  # noqa: S101 - the loop above always runs
    _rank, family, text, errors = best
    if errors == 0 and japanese_score(text) >= 0.3:
        return Decoded(text, family, False, note or f"charset guessed as {family}")
    # Not convincingly Japanese: windows-1252 is what undeclared Western mail almost always is.
    western = _strict("cp1252", data)
    if western is not None:
        return Decoded(western, "cp1252", False, note or "charset guessed as windows-1252")
    return Decoded(text, family, False, note or f"charset guessed as {family}; bad bytes replaced")
