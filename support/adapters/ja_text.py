"""Japanese text analysis for FAQ search: normalisation, terms, reading n-grams, synonyms.

Everything here is pure apart from loading the Sudachi dictionary (lazily, once per process)
and reading the synonym file. The same functions analyse documents at index time and queries
at search time, so both sides always agree on what a term is.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class _Morpheme(Protocol):
    """The part of sudachipy.Morpheme used here (sudachipy ships no py.typed marker)."""

    def surface(self) -> str: ...
    def normalized_form(self) -> str: ...
    def reading_form(self) -> str: ...
    def part_of_speech(self) -> tuple[str, ...]: ...
    def is_oov(self) -> bool: ...
    def split(self, mode: Any, *, add_single: bool) -> Iterable[_Morpheme]: ...


class _Tokenizer(Protocol):
    """The part of sudachipy.Tokenizer used here."""

    def tokenize(self, text: str) -> Iterable[_Morpheme]: ...


# Bump when the produced tokens change, so stored indexes know they must be rebuilt.
ANALYZER_VERSION = "3"

DEFAULT_SYNONYMS_PATH = Path(__file__).with_name("synonyms.txt")

# Parts of speech (first level) that never carry meaning for retrieval.
_DROP_POS = frozenset(
    {"助詞", "助動詞", "補助記号", "記号", "空白", "接続詞", "感動詞", "フィラー", "その他"}
)

# Normalised forms of content-POS words that are too frequent or too empty to help ranking.
_STOP_TERMS = frozenset(
    # light and auxiliary-like verbs
    "為る 有る 居る 成る 出来る 下さる 頂く 致す 御座る 仕舞う ちゃう 思う 存じる 申し上げる "
    "参る 呉れる 遣る 置く "
    # formal nouns, pronouns and honorific suffixes
    "事 物 為 様 所 訳 筈 方 こと もの ため よう ところ わけ はず の ん "
    "これ それ あれ 此れ 其れ 彼れ こちら そちら 私 僕 俺 "
    "あたし わたくし うち 内 皆様 さん 達 "
    # the polite prefix お/ご
    "御 "
    # adnominals, adverbs and adjectives that are fillers in questions
    "この その あの こんな そんな ちょっと 一寸 とても 大変 非常 やっぱり 矢張り "
    "えーと えっと あのう 良い 宜しい "
    # "how" words: every FAQ title asks どう or どのように, so they tell articles apart by chance
    "どう どの どんな 如何 どうやって".split()
)

# Auxiliaries that negate the word before them (ない, ません's ん, ず, ぬ).
_NEGATIONS = frozenset({"ない", "ず", "ぬ"})
# The unit a negation becomes: the same as the adjective 無い, so ない and 無い meet.
NEGATION = "無い"
# The permission question 〜て(も)いい / 〜で(も)よろしい asks what 〜てもかまわない asks; its
# いい is a stop word, so the construction is indexed as the formal phrasing's 構う + negation.
_PERMISSION_ADJECTIVES = frozenset({"良い", "宜しい"})
PERMISSION = ("構う", NEGATION)
# 〜しか…ない is no negation but "only so much" (これだけしか来ない: it came, too little): the
# negation it closes becomes 少ない.
ONLY = "少ない"

_HIRAGANA_START = 0x3041
_HIRAGANA_END = 0x3096
_KATA_OFFSET = 0x60

_LONG_VOWEL = "ー"
# Characters people type instead of the long-vowel mark after kana.
_LONG_VOWEL_LOOKALIKES = "~〜～-‐‑–—―−ｰ"
_KANA_RE = r"[\u3041-\u309f\u30a0-\u30ff]"
_LONG_VOWEL_FIX_RE = re.compile(rf"(?<={_KANA_RE})[{re.escape(_LONG_VOWEL_LOOKALIKES)}](?![0-9])")
_LONG_VOWEL_RUN_RE = re.compile(f"{_LONG_VOWEL}{{2,}}")
_ALL_KANA_RE = re.compile(r"[\u3041-\u309f\u30a0-\u30ffー]+")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SPACES_RE = re.compile(r"\s+")
_SENTENCE_RE = re.compile(r"[^。．.!?！？\n]*(?:[。．.!?！？\n]+|$)")
# Characters per Sudachi call: UTF-8 Japanese is 3 bytes a character, the limit is 49149 bytes.
_CHUNK_CHARS = 4000

# Vowel of each katakana, used to spell out the long-vowel mark for reading keys.
_VOWEL_ROWS = {
    "ア": "アカサタナハマヤラワガザダバパァャヮ",
    "イ": "イキシチニヒミリギジヂビピィ",
    "ウ": "ウクスツヌフムユルグズヅブプゥュッヴ",
    "エ": "エケセテネヘメレゲゼデベペェ",
    "オ": "オコソトノホモヨロヲゴゾドボポォョ",
}
_VOWEL_OF = {kana: vowel for vowel, row in _VOWEL_ROWS.items() for kana in row}


def normalize(text: str) -> str:
    """Return text in the canonical surface form that analysis starts from."""
    text = unicodedata.normalize("NFKC", text)
    text = _expand_iteration_marks(text)
    text = _LONG_VOWEL_FIX_RE.sub(_LONG_VOWEL, text)
    text = _LONG_VOWEL_RUN_RE.sub(_LONG_VOWEL, text)
    text = _THOUSANDS_RE.sub("", text)
    return _SPACES_RE.sub(" ", text).strip().lower()


def _expand_iteration_marks(text: str) -> str:
    # Kana iteration marks (ゝゞヽヾ) repeat the previous kana; Sudachi does not know them.
    if not any(mark in text for mark in "ゝゞヽヾ"):
        return text
    out: list[str] = []
    for char in text:
        if char in "ゝヽ" and out:
            out.append(out[-1])
        elif char in "ゞヾ" and out:
            voiced = unicodedata.normalize("NFC", out[-1] + "\u3099")
            out.append(voiced if len(voiced) == 1 else out[-1])
        else:
            out.append(char)
    return "".join(out)


def to_katakana(text: str) -> str:
    """Return text with hiragana turned into katakana."""
    return "".join(
        chr(ord(c) + _KATA_OFFSET) if _HIRAGANA_START <= ord(c) <= _HIRAGANA_END else c
        for c in text
    )


def fold_kana(term: str) -> str:
    """Return an all-kana term in katakana; terms with kanji or latin stay as they are."""
    # A word written all in kana has no kanji to tell homophones apart, so ぺいぺい and
    # ペイペイ are the same word; mixed forms like 此れ keep their spelling.
    return to_katakana(term) if _ALL_KANA_RE.fullmatch(term) else term


# Terms are compared after kana folding (see _norm_form), so the stop list is folded too.
_STOP_KEYS = frozenset(fold_kana(t) for t in _STOP_TERMS)


def reading_key(reading: str) -> str:
    """Fold a katakana reading so that spelling variants of the same sound meet."""
    # ー, and ウ/イ after o/e-row kana, are how the same long vowel is written in different
    # places (ショウメイ, ショーメー): spell every long vowel out as its plain vowel.
    out: list[str] = []
    for char in to_katakana(reading):
        prev_vowel = _VOWEL_OF.get(out[-1]) if out else None
        if char == _LONG_VOWEL and prev_vowel:
            char = prev_vowel
        elif char == "ウ" and prev_vowel == "オ":
            char = "オ"
        elif char == "イ" and prev_vowel == "エ":
            char = "エ"
        out.append(char)
    return "".join(out)


def clean_term(term: str) -> str:
    """Return term with every character that the FTS tokenizer would split on removed."""
    return "".join(c for c in term if unicodedata.category(c)[0] in "LN")


def char_ngrams(text: str, n: int = 3) -> list[str]:
    """Return the overlapping character n-grams of text (the text itself when shorter)."""
    if len(text) < 2:
        return []
    if len(text) <= n:
        return [text]
    return [text[i : i + n] for i in range(len(text) - n + 1)]


@dataclass(frozen=True, slots=True)
class Analysis:
    """What one text becomes: index terms, short-unit sequence, reading n-grams, places."""

    terms: list[str]
    units: list[str]
    grams: list[str]
    places: list[str] = field(default_factory=list)  # place names (伊勢, 横浜市)


class JapaneseAnalyzer:
    """Tokenise Japanese with SudachiPy into retrieval terms; the dictionary loads on first use."""

    def __init__(self, dictionary: str = "core") -> None:
        self._dictionary_name = dictionary
        self._dictionary: Any = None
        self._modes: dict[str, Any] = {}
        self._load_lock = threading.Lock()
        # Sudachi tokenizers keep per-call state, so each thread gets its own.
        self._local = threading.local()

    def _tokenizer(self) -> _Tokenizer:
        tokenizer: _Tokenizer | None = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            tokenizer = self.dictionary().tokenizer(self._modes["C"])
            self._local.tokenizer = tokenizer
        return tokenizer

    def dictionary(self) -> Any:
        """Return the Sudachi dictionary, loading it on first call."""
        with self._load_lock:
            if self._dictionary is None:
                import sudachipy  # type: ignore[import-untyped]

                self._modes = {m: sudachipy.SplitMode(m) for m in "ABC"}
                self._dictionary = sudachipy.Dictionary(dict=self._dictionary_name)
            return self._dictionary

    def analyze(self, text: str) -> Analysis:
        """Return the terms, short units and reading n-grams of a text."""
        text = normalize(text)
        if not text:
            return Analysis([], [], [])
        terms: list[str] = []
        units: list[str] = []
        grams: list[str] = []
        places: list[str] = []
        reading_run: list[str] = []
        # The last two long units' (normalised form, POS subtype) pairs, to spot 〜ても + いい.
        before: tuple[tuple[str, str], ...] = ()
        only = False  # a しか waits for the negation that closes it
        tokenizer = self._tokenizer()
        mode_a, mode_b = self._modes["A"], self._modes["B"]
        long_units = (m for chunk in _chunks(text) for m in tokenizer.tokenize(chunk))
        for long_unit in long_units:
            pos = long_unit.part_of_speech()[0]
            if pos in ("補助記号", "空白", "記号"):
                # Punctuation ends a reading run so n-grams never bridge two phrases.
                grams.extend(_run_grams(reading_run))
                reading_run, only = [], False
                continue
            reading_run.append(_reading_of(long_unit))
            if _grants_permission(before, long_unit):
                terms.append(PERMISSION[0])
                units.extend(PERMISSION)
            before = (*before[-1:], (long_unit.normalized_form(), long_unit.part_of_speech()[1]))
            shorts = _split(long_unit, mode_a)
            short_terms = [t for t in (_term_of(m) for m in shorts) if t]
            terms.extend(short_terms)
            units.extend(short_terms)
            places.extend(_term_of(m) for m in (long_unit, *shorts) if _is_place(m))
            if _is_negation(long_unit) and only:
                terms.append(ONLY)
                units.append(ONLY)
                only = False
            elif _is_negation(long_unit):
                # Negation is noise for ranking but not for synonyms: 届かない (未着) must not
                # expand like 届く.
                units.append(NEGATION)
            only = only or (pos == "助詞" and long_unit.normalized_form() == "しか")
            # Index the middle and long units too, so a compound in the query scores higher
            # than its parts scattered over a document.
            if len(shorts) > 1 and _is_content(long_unit):
                compounds = [
                    _joined(_split(middle, mode_a)) for middle in _split(long_unit, mode_b)
                ]
                compounds.append(_joined(shorts))
                terms.extend(c for c in dict.fromkeys(compounds) if c and c not in short_terms)
        grams.extend(_run_grams(reading_run))
        return Analysis([t for t in terms if t], units, grams, list(dict.fromkeys(places)))

    def terms(self, text: str) -> list[str]:
        """Return the index terms of a text, in order."""
        return self.analyze(text).terms

    def units(self, text: str) -> list[str]:
        """Return the short-unit content terms of a text, in order."""
        return self.analyze(text).units

    def grams(self, text: str) -> list[str]:
        """Return the reading trigrams of a text, for typo-tolerant matching."""
        return self.analyze(text).grams


def _norm_form(morpheme: _Morpheme) -> str:
    form = morpheme.surface() if morpheme.is_oov() else morpheme.normalized_form()
    return fold_kana(form.lower())


def _run_grams(readings: list[str]) -> list[str]:
    # Cleaned like terms, so that no n-gram carries a character FTS5 would treat as syntax.
    return char_ngrams(clean_term(reading_key("".join(readings))))


def _chunks(text: str) -> Iterable[str]:
    # Sudachi refuses inputs over about 48 KiB; cut at sentence ends into pieces well below.
    piece = ""
    for sentence in _SENTENCE_RE.findall(text):
        if piece and len(piece) + len(sentence) > _CHUNK_CHARS:
            yield piece
            piece = ""
        while len(sentence) > _CHUNK_CHARS:
            yield sentence[:_CHUNK_CHARS]
            sentence = sentence[_CHUNK_CHARS:]
        piece += sentence
    if piece:
        yield piece


def _is_place(morpheme: _Morpheme) -> bool:
    return morpheme.part_of_speech()[1:3] == ("固有名詞", "地名")


def _grants_permission(before: tuple[tuple[str, str], ...], morpheme: _Morpheme) -> bool:
    # Verb + て/で (+ も) + いい/よい/よろしい: the ending of a permission question. どうすれば
    # いい and どうしたらいい ask what to do, not whether one may: ば and たら are no て.
    if morpheme.part_of_speech()[0] != "形容詞" or not before:
        return False
    if morpheme.normalized_form() not in _PERMISSION_ADJECTIVES:
        return False
    if before[-1] == ("も", "係助詞"):
        before = before[:-1]
    return bool(before) and before[-1] in (("て", "接続助詞"), ("で", "接続助詞"))


def _is_negation(morpheme: _Morpheme) -> bool:
    return morpheme.part_of_speech()[0] == "助動詞" and morpheme.normalized_form() in _NEGATIONS


def _split(morpheme: _Morpheme, mode: Any) -> list[_Morpheme]:
    # add_single=True panics in sudachipy 0.7.0 for unsplittable units; do it by hand.
    return list(morpheme.split(mode, add_single=False)) or [morpheme]


def _joined(parts: Iterable[_Morpheme]) -> str:
    forms = [_norm_form(m) for m in parts]
    return clean_term("".join(forms)) if len(forms) > 1 else ""


def _is_content(morpheme: _Morpheme) -> bool:
    pos = morpheme.part_of_speech()
    if pos[0] in _DROP_POS:
        return False
    if pos[0] == "接尾辞" and pos[1] != "名詞的":
        return False
    return True


def _term_of(morpheme: _Morpheme) -> str:
    if not _is_content(morpheme):
        return ""
    form = _norm_form(morpheme)
    if form in _STOP_KEYS:
        return ""
    return clean_term(form)


def _reading_of(morpheme: _Morpheme) -> str:
    if morpheme.is_oov() or morpheme.part_of_speech()[1] == "数詞":
        # Sudachi reads digits one by one (12 -> イチニ) and unknown words as themselves;
        # the surface is the better key for both.
        return morpheme.surface()
    return morpheme.reading_form()


_default_analyzer: JapaneseAnalyzer | None = None
_default_lock = threading.Lock()


def get_analyzer() -> JapaneseAnalyzer:
    """Return the process-wide analyser (created on first call, not at import)."""
    global _default_analyzer
    with _default_lock:
        if _default_analyzer is None:
            _default_analyzer = JapaneseAnalyzer()
        return _default_analyzer


@dataclass(frozen=True, slots=True)
class SynonymGroup:
    """One line of the synonym file: entries as short-unit term sequences."""

    entries: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class SynonymMatch:
    """A synonym group found in a query: the entries the query used and the other ones."""

    present: tuple[tuple[str, ...], ...]
    absent: tuple[tuple[str, ...], ...]


@dataclass(slots=True)
class Synonyms:
    """Synonym groups, matched on short-unit term sequences."""

    groups: list[SynonymGroup] = field(default_factory=list)
    # first unit -> (group index, entry) for quick matching
    _by_first: dict[str, list[tuple[int, tuple[str, ...]]]] = field(default_factory=dict)

    def add(self, entries: Iterable[Sequence[str]]) -> None:
        """Add one group of equivalent entries (each a sequence of units)."""
        unique = tuple(dict.fromkeys(tuple(e) for e in entries if e))
        if len(unique) < 2:
            return
        index = len(self.groups)
        self.groups.append(SynonymGroup(unique))
        for entry in unique:
            self._by_first.setdefault(entry[0], []).append((index, entry))

    def matches(self, units: Sequence[str]) -> list[SynonymMatch]:
        """Return every group that occurs in units, split into entries present and absent."""
        spans: list[tuple[int, int, int, tuple[str, ...]]] = []
        for start, unit in enumerate(units):
            for index, entry in self._by_first.get(unit, ()):
                if tuple(units[start : start + len(entry)]) == entry:
                    spans.append((start, start + len(entry), index, entry))
        # A span inside a longer match of another group is part of that phrase, not a word
        # of its own: 体験チケット is a ticket, not also an experience. The phrase's head (its
        # last word in Japanese) stays: 宿泊チケット is a ticket too. Only spans of two or
        # more units can hold another one (a pasted text can have hundreds of spans).
        phrases = [span for span in spans if span[1] - span[0] > 1]
        kept = [
            (first, last, index, entry)
            for first, last, index, entry in spans
            if not any(
                other != index and o_first <= first and last < o_last
                for o_first, o_last, other, _ in phrases
            )
        ]
        present: dict[int, list[tuple[str, ...]]] = {}
        for _, _, index, entry in kept:
            found = present.setdefault(index, [])
            if entry not in found:
                found.append(entry)
        return [
            SynonymMatch(
                present=tuple(found),
                absent=tuple(e for e in self.groups[index].entries if e not in found),
            )
            for index, found in present.items()
        ]


def parse_synonym_lines(lines: Iterable[str]) -> list[list[str]]:
    """Return the groups written in synonym-file lines (comma separated, # comments)."""
    groups: list[list[str]] = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        entries = [e.strip() for e in re.split(r"[,、，]", line) if e.strip()]
        if len(entries) > 1:
            groups.append(entries)
    return groups


def load_synonyms(
    path: Path | str | None = None, analyzer: JapaneseAnalyzer | None = None
) -> Synonyms:
    """Load a synonym file, analysing each entry the way queries are analysed."""
    source = Path(path) if path is not None else DEFAULT_SYNONYMS_PATH
    analyzer = analyzer or get_analyzer()
    synonyms = Synonyms()
    with source.open(encoding="utf-8") as handle:
        for group in parse_synonym_lines(handle):
            synonyms.add(analyzer.units(entry) for entry in group)
    return synonyms
