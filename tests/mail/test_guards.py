"""Send guard: every check on small hand-made drafts, plus the labelled dev drafts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from support.mail.guards import (
    CODES,
    SEVERITY,
    Directory,
    DraftMail,
    Finding,
    MunicipalityRef,
    OrderRef,
    Person,
    SupplierRef,
    TicketContext,
    blocking,
    check_draft,
)
from support.mail.guards_text import (
    address_core,
    edit_distance,
    is_mynumber,
    name_key,
    normalize,
    number_candidates,
    own_part,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
WORLD_FILE = SHARED / "world.json"
DRAFTS_FILE = SHARED / "outbound" / "drafts-dev.jsonl"

# --- a small world ----------------------------------------------------------------------------

TARO = Person(
    id="don-a",
    name="山田 太郎",
    kana="ヤマダ タロウ",
    email="taro.yamada@example.ne.jp",
    phone="03-0575-4225",
    postal_code="154-7018",
    address="東京都世田谷区日の出町2丁目15番10号 グリーンコート806",
)
TWIN = Person(
    id="don-b",
    name="山田 太朗",
    kana="ヤマダ タロウ",
    email="taro.yamada1@example.ne.jp",
    phone="090-0648-0434",
    postal_code="211-5926",
    address="神奈川県川崎市中原区柳町1丁目3番11号",
)
KEIKO = Person(
    id="don-c",
    name="鈴木 恵子",
    kana="スズキ ケイコ",
    email="k.suzuki@example.jp",
    phone="090-0659-7868",
    postal_code="430-4814",
    address="静岡県浜松市中央区宮前5丁目30番20号",
)
KENTA = Person(
    id="don-d",
    name="鈴木 健太",
    kana="スズキ ケンタ",
    email="k.suzuki@example.ne.jp",
    phone="03-0782-4875",
    postal_code="176-9619",
    address="東京都練馬区旭町3丁目3番20号 エスポワール808",
)
YOKOHAMA_RESIDENT = Person(
    id="don-e",
    name="中村 恵子",
    kana="ナカムラ ケイコ",
    email="keiko.nakamura@yahoo.example.co.jp",
    phone="070-0702-2282",
    postal_code="222-5640",
    address="神奈川県横浜市港北区日の出町1丁目23番9号 サンプルハイツ502",
)
TAKAHASHI = Person(
    id="don-f",
    name="髙橋 誠司",
    kana="タカハシ セイジ",
    email="seiji.takahashi@example.ne.jp",
    phone="090-0425-8566",
    postal_code="183-7006",
    address="東京都府中市南台5丁目18番4号 コーポ若葉602",
)

MUNICIPALITIES = [
    MunicipalityRef("ise", "伊勢市", "furusato@city-ise.example.jp"),
    MunicipalityRef("yokohama", "横浜市", "furusato-kifu@city.yokohama.example.jp"),
    MunicipalityRef("chiyoda", "千代田区", "furusato@city.chiyoda.example.jp"),
    MunicipalityRef("shizuoka", "静岡市", "furusato-nozei@city.shizuoka.example.jp"),
]
FARM = SupplierRef("sup-1", "株式会社五十鈴川ファーム", "ise", "order@isuzugawa-farm.example.jp")
FISH = SupplierRef("sup-2", "二見浦水産株式会社", "ise", "shukka@futami-suisan.example.co.jp")
BAKERY = SupplierRef(
    "sup-3", "株式会社みなと山手ベーカリー", "yokohama", "info@minato-yamate.example.jp"
)
ORDERS = [
    OrderRef("ORD-2025-000101", "D25-1000101", "don-a", "ise", "sup-1"),
    OrderRef("ORD-2025-000102", "D25-1000102", "don-a", "ise", "sup-2"),
    OrderRef("ORD-2025-000201", "D25-2000201", "don-b", "ise", "sup-2"),
    OrderRef("ORD-2025-000301", "D25-3000301", "don-c", "yokohama", "sup-3"),
    OrderRef("ORD-2025-000401", "D25-4000401", "don-d", "ise", "sup-1"),
    OrderRef("ORD-2025-000501", "D25-5000501", "don-e", "ise", "sup-1"),
    OrderRef("ORD-2025-000601", "D25-6000601", "don-f", "ise", "sup-1"),
]
DIRECTORY = Directory(
    donors=[TARO, TWIN, KEIKO, KENTA, YOKOHAMA_RESIDENT, TAKAHASHI],
    orders=ORDERS,
    municipalities=MUNICIPALITIES,
    suppliers=[FARM, FISH, BAKERY],
    internal_domains=["furusato-desk.example.jp"],
)
TICKET = TicketContext("don-a", ("ORD-2025-000101",), "ise")

OPENING = (
    "いつも伊勢市を応援していただき、ありがとうございます。\n"
    "伊勢市ふるさと納税 寄附者サポート窓口の中村でございます。"
)
SIGNATURE = (
    "何卒よろしくお願い申し上げます。\n\n"
    "――――――――――――――――――――\n"
    "伊勢市ふるさと納税 寄附者サポート窓口\n"
    "担当：中村\n"
    "TEL：0596-01-1100（平日9:00〜17:00）\n"
    "E-mail：support-ise@furusato-desk.example.jp\n"
    "――――――――――――――――――――"
)


def body(middle: str = "", greeting: str = "山田 太郎 様", opening: str = OPENING) -> str:
    """Return a donor reply of the desk's usual shape around ``middle``."""
    return f"{greeting}\n\n{opening}\n\n{middle}\n\n{SIGNATURE}"


def draft(
    middle: str = "",
    *,
    greeting: str = "山田 太郎 様",
    opening: str = OPENING,
    text: str | None = None,
    to: Sequence[str] = ("taro.yamada@example.ne.jp",),
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    subject: str = "返礼品発送のお知らせ",
    attachments: Sequence[tuple[str, str]] = (),
) -> DraftMail:
    """Return a draft to the ticket donor; ``text`` replaces the whole body."""
    return DraftMail(
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        body=text if text is not None else body(middle, greeting, opening),
        attachments=attachments,
    )


def findings(mail: DraftMail, ticket: TicketContext = TICKET) -> list[Finding]:
    return check_draft(mail, ticket, DIRECTORY)


def codes(mail: DraftMail, ticket: TicketContext = TICKET) -> list[str]:
    return sorted({f.code for f in findings(mail, ticket)}, key=CODES.index)


def with_check_digit(first11: str) -> str:
    """Return a 12-digit 個人番号 built from 11 digits plus the official check digit."""
    weights = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
    remainder = sum(int(d) * w for d, w in zip(first11, weights, strict=True)) % 11
    return first11 + str(0 if remainder <= 1 else 11 - remainder)


def with_wrong_check_digit(first11: str) -> str:
    good = with_check_digit(first11)
    return good[:11] + str((int(good[11]) + 1) % 10)


# --- a clean draft and the shape of the result ------------------------------------------------


def test_clean_draft_has_no_findings() -> None:
    assert findings(draft("ご寄附の返礼品を発送いたしました。")) == []


def test_findings_follow_the_code_order() -> None:
    mail = draft(
        "受付番号 ORD-2025-000201 も手配中です。\nご依頼の書類を添付いたします。",
        greeting="鈴木 恵子 様",
        to=("taro.yamada1@example.ne.jp",),
    )
    got = [f.code for f in findings(mail)]
    assert got == sorted(got, key=CODES.index)
    assert set(got) == {
        "recipient_not_on_ticket",
        "foreign_pii",
        "salutation_mismatch",
        "missing_attachment",
    }


def test_every_code_has_a_severity_and_leaks_block() -> None:
    assert set(SEVERITY) == set(CODES)
    for code in ("foreign_pii", "mynumber", "recipient_not_on_ticket", "recipient_domain_typo"):
        assert SEVERITY[code] == "block"


def test_blocking_is_true_only_with_a_block_finding() -> None:
    assert not blocking(findings(draft("写しを添付いたします。")))
    assert blocking(findings(draft(to=("taro.yamada1@example.ne.jp",))))


def test_messages_are_japanese_and_name_the_offending_address() -> None:
    (finding,) = findings(draft(to=("taro.yamada1@example.ne.jp",)))
    assert finding.code == "recipient_not_on_ticket"
    assert "taro.yamada1@example.ne.jp" in finding.message
    assert "寄附者" in finding.message
    assert finding.evidence.field == "to"


# --- recipient_not_on_ticket ------------------------------------------------------------------


def test_accepts_the_donors_own_address() -> None:
    assert codes(draft()) == []


def test_accepts_the_donors_address_with_display_name_and_capitals() -> None:
    assert codes(draft(to=("山田 太郎 <Taro.Yamada@Example.ne.jp>",))) == []


def test_flags_the_twin_address_of_another_donor() -> None:
    assert codes(draft(to=("taro.yamada1@example.ne.jp",))) == ["recipient_not_on_ticket"]


def test_flags_an_unknown_address_in_to() -> None:
    assert codes(draft(to=("someone@example.org",))) == ["recipient_not_on_ticket"]


def test_accepts_the_city_contact_in_cc_with_a_greeting_note() -> None:
    mail = draft(
        greeting="山田 太郎 様\n（cc：伊勢市 ふるさと納税担当 ご担当者様）",
        cc=("furusato@city-ise.example.jp",),
    )
    assert codes(mail) == []


def test_accepts_the_city_contact_in_cc_with_a_note_later_in_the_body() -> None:
    mail = draft(
        "※本件は伊勢市 ふるさと納税担当にもccにて共有しております。",
        cc=("furusato@city-ise.example.jp",),
    )
    assert codes(mail) == []


def test_flags_the_city_contact_in_cc_without_any_note() -> None:
    mail = draft("返礼品は伊勢市の事業者から発送されます。", cc=("furusato@city-ise.example.jp",))
    assert codes(mail) == ["recipient_not_on_ticket"]


def test_flags_another_citys_contact_even_with_a_note() -> None:
    mail = draft(
        "※本件は横浜市 ふるさと納税担当にもccにて共有しております。",
        cc=("furusato-kifu@city.yokohama.example.jp",),
    )
    assert "recipient_not_on_ticket" in codes(mail)


def test_accepts_the_order_supplier_in_cc_when_the_greeting_names_it() -> None:
    mail = draft(
        greeting="山田 太郎 様\n（cc：株式会社五十鈴川ファーム ご担当者様）",
        cc=("order@isuzugawa-farm.example.jp",),
    )
    assert codes(mail) == []


def test_accepts_the_order_supplier_named_without_company_form_in_a_cc_note() -> None:
    mail = draft(
        "※本メールは五十鈴川ファーム様にもCCにてお送りしております。",
        cc=("order@isuzugawa-farm.example.jp",),
    )
    assert codes(mail) == []


def test_accepts_the_order_supplier_in_cc_with_a_plain_also_sent_note() -> None:
    mail = draft(
        "※株式会社五十鈴川ファームにも本メールをお送りしております。",
        cc=("order@isuzugawa-farm.example.jp",),
    )
    assert codes(mail) == []


def test_flags_the_order_supplier_in_cc_when_only_the_body_mentions_it() -> None:
    mail = draft(
        "提供事業者の株式会社五十鈴川ファームに確認いたしました。",
        cc=("order@isuzugawa-farm.example.jp",),
    )
    assert codes(mail) == ["recipient_not_on_ticket"]


def test_flags_a_supplier_of_the_same_city_that_has_no_order_on_the_ticket() -> None:
    mail = draft(
        text="二見浦水産株式会社\nご担当者様\n\nいつもお世話になっております。\n\n" + SIGNATURE,
        to=("shukka@futami-suisan.example.co.jp",),
    )
    assert codes(mail) == ["recipient_not_on_ticket"]


def test_accepts_a_mail_to_the_order_supplier_about_the_donors_own_order() -> None:
    mail = draft(
        text=(
            "株式会社五十鈴川ファーム\nご担当者様\n\nいつもお世話になっております。\n"
            "受付番号：ORD-2025-000101\n"
            "寄附者：山田 太郎 様（東京都世田谷区日の出町2丁目15番10号）\n"
            "電話：03-0575-4225\n\n" + SIGNATURE
        ),
        to=("order@isuzugawa-farm.example.jp",),
    )
    assert codes(mail) == []


def test_accepts_a_mail_to_the_city_office_named_in_the_greeting() -> None:
    mail = draft(
        text="伊勢市役所 ふるさと納税担当\nご担当者様\n\n再発行をお願いいたします。\n\n"
        + SIGNATURE,
        to=("furusato@city-ise.example.jp",),
    )
    assert codes(mail) == []


def test_ignores_any_address_in_bcc() -> None:
    mail = draft(bcc=("archive@furusato-desk.example.jp", "k.suzuki@example.jp"))
    assert codes(mail) == []


def test_accepts_the_internal_desk_domain_in_cc() -> None:
    assert codes(draft(cc=("support-ise@furusato-desk.example.jp",))) == []


# --- recipient_domain_typo --------------------------------------------------------------------


def test_flags_a_provider_typo_in_to_together_with_not_on_ticket() -> None:
    mail = draft(to=("taro.yamada@icloud.co",))
    assert codes(mail) == ["recipient_not_on_ticket", "recipient_domain_typo"]


def test_flags_a_provider_typo_in_bcc_alone() -> None:
    mail = draft("携帯電話のメールアドレスにもお送りしております。", bcc=("taro.m@yahooo.co.jp",))
    assert codes(mail) == ["recipient_domain_typo"]


@pytest.mark.parametrize(
    "domain", ["gmial.com", "gmail.co", "docomo.ne.jo", "ezweb.ne.jpp", "hotmal.co.jp", "au.co"]
)
def test_flags_domains_one_or_two_edits_from_a_provider(domain: str) -> None:
    assert "recipient_domain_typo" in codes(draft(bcc=(f"taro@{domain}",)))


@pytest.mark.parametrize("domain", ["gmail.com", "yahoo.co.jp", "i.softbank.jp", "au.com"])
def test_accepts_exact_provider_domains(domain: str) -> None:
    assert codes(draft(bcc=(f"taro@{domain}",))) == []


@pytest.mark.parametrize(
    "domain", ["softbank.example.jp", "icloud.example.com", "example.ne.jp", "ai.co"]
)
def test_accepts_domains_far_from_any_provider(domain: str) -> None:
    assert codes(draft(bcc=(f"taro.m@{domain}",))) == []


def test_names_the_provider_in_the_message() -> None:
    (finding,) = findings(draft(bcc=("taro@gmial.com",)))
    assert "gmail.com" in finding.message
    assert finding.evidence.field == "bcc"


# --- foreign_pii ------------------------------------------------------------------------------


def test_flags_other_donors_order_number_in_full_width() -> None:
    assert codes(draft("受付番号ＯＲＤ－２０２５－０００２０１も手配中です。")) == ["foreign_pii"]


def test_flags_other_donors_donation_number() -> None:
    assert codes(draft("寄附番号D25-3000301の受領証明書も再発行しました。")) == ["foreign_pii"]


def test_flags_other_donors_email_in_the_body() -> None:
    assert codes(draft("控えをk.suzuki@example.jp宛てにもお送りしております。")) == ["foreign_pii"]


def test_flags_other_donors_phone_written_with_spaces() -> None:
    assert codes(draft("緊急時は 090 0648 0434 までご連絡します。")) == ["foreign_pii"]


def test_flags_other_donors_phone_in_plus81_form() -> None:
    assert codes(draft("SMSは+81-90-0648-0434宛てにお送りします。")) == ["foreign_pii"]


def test_flags_other_donors_postal_code() -> None:
    assert codes(draft("送付先：〒２１１－５９２６")) == ["foreign_pii"]


def test_flags_other_donors_address_without_postal_code() -> None:
    assert codes(draft("お届け先：神奈川県川崎市中原区柳町1丁目3番11号")) == ["foreign_pii"]


def test_flags_other_donors_address_in_hyphen_form() -> None:
    assert codes(draft("お届け先：川崎市中原区柳町１－３－１１")) == ["foreign_pii"]


def test_flags_other_donors_row_in_an_attached_csv() -> None:
    csv = (
        "受付番号,寄附番号,寄附者氏名,電話番号\n"
        "ORD-2025-000101,D25-1000101,山田 太郎,03-0575-4225\n"
        "ORD-2025-000401,D25-4000401,鈴木 健太,03-0782-4875\n"
    )
    mail = draft("ご寄附の履歴を添付しております。", attachments=[("orders.csv", csv)])
    assert codes(mail) == ["foreign_pii"]


def test_flags_other_donors_order_number_only_in_the_attachment_filename() -> None:
    mail = draft(
        "控えを添付しましたのでご確認ください。",
        attachments=[("納品書_ORD-2025-000401.pdf", "納品書\n品名：干物セット")],
    )
    assert codes(mail) == ["foreign_pii"]


def test_flags_other_donors_data_in_a_quoted_original_message() -> None:
    quoted = (
        "-----Original Message-----\nFrom: 鈴木 恵子 <k.suzuki@example.jp>\n"
        "Subject: 返礼品について\n\n到着予定日を教えてください。\n"
    )
    assert codes(draft(text=body() + "\n\n" + quoted)) == ["foreign_pii"]


def test_accepts_own_phone_repeated() -> None:
    middle = "\n".join(["ご連絡先：03-0575-4225", "TEL ０３－０５７５－４２２５", "03 0575 4225"])
    assert codes(draft(middle)) == []


def test_accepts_own_order_and_donation_numbers_in_full_width() -> None:
    assert (
        codes(draft("受付番号：ＯＲＤ－２０２５－０００１０１（寄附番号 Ｄ２５－１０００１０１）"))
        == []
    )


def test_accepts_the_donors_own_order_that_is_not_on_the_ticket() -> None:
    assert codes(draft("なお、受付番号ORD-2025-000102も同様に手配しております。")) == []


def test_accepts_own_data_in_a_mail_to_the_city() -> None:
    mail = draft(
        text=(
            "伊勢市役所 ふるさと納税担当\nご担当者様\n\n"
            "寄附者：山田 太郎 様\n住所：〒154-7018 東京都世田谷区日の出町2丁目15番10号\n"
            "電話：03-0575-4225／taro.yamada@example.ne.jp\n寄附番号：D25-1000101\n\n" + SIGNATURE
        ),
        to=("furusato@city-ise.example.jp",),
    )
    assert codes(mail) == []


def test_accepts_another_donors_name_without_any_identifier() -> None:
    assert codes(draft("二見浦水産株式会社の鈴木 恵子様よりお詫びのお手紙を同梱いたします。")) == []


def test_does_not_mistake_the_own_email_for_the_twin_email() -> None:
    assert codes(draft("ご登録のアドレス（taro.yamada@example.ne.jp）宛てにお送りします。")) == []
    twin = draft("ご登録のアドレス（taro.yamada1@example.ne.jp）宛てにお送りします。")
    assert codes(twin) == ["foreign_pii"]


def test_ignores_numbers_that_belong_to_nobody() -> None:
    middle = "FAX 0596-02-3380／伝票番号 3763-1507-6107／決済番号 608328532948"
    assert codes(draft(middle)) == []


def test_names_the_other_donor_and_the_value_for_the_operator() -> None:
    (finding,) = findings(draft("受付番号ORD-2025-000201も手配中です。"))
    assert "山田 太朗" in finding.message
    assert "ORD-2025-000201" in finding.message
    assert finding.evidence.field == "本文"


# --- salutation_mismatch ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "greeting",
    [
        "山田 太郎 様",
        "山田太郎様",
        "山田　太郎　様",
        "山田 様",
        "ヤマダ タロウ 様",
        "ヤマダ様",
        "ﾔﾏﾀﾞ ﾀﾛｳ 様",
    ],
)
def test_accepts_the_donors_name_in_every_allowed_form(greeting: str) -> None:
    assert codes(draft(greeting=greeting)) == []


def test_flags_another_donors_full_name() -> None:
    assert codes(draft(greeting="鈴木 恵子 様")) == ["salutation_mismatch"]


def test_flags_the_same_surname_with_another_given_name() -> None:
    assert codes(draft(greeting="山田 花子 様")) == ["salutation_mismatch"]


def test_flags_a_homophone_given_name_written_differently() -> None:
    assert codes(draft(greeting="山田 太朗 様")) == ["salutation_mismatch"]


def test_flags_a_given_name_alone() -> None:
    assert codes(draft(greeting="太郎 様")) == ["salutation_mismatch"]


def test_accepts_variant_kanji_of_the_donors_name() -> None:
    ticket = TicketContext("don-f", ("ORD-2025-000601",), "ise")
    mail = draft(greeting="高橋 誠司 様", to=("seiji.takahashi@example.ne.jp",))
    assert codes(mail, ticket) == []


@pytest.mark.parametrize("greeting", ["寄附者各位", "ご担当者様", "伊勢市役所 御中", "皆様"])
def test_ignores_generic_greetings(greeting: str) -> None:
    assert "salutation_mismatch" not in codes(draft(greeting=greeting))


def test_ignores_a_greeting_to_an_organisation() -> None:
    mail = draft(
        greeting="株式会社五十鈴川ファーム 中村様", to=("order@isuzugawa-farm.example.jp",)
    )
    assert "salutation_mismatch" not in codes(mail)


def test_reports_a_placeholder_greeting_only_as_placeholder() -> None:
    assert codes(draft(greeting="○○様")) == ["unresolved_placeholder"]
    assert codes(draft(greeting="{{name}} 様")) == ["unresolved_placeholder"]


def test_ignores_a_name_with_sama_later_in_the_body() -> None:
    assert codes(draft("事業者の鈴木様より連絡がございました。")) == []


def test_ignores_a_first_line_that_does_not_end_in_sama() -> None:
    assert codes(draft(greeting="鈴木 恵子様 いつもありがとうございます")) == []


# --- unresolved_placeholder -------------------------------------------------------------------


@pytest.mark.parametrize(
    "middle",
    [
        "返礼品「{{item_name}}」を発送いたしました。",
        "返礼品「{item_name}」を発送いたしました。",
        "返礼品「[[返礼品]]」を発送いたしました。",
        "返礼品「〇〇〇」を発送いたしました。",
        "詳細につきましては、＊＊＊までお問い合わせください。",
        "寄附金額：XXXX円",
        "返礼品「【返礼品名】」を発送いたしました。",
        "寄附金額：【寄附金額】",
        "【期限日】までにご返送ください。",
        "担当：【担当者名】",
    ],
)
def test_flags_placeholders_in_the_body(middle: str) -> None:
    assert codes(draft(middle)) == ["unresolved_placeholder"]


def test_flags_a_field_bracket_greeting() -> None:
    assert codes(draft(greeting="【お名前】様")) == ["unresolved_placeholder"]


def test_flags_a_placeholder_in_the_subject() -> None:
    assert codes(draft(subject="【事業者名】返礼品の件")) == ["unresolved_placeholder"]


def test_flags_a_placeholder_in_an_attachment() -> None:
    mail = draft("明細を添付いたします。", attachments=[("明細.pdf", "寄附者：○○ 様")])
    assert codes(mail) == ["unresolved_placeholder"]


@pytest.mark.parametrize(
    "middle",
    [
        "【ご寄附の内容】\n寄附金額：10,000円",
        "【送付先】\n〒516-8799 伊勢郵便局 私書箱第21号",
        "【お問い合わせ窓口】受付時間：平日9時〜17時",
        "【受付時間】平日9時〜17時",
        "申請書の性別欄は、該当するものを〇で囲んでください。",
        "※土日祝は休業です。\n＊印は必須項目です。",
        "平成十七年（二〇〇五年）から続く制度です。",
        "お支払いカード：****-****-****-1234",
    ],
)
def test_accepts_headings_marks_and_notes(middle: str) -> None:
    assert codes(draft(middle)) == []


def test_accepts_blank_form_fields_in_an_attachment() -> None:
    form = "申請日　令和　　年　　月　　日\n【お名前】\n個人番号　（12桁の番号をご記入ください）"
    mail = draft("申請書を添付いたします。", attachments=[("申請書.pdf", form)])
    assert codes(mail) == []


def test_accepts_a_separator_line_of_asterisks() -> None:
    assert codes(draft("*************************\nお知らせ\n*************************")) == []


# --- missing_attachment -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "claim",
    [
        "申請書の様式をPDFで添付いたしましたので、ご利用ください。",
        "配送状況の画面を添付しておりますので、ご参照ください。",
        "変更内容の控えを添付ファイルにてお送りします。",
        "詳細は別添の資料をご確認ください。",
        "Please find the certificate attached.",
        "注文情報をCSVファイルで添付いたしますので、ご確認ください。",
    ],
)
def test_flags_a_claimed_attachment_that_is_missing(claim: str) -> None:
    assert codes(draft(claim)) == ["missing_attachment"]


def test_flags_a_claim_in_the_subject() -> None:
    assert codes(draft(subject="【添付あり】受領証明書の再発行")) == ["missing_attachment"]


def test_accepts_a_claim_when_a_file_is_attached() -> None:
    mail = draft("控えを添付いたします。", attachments=[("控え.pdf", "お申し込み明細")])
    assert codes(mail) == []


@pytest.mark.parametrize(
    "text",
    [
        "本人確認書類の写しを添付のうえ、下記までご郵送ください。",
        "お品物の写真を本メールに添付してご返信いただけますでしょうか。",
        "このメール（添付ファイルを含む）は宛先の方のみを対象としています。",
        "今回は書類を添付しておりませんので、郵送をお待ちください。",
        "This e-mail and any files attached to it are confidential.",
    ],
)
def test_ignores_instructions_disclaimers_and_negations(text: str) -> None:
    assert codes(draft(text)) == []


def test_ignores_a_claim_negated_later_in_the_sentence() -> None:
    assert codes(draft("個人情報を添付ファイルにてお送りすることはありません。")) == []


def test_ignores_a_claim_inside_quoted_text() -> None:
    quoted = "\n\n> 写真を添付します。\n> よろしくお願いします。"
    assert codes(draft(text=body() + quoted)) == []


# --- visible_recipients -----------------------------------------------------------------------


def test_flags_two_donors_in_to() -> None:
    mail = draft(greeting="寄附者各位", to=("taro.yamada@example.ne.jp", "k.suzuki@example.jp"))
    assert codes(mail) == ["recipient_not_on_ticket", "visible_recipients"]


def test_flags_another_donor_in_cc() -> None:
    mail = draft(cc=("k.suzuki@example.ne.jp",))
    assert codes(mail) == ["recipient_not_on_ticket", "visible_recipients"]


def test_does_not_count_city_and_supplier_addresses_as_personal() -> None:
    mail = draft(
        greeting=(
            "山田 太郎 様\n（cc：伊勢市 ふるさと納税担当、株式会社五十鈴川ファーム ご担当者様）"
        ),
        cc=("furusato@city-ise.example.jp", "order@isuzugawa-farm.example.jp"),
    )
    assert codes(mail) == []


def test_counts_the_donors_second_address_in_cc_as_the_same_person() -> None:
    mail = draft(cc=("taro.yamada.m@softbank.example.jp",))
    assert codes(mail) == ["recipient_not_on_ticket"]


# --- mynumber ---------------------------------------------------------------------------------


VALID = with_check_digit("12345678901")
INVALID = with_wrong_check_digit("12345678901")


def test_flags_a_contiguous_mynumber() -> None:
    assert codes(draft(f"個人番号（{VALID}）を確認いたしました。")) == ["mynumber"]


@pytest.mark.parametrize(
    "written",
    [
        f"{VALID[:4]} {VALID[4:8]} {VALID[8:]}",
        f"{VALID[:4]}-{VALID[4:8]}-{VALID[8:]}",
        normalize(VALID).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        f"{VALID[:4]}　{VALID[4:8]}　{VALID[8:]}".translate(
            str.maketrans("0123456789", "０１２３４５６７８９")
        ),
        f"{VALID[:4]}ー{VALID[4:8]}ー{VALID[8:]}",
    ],
)
def test_flags_a_mynumber_grouped_or_in_full_width(written: str) -> None:
    assert codes(draft(f"申請書に記載の番号：{written}")) == ["mynumber"]


def test_flags_a_mynumber_only_in_an_attachment() -> None:
    form = f"氏名　山田 太郎\n個人番号　{VALID[:4]} {VALID[4:8]} {VALID[8:]}"
    mail = draft("申請書を添付いたします。", attachments=[("申請書.pdf", form)])
    assert codes(mail) == ["mynumber"]


def test_ignores_mynumber_with_invalid_check_digit() -> None:
    assert codes(draft(f"お問い合わせ伝票番号：{INVALID}")) == []
    assert codes(draft(f"伝票番号：{INVALID[:4]}-{INVALID[4:8]}-{INVALID[8:]}")) == []


def test_ignores_a_plus81_phone_even_when_its_digits_pass_the_check() -> None:
    # Find a +81 mobile whose 12 digits happen to carry a valid check digit.
    number = next(f"8190{n:08d}" for n in range(10_000, 99_999) if is_mynumber(f"8190{n:08d}"))
    written = f"+81-90-{number[4:8]}-{number[8:]}"
    assert codes(draft(f"緊急時は{written}宛てにSMSでお送りします。")) == []


def test_masks_the_mynumber_in_message_and_evidence() -> None:
    (finding,) = findings(draft(f"個人番号（{VALID}）を確認いたしました。"))
    assert VALID not in finding.message
    assert VALID not in finding.evidence.snippet
    assert VALID[-4:] in finding.message


@pytest.mark.parametrize(
    ("first11", "check"),
    [("12345678901", None), ("00000000000", "0"), ("11111111111", None)],
)
def test_check_digit_follows_the_official_weights(first11: str, check: str | None) -> None:
    full = with_check_digit(first11)
    if check is not None:
        assert full[-1] == check
    assert is_mynumber(full)
    assert not is_mynumber(with_wrong_check_digit(first11))
    assert not is_mynumber(full[:11])


# --- wrong_municipality -----------------------------------------------------------------------


def test_flags_another_city_in_the_opening() -> None:
    opening = OPENING.replace("いつも伊勢市を応援", "この度は横浜市へのふるさと納税に協力")
    assert codes(draft(opening=opening)) == ["wrong_municipality"]


def test_flags_another_citys_desk_in_the_self_introduction_and_signature() -> None:
    text = body().replace(
        "伊勢市ふるさと納税 寄附者サポート窓口", "千代田区ふるさと納税 寄附者サポートデスク"
    )
    assert codes(draft(text=text)) == ["wrong_municipality"]


def test_flags_another_city_in_the_subject() -> None:
    assert codes(draft(subject="【静岡市】寄附金受領証明書の再発行について")) == [
        "wrong_municipality"
    ]


def test_flags_another_city_in_an_added_sentence() -> None:
    assert codes(draft("千代田区へのご寄附に対する受領証明書は別途郵送いたします。")) == [
        "wrong_municipality"
    ]


def test_flags_another_city_followed_by_a_donation_number() -> None:
    assert codes(draft("横浜市への寄附番号D25-1000101の証明書を再発行しました。")) == [
        "wrong_municipality"
    ]


def test_flags_another_citys_one_stop_mailing_address() -> None:
    middle = (
        "【送付先】\n〒231-8799 横浜港郵便局 私書箱第108号\n"
        "横浜市 ふるさと納税ワンストップ受付センター"
    )
    assert codes(draft(middle)) == ["wrong_municipality"]


def test_flags_another_city_as_issuer_of_an_attached_certificate() -> None:
    cert = "寄附金受領証明書\n山田 太郎 様\n寄附番号　D25-1000101\n静岡市長（公印省略）"
    mail = draft("証明書を添付いたします。", attachments=[("証明書.pdf", cert)])
    assert codes(mail) == ["wrong_municipality"]


def test_accepts_the_donors_residence_municipality() -> None:
    assert codes(draft("住民税の控除は、お住まいの横浜市にて翌年度の住民税から行われます。")) == []


def test_accepts_the_residence_named_after_resident_tax() -> None:
    assert codes(draft("住民税の控除は、横浜市にて翌年度の住民税から行われます。")) == []


def test_accepts_a_submission_note_naming_the_residence() -> None:
    middle = "申請書の提出先はお住まいの千代田区ではなく、伊勢市となります。"
    assert codes(draft(middle)) == []


def test_accepts_a_city_name_inside_a_postal_address() -> None:
    ticket = TicketContext("don-e", ("ORD-2025-000501",), "ise")
    mail = draft(
        "お届け先：〒222-5640 神奈川県横浜市港北区日の出町1丁目23番9号 サンプルハイツ502",
        greeting="中村 恵子 様",
        to=("keiko.nakamura@yahoo.example.co.jp",),
    )
    assert codes(mail, ticket) == []


def test_ignores_another_city_in_quoted_donor_text() -> None:
    quoted = "\n\n> 横浜市にも寄附しましたが、こちらの件で質問です。"
    assert codes(draft(text=body() + quoted)) == []


# --- text primitives --------------------------------------------------------------------------


def test_normalize_folds_width_and_dashes_between_digits() -> None:
    assert normalize("０９０－０６４８ー０４３４") == "090-0648-0434"
    assert normalize("ＯＲＤ‐２０２５") == "ORD-2025"
    assert normalize("コーポ") == "コーポ"


def test_number_candidates_split_at_spaces_but_not_at_hyphens() -> None:
    digits = {c.digits for c in number_candidates("TEL 070-0886-9447 12 / 1234 5678 9012")}
    assert {"07008869447", "12", "123456789012", "1234"} <= digits
    assert "0700886" not in digits


def test_number_candidates_skip_alphanumeric_ids() -> None:
    assert [c.digits for c in number_candidates("ORD-2025-000101 D25-1000101")] == []


def test_edit_distance_counts_a_transposition_as_one() -> None:
    assert edit_distance("gmial.com", "gmail.com") == 1
    assert edit_distance("icloud.co", "icloud.com") == 1
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("abcdef", "uvwxyz", limit=2) == 3


def test_name_key_ignores_spaces_width_and_script() -> None:
    assert name_key("山田　太郎") == name_key("山田太郎")
    assert name_key("ﾔﾏﾀﾞ ﾀﾛｳ") == name_key("やまだ たろう") == "ヤマダタロウ"
    assert name_key("髙橋") == name_key("高橋")


def test_address_core_drops_prefecture_and_building() -> None:
    assert address_core("東京都世田谷区日の出町2丁目15番10号 グリーンコート806") == (
        "世田谷区日の出町2-15-10"
    )


def test_own_part_drops_quoted_history() -> None:
    text = "本文です。\n> 引用\n-----Original Message-----\nFrom: someone"
    assert own_part(text) == "本文です。"


def test_directory_finds_orders_in_any_spelling() -> None:
    assert DIRECTORY.order("ＯＲＤ－２０２５－０００１０１") == ORDERS[0]
    assert DIRECTORY.order("ORD2025000101") == ORDERS[0]


def test_draft_and_ticket_build_from_records() -> None:
    record: dict[str, Any] = {
        "ticket": {"donor_id": "don-a", "order_ids": ["ORD-2025-000101"], "municipality": "ise"},
        "to": "taro.yamada@example.ne.jp",
        "subject": "件名",
        "body": "本文",
        "attachments": [{"filename": "a.csv", "text": "x"}],
    }
    assert TicketContext.from_mapping(record["ticket"]) == TICKET
    mail = DraftMail.from_mapping(record)
    assert mail.to == ("taro.yamada@example.ne.jp",)
    assert mail.cc == ()
    assert mail.attachments == (("a.csv", "x"),)


# --- the labelled dev drafts ------------------------------------------------------------------


def _dev_records() -> list[dict[str, Any]]:
    if not DRAFTS_FILE.exists():
        return []
    with DRAFTS_FILE.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


_DEV = _dev_records()


@pytest.fixture(scope="module")
def world_directory() -> Directory:
    if not WORLD_FILE.exists():
        pytest.skip(f"{WORLD_FILE} is missing")
    return Directory.from_world(json.loads(WORLD_FILE.read_text(encoding="utf-8")))


@pytest.mark.skipif(not _DEV, reason=f"{DRAFTS_FILE} is missing")
@pytest.mark.parametrize("record", _DEV, ids=[r["id"] for r in _DEV])
def test_dev_draft_gets_exactly_its_labels(
    record: dict[str, Any], world_directory: Directory
) -> None:
    got = check_draft(
        DraftMail.from_mapping(record),
        TicketContext.from_mapping(record["ticket"]),
        world_directory,
    )
    got_codes = [f.code for f in got]
    assert sorted(set(got_codes), key=CODES.index) == record["expect"]
    assert got_codes == sorted(got_codes, key=CODES.index)
