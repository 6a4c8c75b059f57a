"""Send-guard checks on what the mail says: subject, body and attachments."""

from __future__ import annotations

import re
from collections.abc import Iterator

from support.mail.guards_model import Finding, MunicipalityRef, Person
from support.mail.guards_scan import DraftScan, make_finding
from support.mail.guards_text import (
    address_view,
    alnum_ids_in,
    emails_in,
    is_mynumber,
    name_key,
    normalize,
    org_key,
    snippet,
)

# Greetings to a group or a role, never to a named person.
_GENERIC_GREETINGS = (
    "御中",
    "ご担当者様",
    "担当者様",
    "ご担当様",
    "各位",
    "皆様",
    "皆さま",
    "お客様",
    "寄附者様",
)
_ORG_MARKERS_RE = re.compile(r"株式会社|有限会社|合同会社|\((?:株|有)\)|役所|役場|担当|事業者")

_PLACEHOLDER_RES = (
    re.compile(r"\{\{[^{}\n]{0,60}\}\}"),
    re.compile(r"(?<!\{)\{[A-Za-z_][A-Za-z0-9_]*\}(?!\})"),
    re.compile(r"\[\[[^\[\]\n]{0,60}\]\]"),
    # Two or more circles; a kanji numeral next to them means a number such as 二〇〇五.
    re.compile(r"(?<![一二三四五六七八九十百千万])[○〇◯]{2,}(?![一二三四五六七八九十百千万])"),
    re.compile(r"\*{2,}"),
    re.compile(r"(?<![A-Za-z])[Xx]{3,}(?![A-Za-z])"),
    re.compile(r"[●▲△]{2,}"),
)
_FIELD_BRACKET_RE = re.compile(r"【([^【】\n]{1,16})】")
# A bracket whose content ends like a data field (名前, 金額, 期限日 ...) stands for a value;
# headings such as 【送付先】【ご寄附の内容】【お問い合わせ窓口】 do not.
_FIELD_WORD_RE = re.compile(
    r"(?:名前|名|金額|額|日|日付|日時|期限|番号|住所|電話|アドレス|数量|件数|時刻|URL|コード)$"
    r"|入力|記入|挿入|差し込",
)
_HONORIFIC_AFTER_RE = re.compile(r"\s*(?:様|さま|殿|御中)")
_LABEL_VALUE_AFTER_RE = re.compile(r"\s*:|\s+\S|\s*\d")
_SEPARATOR_LINE_RE = re.compile(r"^\s*([*=\-_~#])\1{4,}\s*$")
_MASK_TOKEN_LEFT_RE = re.compile(r"[\d*\-]*$")
_MASK_TOKEN_RIGHT_RE = re.compile(r"[\d*\-]*")

# Wording that says the mail itself carries a file. Instructions to the donor ("添付のうえ",
# "添付してご返信") and disclaimers ("添付ファイルを含む") are deliberately not matched.
_ATTACH_CLAIM_RE = re.compile(
    r"添付(?:いた|致)し(?:ます|ました|ており|てお)"
    r"|添付(?:します|しました|しており|しています|してあります)"
    r"|添付させて(?:いただ|頂)"
    r"|添付(?:ファイル)?にて"
    r"|添付(?:ファイル)?で(?:お送り|送付|ご案内|ご確認)"
    r"|添付(?:ファイル|資料|書類)を(?:ご確認|ご参照|ご覧)"
    r"|添付(?:の|した)(?:とおり|通り|ファイル|資料|書類|PDF|CSV|明細|証明書|申請書|一覧|画像|控え)"
    r"|添付あり|添付有り|別添"
    r"|\battached\b",
    re.IGNORECASE,
)
# "添付しておりません", "添付ファイルにてお送りすることはありません".
_NOT_A_CLAIM_AFTER_RE = re.compile(r"^[^\n。、]{0,16}?ません")
_DISCLAIMER_RE = re.compile(
    r"機密|秘密|誤送信|誤って|第三者|含む|confidential|intended recipient|disclaimer",
    re.IGNORECASE,
)

# A city name right after these is where the donor lives, not where they donated.
_RESIDENCE_BEFORE_RE = re.compile(
    r"(?:(?:お住まい|お住い|住まい|在住|居住|住所地|住民票|ご住所|現住所)"
    r"(?:の|である|地の|先の|は|:)?(?:市区町村|自治体|地域)?[(「]?"
    r"|住民税(?:の控除)?(?:は|を|が)?、?)\s*$"
)
_RESIDENCE_AFTER_RE = re.compile(r"^[)」]?\s*(?:在住|にお住|に住|の住民|民税|にお引越|から転居)")
# A city name followed by town, block and number is part of a postal address, and so is
# one after a prefecture and before a ward or town ("神奈川県横浜市港北区...").
_POSTAL_ADDRESS_AFTER_RE = re.compile(
    r"^(?![へのにをでがはとも])[^\sA-Za-z、。,()「」:]{0,12}?\d+(?:丁目|番|号|-\d)"
)
_PREFECTURE_BEFORE_RE = re.compile(r"(?:東京都|北海道|京都府|大阪府|[^\s\d:、。]{2,3}県)$")
_WARD_AFTER_RE = re.compile(r"^(?![へのにをでがはと])[^\s\d、。,()「」:]{0,6}?[区町村]")

# How a 個人番号 is written: contiguous or 4-4-4. Other groupings of 12 digits are phone
# numbers, card numbers or unrelated numbers that merely sit next to each other.
_MYNUMBER_GROUPINGS = {(12,), (4, 4, 4)}


# --- other donors' data -----------------------------------------------------------------------


def _identifiers(scan: DraftScan, text: str) -> Iterator[tuple[str, str, frozenset[str], str]]:
    """Yield (kind, value, owner ids, excerpt) for every known donor identifier in ``text``."""
    d = scan.directory
    for address, start, end in emails_in(text):
        if address in d.emails:
            yield "メールアドレス", address, frozenset(d.emails[address]), snippet(text, start, end)
    for cand in scan.numbers(text):
        value = text[cand.start : cand.end]
        # +81-80-... is the same mobile number as 080-...
        phone = "0" + cand.digits[2:] if cand.plus and cand.digits.startswith("81") else None
        for digits in (cand.digits, phone):
            if digits and digits in d.phones:
                owners = frozenset(d.phones[digits])
                yield "電話番号", value, owners, snippet(text, cand.start, cand.end)
        postal_form = cand.groups == (3, 4) or (cand.postal_mark and cand.groups == (7,))
        if postal_form and cand.digits in d.postal_codes:
            owners = frozenset(d.postal_codes[cand.digits])
            yield "郵便番号", value, owners, snippet(text, cand.start, cand.end)
    for ident, start, end in alnum_ids_in(text):
        entry = d.alnum_ids.get(ident)
        if entry is not None and ident not in scan.own_ids:
            yield entry[0], text[start:end], frozenset(entry[1]), snippet(text, start, end)
    if d.address_re is not None:
        view = address_view(text)
        for m in d.address_re.finditer(view):
            owners = frozenset(d.addresses[m.group()])
            yield "住所", m.group(), owners, snippet(view, m.start(), m.end())


def check_foreign_pii(scan: DraftScan) -> list[Finding]:
    """Flag another donor's e-mail, phone, postal code, address, order or donation number."""
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for fld in scan.sent:
        for kind, value, owners, excerpt in _identifiers(scan, fld.text):
            if scan.ticket.donor_id in owners or (kind, value) in seen:
                continue
            seen.add((kind, value))
            donors = scan.directory.donors
            names = "、".join(sorted(donors[o].name for o in owners if o in donors))
            findings.append(
                make_finding(
                    "foreign_pii",
                    f"{fld.label}に別の寄附者（{names} 様）の{kind}「{value}」が含まれています",
                    fld.label,
                    excerpt,
                )
            )
    return findings


# --- greeting, placeholders, attachments ------------------------------------------------------


def _accepted_names(person: Person) -> set[str]:
    """Return the greeting names that mean this person: full or surname, kanji or kana."""
    names = {name_key(person.name), name_key(person.kana)}
    for full in (person.name, person.kana):
        parts = normalize(full).split()
        if parts:
            names.add(name_key(parts[0]))
    names.discard("")
    return names


def _is_org_greeting(scan: DraftScan, line: str) -> bool:
    """Return True when the greeting addresses an organisation rather than a donor."""
    if _ORG_MARKERS_RE.search(line):
        return True
    key = org_key(line)
    return any(org in key for org in scan.directory.org_names)


def check_salutation(scan: DraftScan) -> list[Finding]:
    """Flag a first-line greeting to a named person who is not the ticket donor."""
    line = scan.first_line.rstrip(" 、,。:")
    if not line.endswith("様") or scan.donor is None:
        return []
    if line.endswith(_GENERIC_GREETINGS) or _placeholders_in(line, in_attachment=False):
        return []
    if _is_org_greeting(scan, line) or name_key(line[:-1]) in _accepted_names(scan.donor):
        return []
    return [
        make_finding(
            "salutation_mismatch",
            f"宛名「{line}」が寄附者 {scan.donor.name} 様（{scan.donor.kana}）と一致しません",
            "本文1行目",
            line,
        )
    ]


def _line_around(text: str, start: int, end: int) -> tuple[str, str]:
    """Return the text before ``start`` and after ``end`` on the same line."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    return text[line_start:start], text[end : line_end if line_end >= 0 else len(text)]


def _is_masked_number(before: str, after: str) -> bool:
    """Return True when asterisks mask part of a number ("****-****-1234"), not a value."""
    left = _MASK_TOKEN_LEFT_RE.search(before)
    right = _MASK_TOKEN_RIGHT_RE.match(after)
    token = (left.group() if left else "") + (right.group() if right else "")
    return any(c.isdigit() for c in token)


def _placeholders_in(text: str, *, in_attachment: bool) -> list[tuple[str, int, int]]:
    """Return (token, start, end) of every unresolved template placeholder in ``text``."""
    found: list[tuple[str, int, int]] = []
    for pattern in _PLACEHOLDER_RES:
        for m in pattern.finditer(text):
            before, after = _line_around(text, m.start(), m.end())
            if _SEPARATOR_LINE_RE.match(before + m.group() + after):
                continue
            if m.group().startswith("*") and _is_masked_number(before, after):
                continue
            found.append((m.group(), m.start(), m.end()))
    for m in _FIELD_BRACKET_RE.finditer(text):
        content = re.sub(r"\s+", "", m.group(1)).removeprefix("お").removeprefix("ご")
        if not _FIELD_WORD_RE.search(content):
            continue
        before, rest = _line_around(text, m.start(), m.end())
        if not before.strip() and not _HONORIFIC_AFTER_RE.match(rest):
            # A label such as "【受付時間】平日9時..." carries its value; in a blank form an
            # empty label is a field for the reader to fill, not a template leftover.
            if rest.strip() and _LABEL_VALUE_AFTER_RE.match(rest):
                continue
            if not rest.strip() and in_attachment:
                continue
        found.append((m.group(), m.start(), m.end()))
    return sorted(found, key=lambda f: f[1])


def check_placeholders(scan: DraftScan) -> list[Finding]:
    """Flag template placeholders left in the subject, body or attachments."""
    findings: list[Finding] = []
    for fld in scan.authored:
        for token, start, end in _placeholders_in(fld.text, in_attachment=fld.is_attachment):
            findings.append(
                make_finding(
                    "unresolved_placeholder",
                    f"{fld.label}に未置換の差し込み項目「{token}」が残っています",
                    fld.label,
                    snippet(fld.text, start, end),
                )
            )
    return findings


def check_missing_attachment(scan: DraftScan) -> list[Finding]:
    """Flag a subject or body that says something is attached when nothing is."""
    if scan.draft.attachments:
        return []
    for label, text in (("件名", scan.subject), ("本文", scan.own_body)):
        for line in text.splitlines():
            if _DISCLAIMER_RE.search(line):
                continue
            for m in _ATTACH_CLAIM_RE.finditer(line):
                if _NOT_A_CLAIM_AFTER_RE.match(line[m.end() :]):
                    continue
                return [
                    make_finding(
                        "missing_attachment",
                        f"{label}に「{m.group()}」とありますが、添付ファイルがありません",
                        label,
                        snippet(line, m.start(), m.end()),
                    )
                ]
    return []


# --- numbers and municipality -----------------------------------------------------------------


def check_mynumber(scan: DraftScan) -> list[Finding]:
    """Flag a 12-digit number with a valid 個人番号 check digit anywhere in the mail."""
    findings: list[Finding] = []
    seen: set[str] = set()
    for fld in scan.sent:
        for cand in scan.numbers(fld.text):
            if cand.plus or cand.groups not in _MYNUMBER_GROUPINGS or cand.digits in seen:
                continue
            if is_mynumber(cand.digits):
                seen.add(cand.digits)
                # Masked: findings end up in logs and audit trails, the number must not.
                masked = "********" + cand.digits[-4:]
                excerpt = snippet(fld.text, cand.start, cand.end)
                findings.append(
                    make_finding(
                        "mynumber",
                        f"{fld.label}に個人番号（マイナンバー）と思われる番号 {masked} "
                        "が含まれています",
                        fld.label,
                        excerpt.replace(fld.text[cand.start : cand.end], masked),
                    )
                )
    return findings


def _presented_as_destination(text: str, start: int, end: int) -> bool:
    """Return False when a city name is the donor's residence or part of a postal address."""
    before, after = _line_around(text, start, end)
    if _RESIDENCE_BEFORE_RE.search(before) or _RESIDENCE_AFTER_RE.match(after):
        return False
    if _PREFECTURE_BEFORE_RE.search(before) and _WARD_AFTER_RE.match(after):
        return False
    return not _POSTAL_ADDRESS_AFTER_RE.match(after)


def check_wrong_municipality(scan: DraftScan) -> list[Finding]:
    """Flag another served municipality presented as the destination or the sending desk."""
    own = scan.municipality
    if own is None:
        return []
    others: list[MunicipalityRef] = [
        m
        for m in scan.directory.municipalities.values()
        if m.id != own.id and m.name and m.name != own.name
    ]
    findings: list[Finding] = []
    for other in others:
        pattern = re.compile(re.escape(normalize(other.name)))
        for fld in scan.authored:
            hit = next(
                (
                    m
                    for m in pattern.finditer(fld.text)
                    if _presented_as_destination(fld.text, m.start(), m.end())
                ),
                None,
            )
            if hit is not None:
                findings.append(
                    make_finding(
                        "wrong_municipality",
                        f"この問い合わせは{own.name}の案件ですが、{fld.label}に"
                        f"{other.name}が寄附先・窓口として書かれています",
                        fld.label,
                        snippet(fld.text, hit.start(), hit.end()),
                    )
                )
                break
    return findings
