"""HTML from mail: sanitise it for operators' eyes and extract its readable text."""

from __future__ import annotations

import functools
import html
import re
from html.parser import HTMLParser

import nh3

# Formatting an operator needs to read a mail; anything interactive or remote is dropped.
_TAGS = frozenset(
    {
        "a", "abbr", "b", "big", "blockquote", "br", "caption", "center", "cite", "code",
        "col", "colgroup", "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3",
        "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre",
        "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strike", "strong", "sub",
        "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "wbr",
    }
)  # fmt: skip
# Elements whose content is code, metadata or form state rather than message text.
_DROP_CONTENT = frozenset(
    {
        "script", "style", "title", "head", "template", "noscript", "iframe", "frame",
        "frameset", "object", "embed", "applet", "svg", "math", "select", "textarea", "xml",
        "noembed", "noframes",
    }
)  # fmt: skip
_TABLE_ATTRS = frozenset({"align", "valign", "width", "height", "colspan", "rowspan"})
_ATTRIBUTES: dict[str, frozenset[str]] = {
    "*": frozenset({"style", "dir", "lang", "title"}),
    "a": frozenset({"href"}),
    "img": frozenset({"src", "alt", "width", "height"}),
    "font": frozenset({"color", "size", "face"}),
    "td": _TABLE_ATTRS,
    "th": _TABLE_ATTRS,
    "tr": _TABLE_ATTRS,
    "table": frozenset({"align", "width", "border", "cellpadding", "cellspacing"}),
    "ol": frozenset({"start", "type"}),
    "p": frozenset({"align"}),
    "div": frozenset({"align"}),
}
# Style properties that cannot load anything or overlay the operator UI.
_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font-weight", "font-style", "font-size", "font-family",
        "text-decoration", "text-align", "vertical-align", "white-space", "border",
        "border-collapse", "padding", "margin", "width", "height", "line-height",
    }
)  # fmt: skip
_LINK_SCHEMES = ("http:", "https:", "mailto:", "tel:")
_DATA_IMAGE_RE = re.compile(r"^data:image/(?:png|jpe?g|gif|webp);base64,", re.IGNORECASE)


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    """Keep links to safe schemes and images only from cid: or inline data."""
    if attr == "href":
        lowered = value.strip().lower()
        return value if lowered.startswith(_LINK_SCHEMES) else None
    if attr == "src":
        stripped = value.strip()
        # Remote images are tracking beacons; only parts of this very mail may be shown.
        if stripped.lower().startswith("cid:") or _DATA_IMAGE_RE.match(stripped):
            return stripped
        return None
    return value


@functools.cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(_TAGS),
        clean_content_tags=set(_DROP_CONTENT),
        attributes={tag: set(attrs) for tag, attrs in _ATTRIBUTES.items()},
        attribute_filter=_attribute_filter,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        # A link in a mail must never navigate the operator console itself.
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
        filter_style_properties=set(_STYLE_PROPERTIES),
        url_relative="deny",
    )


_TAG_TOKEN_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]{0,40})(?:\s[^<>]*)?>")
_MAX_NESTING = 300
# A "&" that cannot start a character reference. Runs of those make html5ever's tokenizer
# quadratic, so they are escaped up front; real references (and the semicolon-less legacy
# ones mail clients emit) pass through untouched.
_LONE_AMP_RE = re.compile(
    r"&(?!#[0-9]{1,8};?|#[xX][0-9A-Fa-f]{1,8};?|[A-Za-z][A-Za-z0-9]{1,31};"
    r"|(?:nbsp|amp|lt|gt|quot|copy|reg)(?![A-Za-z0-9]))"
)


def _defuse(markup: str) -> str:
    return _LONE_AMP_RE.sub("&amp;", markup)


_MAX_LITERAL_AMPERSANDS = 10_000


def is_pathological_html(markup: str) -> bool:
    """Tell whether HTML would make the sanitiser crawl (absurd nesting or "&" floods)."""
    # html5ever's scope checks are quadratic in nesting depth, and its serialiser is quadratic
    # in the number of literal ampersands in one text node; no real mail comes near either.
    literal_amps = markup.count("&amp") + len(_LONE_AMP_RE.findall(markup))
    return literal_amps > _MAX_LITERAL_AMPERSANDS or _too_deep(markup)


def _too_deep(markup: str) -> bool:
    depth = 0
    for match in _TAG_TOKEN_RE.finditer(markup):
        if match.group(1):
            depth = max(0, depth - 1)
        elif match.group(2).lower() not in _VOID and not match.group(0).endswith("/>"):
            depth += 1
            if depth > _MAX_NESTING:
                return True
    return False


def sanitize_html(markup: str) -> str:
    """Return the HTML with scripts, forms, handlers and remote content removed."""
    try:
        if is_pathological_html(markup):
            return "<pre>" + html.escape(crude_text(markup)) + "</pre>"
        return _cleaner().clean(_defuse(markup))
    except Exception:  # noqa: BLE001 - fall back to escaped text rather than unsafe markup
        return "<pre>" + html.escape(html_to_text(markup)) + "</pre>"


_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table",
        "tbody", "tfoot", "thead", "tr", "ul", "caption",
    }
)  # fmt: skip
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr"}
)  # fmt: skip
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_SPACES_RE = re.compile(r"[ \t\r\n\f\u00a0\u200b]+")
_BLANK_LINES_RE = re.compile(r"\n{3,}")
# "[^<>]" rather than "[^>]": a "<" never closed by ">" must not make every later "<" scan
# to the end of the text, which made this quadratic on a few megabytes of junk.
_TAG_RE = re.compile(r"<[^<>]*>")


class _TextExtractor(HTMLParser):
    """Collect visible text, turning block structure into line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, hides its content)
        self.open_counts: dict[str, int] = {}
        self.hidden = 0
        self.pre = 0

    def _newline(self, count: int = 1) -> None:
        self.chunks.append("\n" * count)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Track hiding elements and turn block starts into line breaks."""
        if tag == "body":
            # A missing </head> (common in generated mail) must not hide the whole body.
            self._close_all("head")
        attr_map = {name: value or "" for name, value in attrs}
        hides = tag in _DROP_CONTENT or "hidden" in attr_map
        hides = hides or bool(_HIDDEN_STYLE_RE.search(attr_map.get("style", "")))
        if tag not in _VOID and len(self.stack) < _MAX_NESTING:
            self.stack.append((tag, hides))
            self.open_counts[tag] = self.open_counts.get(tag, 0) + 1
            if hides:
                self.hidden += 1
            if tag == "pre":
                self.pre += 1
        if self.hidden:
            return
        if tag == "br":
            self._newline()
        elif tag == "li":
            self._newline()
            self.chunks.append("・")
        elif tag in ("td", "th"):
            self.chunks.append("\t")
        elif tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table"):
            self._newline(2)
        elif tag in _BLOCK:
            self._newline()

    def _pop(self) -> str:
        name, hides = self.stack.pop()
        self.open_counts[name] -= 1
        if hides:
            self.hidden -= 1
        if name == "pre":
            self.pre -= 1
        return name

    def _close_all(self, tag: str) -> None:
        if not self.open_counts.get(tag):
            return
        names = [name for name, _ in self.stack]
        cut = names.index(tag)
        while len(self.stack) > cut:
            self._pop()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Treat <x/> as an opening tag immediately closed."""
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        """Close the element (and any left open inside it) and break the line."""
        if not self.open_counts.get(tag):
            return
        # Close everything opened after the matching tag: mail HTML rarely nests cleanly.
        while self.stack and self._pop() != tag:
            pass
        if self.hidden:
            return
        if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table"):
            self._newline(2)
        elif tag in _BLOCK and tag != "li":  # the next <li> or the list end breaks the line
            self._newline()

    def handle_data(self, data: str) -> None:
        """Keep visible text, collapsing whitespace outside <pre>."""
        if self.hidden:
            return
        if self.pre:
            self.chunks.append(data.replace("\u00a0", " "))
        else:
            self.chunks.append(_SPACES_RE.sub(" ", data))


def _tidy(text: str) -> str:
    lines = [line.strip(" \t") for line in text.split("\n")]
    joined = "\n".join(lines)
    return _BLANK_LINES_RE.sub("\n\n", joined).strip()


@functools.cache
def _structure_cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(_BLOCK | {"br", "td", "th", "span", "pre", "font", "b", "i", "u", "a"}),
        clean_content_tags=set(_DROP_CONTENT),
        attributes={"*": {"style", "hidden"}},
        filter_style_properties={"display", "visibility"},
        strip_comments=True,
        link_rel=None,
    )


_CODE_OPEN_RE = re.compile(r"<(script|style|head|title|template|noscript|xml|svg|math)\b", re.I)


def _drop_code(markup: str) -> str:
    """Cut script, style and head blocks, whose content is code, not text; linear time."""
    pieces: list[str] = []
    lowered: str | None = None
    unclosed: set[str] = set()  # no closing tag after an earlier opener means none after later
    pos = search = 0
    while match := _CODE_OPEN_RE.search(markup, search):
        name = match.group(1).lower()
        if lowered is None:
            lowered = markup.lower()
        close = -1 if name in unclosed else lowered.find("</" + name, match.end())
        if close < 0:
            # An unclosed <head> is common in generated mail and must not swallow the body.
            unclosed.add(name)
            search = match.end()
            continue
        pieces.append(markup[pos : match.start()])
        end = lowered.find(">", close)
        pos = search = len(markup) if end < 0 else end + 1
    pieces.append(markup[pos:])
    return " ".join(pieces)


def crude_text(markup: str) -> str:
    """Strip code blocks and tags, unescape entities: crude, linear, never fails."""
    return _tidy(html.unescape(_TAG_RE.sub(" ", _drop_code(markup))))


def html_to_text(markup: str) -> str:
    """Extract the readable text of an HTML mail body, skipping hidden and non-text parts."""
    try:
        if is_pathological_html(markup):
            return crude_text(markup)
        # html.parser is quadratic on some malformed input (unclosed quotes, "</" runs), so
        # it only ever sees html5ever's well-formed re-serialisation of the mail.
        normalised = _structure_cleaner().clean(_defuse(markup))
        parser = _TextExtractor()
        parser.feed(normalised)
        parser.close()
        return _tidy("".join(parser.chunks))
    except Exception:  # noqa: BLE001 - the regex fallback is crude but never fails
        return crude_text(markup)
