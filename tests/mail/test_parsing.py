"""Unit tests of support.mail.parsing, one class per concern, messages built from bytes."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from support.mail.parsing import Attachment, ParsedMail, parse_message
from support.mail.parsing_charsets import decode_bytes, normalise_charset
from support.mail.parsing_html import html_to_text, is_pathological_html, sanitize_html

JST = timezone(timedelta(hours=9))


def mail(*lines: bytes) -> bytes:
    """Join header and body lines with CRLF, as they travel over SMTP."""
    return b"\r\n".join(lines)


def simple(
    body: bytes = b"hello",
    *,
    subject: bytes = b"test",
    sender: bytes = b"donor@example.jp",
    content_type: bytes = b"text/plain; charset=utf-8",
    cte: bytes = b"8bit",
    extra: tuple[bytes, ...] = (),
) -> bytes:
    """Build a single-part message with sensible defaults."""
    return mail(
        b"From: " + sender,
        b"To: support@furusato.example.jp",
        b"Subject: " + subject,
        b"Date: Tue, 03 Jun 2025 10:15:12 +0900",
        b"Message-ID: <m1@example.jp>",
        *extra,
        b"MIME-Version: 1.0",
        b"Content-Type: " + content_type,
        b"Content-Transfer-Encoding: " + cte,
        b"",
        body,
    )


def multipart(subtype: bytes, *parts: bytes, extra: tuple[bytes, ...] = ()) -> bytes:
    """Build a multipart message from already-built part bytes (headers + body)."""
    lines = [
        b"From: donor@example.jp",
        b"To: support@furusato.example.jp",
        b"Subject: multipart",
        b"Message-ID: <mp@example.jp>",
        *extra,
        b"MIME-Version: 1.0",
        b"Content-Type: multipart/" + subtype + b'; boundary="BOUND"',
        b"",
    ]
    for part in parts:
        lines += [b"--BOUND", part]
    lines += [b"--BOUND--", b""]
    return mail(*lines)


def part(*lines: bytes) -> bytes:
    return mail(*lines)


def names(parsed: ParsedMail) -> list[str]:
    return [a.filename for a in parsed.attachments]


class TestJapaneseCharsets:
    def test_decodes_plain_iso_2022_jp(self) -> None:
        parsed = parse_message(
            simple(b"\x1b$B$3$s$K$A$O\x1b(B", content_type=b"text/plain; charset=iso-2022-jp")
        )
        assert parsed.text == "こんにちは"
        assert parsed.defects == []

    def test_decodes_iso_2022_jp_with_microsoft_extensions(self) -> None:
        parsed = parse_message(
            simple(b"\x1b$B-!|byu-j\x1b(B", content_type=b"text/plain; charset=ISO-2022-JP")
        )
        assert parsed.text == "①髙﨑㈱"

    def test_decodes_half_width_katakana_escape_in_iso_2022_jp(self) -> None:
        parsed = parse_message(
            simple(b"\x1b(I123\x1b(B", content_type=b"text/plain; charset=iso-2022-jp")
        )
        assert parsed.text == "ｱｲｳ"

    def test_decodes_jis_x_0212_escape_in_iso_2022_jp(self) -> None:
        parsed = parse_message(
            simple(b"\x1b$(D0!\x1b(B", content_type=b"text/plain; charset=iso-2022-jp")
        )
        assert parsed.text == "丂"

    def test_reads_shift_jis_as_cp932_vendor_characters(self) -> None:
        parsed = parse_message(
            simple(b"\x87\x8a\x87@", content_type=b"text/plain; charset=Shift_JIS")
        )
        assert parsed.text == "㈱①"

    def test_keeps_shift_jis_trail_byte_0x5c_inside_the_character(self) -> None:
        parsed = parse_message(simple(b"\x83\\\x95\\", content_type=b"text/plain; charset=sjis"))
        assert parsed.text == "ソ表"

    def test_decodes_euc_jp(self) -> None:
        parsed = parse_message(
            simple(b"\xbd\xbb\xbd\xea\xca\xd1\xb9\xb9", content_type=b"text/plain; charset=EUC-JP")
        )
        assert parsed.text == "住所変更"

    def test_decodes_euc_jp_nec_row_13(self) -> None:
        parsed = parse_message(simple(b"\xad\xa1", content_type=b"text/plain; charset=euc-jp"))
        assert parsed.text == "①"

    def test_keeps_carrier_pictograph_as_private_use_character(self) -> None:
        body = "届きません".encode("cp932") + b"\xf8\x9f"
        parsed = parse_message(simple(body, content_type=b"text/plain; charset=Shift_JIS"))
        assert parsed.text == "届きません\ue63e"

    def test_detects_shift_jis_when_no_charset_is_declared(self) -> None:
        body = "返礼品が届きません".encode("cp932")
        parsed = parse_message(simple(body, content_type=b"text/plain"))
        assert parsed.text == "返礼品が届きません"

    def test_detects_euc_jp_when_no_charset_is_declared(self) -> None:
        body = "ありがとうございます".encode("euc_jp")
        parsed = parse_message(simple(body, content_type=b"text/plain"))
        assert parsed.text == "ありがとうございます"

    def test_detects_iso_2022_jp_by_escape_sequences_when_declared_ascii(self) -> None:
        parsed = parse_message(
            simple(b"\x1b$B$3$s$K$A$O\x1b(B", content_type=b"text/plain; charset=us-ascii")
        )
        assert parsed.text == "こんにちは"
        assert any("ISO-2022-JP" in d for d in parsed.defects)

    def test_reads_utf8_mislabelled_as_latin1(self) -> None:
        body = "とても美味しくいただきました".encode()
        parsed = parse_message(simple(body, content_type=b"text/plain; charset=iso-8859-1"))
        assert parsed.text == "とても美味しくいただきました"
        assert any("iso-8859-1" in d for d in parsed.defects)

    def test_reads_shift_jis_mislabelled_as_iso_2022_jp(self) -> None:
        body = "こんにちは".encode("cp932")
        parsed = parse_message(simple(body, content_type=b"text/plain; charset=iso-2022-jp"))
        assert parsed.text == "こんにちは"

    def test_reads_euc_jp_mislabelled_as_shift_jis(self) -> None:
        body = "住所変更のお願いです".encode("euc_jp")
        parsed = parse_message(simple(body, content_type=b"text/plain; charset=shift_jis"))
        assert parsed.text == "住所変更のお願いです"

    def test_does_not_turn_german_latin1_into_kanji(self) -> None:
        body = "Grüße für Müller".encode("latin-1")
        parsed = parse_message(simple(body, content_type=b"text/plain; charset=iso-8859-1"))
        assert parsed.text == "Grüße für Müller"

    def test_trusts_a_declared_chinese_charset(self) -> None:
        body = "你好世界".encode("gb2312")
        parsed = parse_message(simple(body, content_type=b"text/plain; charset=gb2312"))
        assert parsed.text == "你好世界"

    def test_survives_an_unknown_charset_label(self) -> None:
        body = "寄附".encode()
        parsed = parse_message(simple(body, content_type=b"text/plain; charset=x-klingon"))
        assert parsed.text == "寄附"
        assert any("x-klingon" in d for d in parsed.defects)

    def test_rejects_bytes_codecs_as_charset_labels(self) -> None:
        assert normalise_charset("base64") is None
        assert normalise_charset("zlib") is None

    def test_maps_shift_jis_aliases_to_cp932(self) -> None:
        assert normalise_charset('"Shift_JIS"') == "cp932"
        assert normalise_charset("windows-31j") == "cp932"
        assert normalise_charset("x-sjis") == "cp932"

    def test_decode_bytes_never_raises_on_random_bytes(self) -> None:
        decoded = decode_bytes(bytes(range(256)) * 3, "iso-2022-jp")
        assert isinstance(decoded.text, str)


class TestEncodedWords:
    def test_decodes_encoded_word_split_mid_character(self) -> None:
        # "寄附金控除の上限額" in UTF-8, cut inside the three bytes of "限".
        first = base64.b64encode("寄附金控除の上".encode() + "限".encode()[:1])
        second = base64.b64encode("限".encode()[1:] + "額".encode())
        raw = simple(subject=b"=?UTF-8?B?" + first + b"?=\r\n =?UTF-8?B?" + second + b"?=")
        assert parse_message(raw).subject == "寄附金控除の上限額"

    def test_decodes_iso_2022_jp_words_split_across_escape_state(self) -> None:
        raw = simple(subject=b"=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= =?ISO-2022-JP?B?GyRCJCIbKEI=?=")
        assert parse_message(raw).subject == "テストあ"

    def test_decodes_microsoft_extensions_in_encoded_word(self) -> None:
        raw = simple(subject=b"=?ISO-2022-JP?B?GyRCLSF8Ynl1LWobKEI=?=")
        assert parse_message(raw).subject == "①髙﨑㈱"

    def test_drops_whitespace_between_adjacent_encoded_words_of_different_charsets(self) -> None:
        raw = simple(subject=b"=?UTF-8?B?5a+E?= =?ISO-2022-JP?B?GyRCJCIbKEI=?=")
        assert parse_message(raw).subject == "寄あ"

    def test_keeps_whitespace_between_encoded_word_and_plain_text(self) -> None:
        raw = simple(subject=b"Re: =?UTF-8?B?5a+E6ZmE?= [#123]")
        assert parse_message(raw).subject == "Re: 寄附 [#123]"

    def test_decodes_encoded_word_glued_to_text(self) -> None:
        raw = simple(subject=b"Re:=?UTF-8?B?5a+E6ZmE?=")
        assert parse_message(raw).subject == "Re:寄附"

    def test_decodes_q_encoding_with_underscores(self) -> None:
        raw = simple(subject=b"=?utf-8?q?Out_of_office=3A_=E5=AF=84?=")
        assert parse_message(raw).subject == "Out of office: 寄"

    def test_decodes_encoded_word_broken_by_folding_whitespace(self) -> None:
        raw = simple(subject=b"=?UTF-8?B?44CQ6KaB56K66KqN\r\n\t44CR?=")
        parsed = parse_message(raw)
        assert parsed.subject == "【要確認】"
        assert any("folding" in d for d in parsed.defects)

    def test_decodes_charset_with_rfc2231_language_suffix(self) -> None:
        raw = simple(subject=b"=?UTF-8*ja?B?5a+E6ZmE?=")
        assert parse_message(raw).subject == "寄附"

    def test_repairs_missing_base64_padding(self) -> None:
        raw = simple(subject=b"=?UTF-8?B?5a+E6ZmE6YeR?=")
        assert parse_message(raw).subject == "寄附金"
        raw = simple(subject=b"=?UTF-8?B?5a+E6Zm?=")
        assert parse_message(raw).subject.startswith("寄")

    def test_reads_raw_shift_jis_subject(self) -> None:
        raw = simple(subject="寄附の確認".encode("cp932"))
        assert parse_message(raw).subject == "寄附の確認"

    def test_reads_raw_iso_2022_jp_subject_without_encoded_words(self) -> None:
        raw = simple(subject=b"\x1b$B$3$s$K$A$O\x1b(B")
        assert parse_message(raw).subject == "こんにちは"

    def test_reads_raw_utf8_subject(self) -> None:
        raw = simple(subject="返礼品について".encode())
        assert parse_message(raw).subject == "返礼品について"

    def test_reads_encoded_word_mislabelled_as_latin1(self) -> None:
        raw = simple(subject=b"=?ISO-8859-1?B?44GK56S854q2?=")
        assert parse_message(raw).subject == "お礼状"

    def test_unfolds_and_collapses_ascii_whitespace_only(self) -> None:
        raw = simple(subject="山田\u3000太郎\r\n  様".encode())
        assert parse_message(raw).subject == "山田\u3000太郎 様"

    def test_leaves_malformed_encoded_word_as_text(self) -> None:
        raw = simple(subject=b"=?UTF-8?X?abc?= hello")
        assert parse_message(raw).subject == "=?UTF-8?X?abc?= hello"


class TestAddresses:
    def test_lower_cases_the_domain_and_keeps_the_local_part(self) -> None:
        parsed = parse_message(simple(sender=b"Ichiro Suzuki <Ichiro.Suzuki@Example.CO.JP>"))
        assert parsed.from_addr == "Ichiro.Suzuki@example.co.jp"
        assert parsed.from_name == "Ichiro Suzuki"

    def test_decodes_encoded_display_name(self) -> None:
        raw = simple(sender=b"=?ISO-2022-JP?B?GyRCOzNFRBsoQiAbJEIyVjtSGyhC?= <hanako.y@example.jp>")
        parsed = parse_message(raw)
        assert parsed.from_name == "山田 花子"
        assert parsed.from_addr == "hanako.y@example.jp"

    def test_decodes_encoded_word_inside_quoted_display_name(self) -> None:
        raw = simple(sender=b'"=?UTF-8?B?5bGx55SwIOiKseWtkA==?=" <hanako@example.jp>')
        assert parse_message(raw).from_name == "山田 花子"

    def test_keeps_comma_from_decoded_name_inside_one_mailbox(self) -> None:
        raw = simple(sender=b"=?UTF-8?Q?M=C3=BCller=2C_Bernd?= <bernd@example.com>")
        parsed = parse_message(raw)
        assert parsed.from_name == "Müller, Bernd"
        assert parsed.from_addr == "bernd@example.com"

    def test_reads_raw_shift_jis_display_name_with_backslash_trail_byte(self) -> None:
        raw = simple(sender="ソ表 <so@example.jp>".encode("cp932"))
        parsed = parse_message(raw)
        assert parsed.from_name == "ソ表"
        assert parsed.from_addr == "so@example.jp"

    def test_takes_name_from_trailing_comment(self) -> None:
        raw = simple(sender=b"MAILER-DAEMON@mx.example.jp (Mail Delivery System)")
        parsed = parse_message(raw)
        assert parsed.from_name == "Mail Delivery System"
        assert parsed.from_addr == "MAILER-DAEMON@mx.example.jp"

    def test_lists_to_and_cc_without_duplicates(self) -> None:
        raw = simple(
            extra=(
                b"Cc: A <a@example.jp>, b@example.jp,\r\n A again <A@EXAMPLE.JP>",
                b"Reply-To: reply@example.jp",
            )
        )
        parsed = parse_message(raw)
        assert parsed.to == ["support@furusato.example.jp"]
        assert parsed.cc == ["a@example.jp", "b@example.jp"]
        assert parsed.reply_to == ["reply@example.jp"]

    def test_ignores_empty_groups(self) -> None:
        raw = simple(extra=(b"Cc: undisclosed-recipients:;",))
        assert parse_message(raw).cc == []

    def test_salvages_address_from_unquoted_display_name(self) -> None:
        parsed = parse_message(simple(sender=b"Big Bug bb@bug.com"))
        assert parsed.from_addr == "bb@bug.com"

    def test_falls_back_to_sender_when_from_is_missing(self) -> None:
        raw = mail(b"Sender: desk@example.jp", b"Subject: x", b"", b"body")
        parsed = parse_message(raw)
        assert parsed.from_addr == "desk@example.jp"
        assert any("From" in d for d in parsed.defects)

    def test_reports_missing_from(self) -> None:
        parsed = parse_message(mail(b"Subject: x", b"", b"body"))
        assert parsed.from_addr is None
        assert parsed.from_name is None
        assert any("From" in d for d in parsed.defects)


class TestIdsAndDates:
    def test_strips_angle_brackets_from_message_id(self) -> None:
        assert parse_message(simple()).message_id == "m1@example.jp"

    def test_reports_missing_message_id(self) -> None:
        parsed = parse_message(mail(b"From: a@example.jp", b"Subject: x", b"", b"body"))
        assert parsed.message_id is None
        assert any("Message-ID" in d for d in parsed.defects)

    def test_reads_obsolete_message_id_with_spaces_and_comments(self) -> None:
        raw = simple(extra=(b"In-Reply-To: <1234   @   local(blah)  .machine .example>",))
        assert parse_message(raw).in_reply_to == "1234@local.machine.example"

    def test_keeps_references_in_order_without_repeats(self) -> None:
        raw = simple(
            extra=(
                b"In-Reply-To: <b@x> (sent by Outlook)",
                b"References: <a@x>\r\n <b@x> <a@x>",
            )
        )
        parsed = parse_message(raw)
        assert parsed.references == ["a@x", "b@x"]
        assert parsed.in_reply_to == "b@x"

    def test_treats_empty_in_reply_to_as_none(self) -> None:
        assert parse_message(simple(extra=(b"In-Reply-To: ",))).in_reply_to is None

    def test_parses_date_as_timezone_aware(self) -> None:
        parsed = parse_message(simple())
        assert parsed.date == datetime(2025, 6, 3, 10, 15, 12, tzinfo=JST)
        assert parsed.date is not None and parsed.date.tzinfo is not None

    def test_reads_folded_date(self) -> None:
        raw = mail(b"From: a@example.jp", b"Date: Wed, 25 Jun 2025\r\n 18:22:10 +0900", b"", b"x")
        assert parse_message(raw).date == datetime(2025, 6, 25, 18, 22, 10, tzinfo=JST)

    def test_assumes_utc_for_date_without_zone(self) -> None:
        raw = mail(b"From: a@example.jp", b"Date: Wed, 25 Jun 2025 18:22:10 -0000", b"", b"x")
        parsed = parse_message(raw)
        assert parsed.date == datetime(2025, 6, 25, 18, 22, 10, tzinfo=UTC)
        assert any("UTC" in d for d in parsed.defects)

    def test_flags_unparseable_date(self) -> None:
        raw = mail(b"From: a@example.jp", b"Date: Pn, 29 paX 2007 21:13:00 +0100", b"", b"x")
        parsed = parse_message(raw)
        assert parsed.date is None
        assert any("Date" in d for d in parsed.defects)


class TestAttachments:
    def test_joins_rfc2231_continuations_split_inside_a_character(self) -> None:
        raw = multipart(
            b"mixed",
            part(b"Content-Type: text/plain; charset=utf-8", b"", b"see attached"),
            part(
                b"Content-Type: application/pdf",
                b"Content-Transfer-Encoding: base64",
                b"Content-Disposition: attachment;",
                b" filename*0*=UTF-8''%E7%94%B3%E8%AB%8B%E6%9B%B8_%E6%9C;",
                b" filename*1*=%AC%E4%BA%BA.pdf",
                b"",
                base64.b64encode(b"%PDF-1.4"),
            ),
        )
        parsed = parse_message(raw)
        assert names(parsed) == ["申請書_本人.pdf"]
        assert parsed.attachments[0].data == b"%PDF-1.4"
        assert parsed.attachments[0].size == 8

    def test_decodes_rfc2231_shift_jis_filename(self) -> None:
        encoded = "".join(f"%{b:02X}" for b in "写真.jpg".encode("cp932"))
        raw = multipart(
            b"mixed",
            part(
                b"Content-Type: image/jpeg",
                b"Content-Disposition: attachment; filename*=shift_jis'ja'" + encoded.encode(),
                b"",
                b"jpeg",
            ),
        )
        assert names(parse_message(raw)) == ["写真.jpg"]

    def test_decodes_encoded_word_in_quoted_name_parameter(self) -> None:
        raw = multipart(
            b"mixed",
            part(
                b'Content-Type: application/pdf; name="=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=.pdf"',
                b"Content-Transfer-Encoding: base64",
                b"",
                base64.b64encode(b"data"),
            ),
        )
        assert names(parse_message(raw)) == ["テスト.pdf"]

    def test_decodes_raw_utf8_filename(self) -> None:
        raw = multipart(
            b"mixed",
            part(
                b"Content-Type: text/plain",
                'Content-Disposition: attachment; filename="領収書.txt"'.encode(),
                b"",
                b"x",
            ),
        )
        assert names(parse_message(raw)) == ["領収書.txt"]

    def test_strips_directories_from_filenames(self) -> None:
        raw = multipart(
            b"mixed",
            part(
                b'Content-Type: application/pdf; name="C:\\\\Users\\\\taro\\\\..\\\\scan.pdf"',
                b"",
                b"x",
            ),
            part(
                b"Content-Type: image/png",
                b'Content-Disposition: attachment; filename="../../a.png"',
                b"",
                b"x",
            ),
        )
        assert names(parse_message(raw)) == ["scan.pdf", "a.png"]

    def test_names_unnamed_attachments_from_their_type(self) -> None:
        raw = multipart(
            b"mixed",
            part(b"Content-Type: text/plain", b"", b"body"),
            part(b"Content-Type: image/jpeg", b"Content-Disposition: attachment", b"", b"x"),
        )
        assert names(parse_message(raw)) == ["attachment-1.jpg"]

    def test_keeps_winmail_dat_as_opaque_attachment(self) -> None:
        raw = multipart(
            b"mixed",
            part(b"Content-Type: text/plain; charset=utf-8", b"", b"body"),
            part(
                b"Content-Type: application/ms-tnef",
                b"Content-Transfer-Encoding: base64",
                b'Content-Disposition: attachment; filename="winmail.dat"',
                b"",
                base64.b64encode(b"\x78\x9f\x3e\x22tnef"),
            ),
        )
        attachment = parse_message(raw).attachments[0]
        assert (attachment.filename, attachment.content_type) == (
            "winmail.dat",
            "application/ms-tnef",
        )
        assert attachment.data == b"\x78\x9f\x3e\x22tnef"
        assert not attachment.inline

    def test_marks_cid_referenced_image_inline(self) -> None:
        raw = multipart(
            b"related",
            part(b"Content-Type: text/html", b"", b'<p>hi<img src="cid:logo@x"></p>'),
            part(
                b"Content-Type: image/png",
                b"Content-ID: <logo@x>",
                b'Content-Disposition: inline; filename="logo.png"',
                b"Content-Transfer-Encoding: base64",
                b"",
                base64.b64encode(b"\x89PNG"),
            ),
        )
        attachment = parse_message(raw).attachments[0]
        assert attachment.inline
        assert attachment.content_id == "logo@x"
        assert attachment.data == b"\x89PNG"

    def test_treats_inline_disposition_photo_without_html_as_real_attachment(self) -> None:
        raw = multipart(
            b"mixed",
            part(b"Content-Type: text/plain", b"", b"photo below"),
            part(
                b"Content-Type: image/jpeg",
                b'Content-Disposition: inline; filename="IMG_0001.JPG"',
                b"",
                b"jpeg",
            ),
        )
        assert not parse_message(raw).attachments[0].inline

    def test_treats_text_part_with_filename_as_attachment(self) -> None:
        raw = multipart(
            b"mixed",
            part(b"Content-Type: text/plain", b"", b"body"),
            part(
                b"Content-Type: text/csv",
                b'Content-Disposition: inline; filename="a.csv"',
                b"",
                b"1,2",
            ),
            part(b'Content-Type: text/plain; name="memo.txt"', b"", b"memo"),
        )
        parsed = parse_message(raw)
        assert parsed.text == "body"
        assert names(parsed) == ["a.csv", "memo.txt"]

    def test_extracts_uuencoded_attachment_from_text_body(self) -> None:
        body = b"see file\r\n\r\nbegin 644 hello.txt\r\n%:&5L;&\\\r\n`\r\nend\r\nthanks"
        parsed = parse_message(simple(body))
        assert names(parsed) == ["hello.txt"]
        assert parsed.attachments[0].data == b"hello"
        assert "begin 644" not in parsed.text
        assert parsed.text.startswith("see file")
        assert parsed.text.endswith("thanks")

    def test_decodes_x_uuencode_transfer_encoding(self) -> None:
        raw = multipart(
            b"mixed",
            part(b"Content-Type: text/plain", b"", b"body"),
            part(
                b"Content-Type: application/octet-stream",
                b'Content-Disposition: attachment; filename="a.bin"',
                b"Content-Transfer-Encoding: x-uuencode",
                b"",
                b"begin 644 a.bin\r\n%:&5L;&\\\r\n`\r\nend",
            ),
        )
        assert parse_message(raw).attachments[0].data == b"hello"

    def test_decodes_quoted_printable_attachment(self) -> None:
        raw = multipart(
            b"mixed",
            part(b"Content-Type: text/plain", b"", b"body"),
            part(
                b'Content-Type: text/plain; name="q.txt"',
                b"Content-Transfer-Encoding: quoted-printable",
                b"",
                b"a=3Db=\r\nc",
            ),
        )
        assert parse_message(raw).attachments[0].data == b"a=bc"

    def test_attachment_is_a_frozen_dataclass(self) -> None:
        attachment = Attachment("a.txt", "text/plain", 1, None, False, b"x")
        with pytest.raises(dataclasses.FrozenInstanceError):
            attachment.filename = "b.txt"  # type: ignore[misc]
        assert "data" not in repr(attachment)


class TestBodies:
    def test_prefers_text_plain_in_alternative_and_keeps_html(self) -> None:
        raw = multipart(
            b"alternative",
            part(b"Content-Type: text/plain; charset=utf-8", b"", "7月20日".encode()),
            part(b"Content-Type: text/html; charset=utf-8", b"", "<p>7月20日</p>".encode()),
        )
        parsed = parse_message(raw)
        assert parsed.text == "7月20日"
        assert parsed.html == "<p>7月20日</p>"
        assert not any("disagree" in d for d in parsed.defects)

    def test_flags_alternatives_that_disagree_on_numbers(self) -> None:
        raw = multipart(
            b"alternative",
            part(b"Content-Type: text/plain; charset=utf-8", b"", "7月20日の午前中に変更".encode()),
            part(
                b"Content-Type: text/html; charset=utf-8",
                b"",
                "<p>7月27日の夜間に変更</p>".encode(),
            ),
        )
        parsed = parse_message(raw)
        assert "7月20日" in parsed.text
        assert parsed.html is not None and "7月27日" in parsed.html
        assert any("disagree" in d for d in parsed.defects)

    def test_uses_html_text_when_plain_alternative_is_a_placeholder(self) -> None:
        long_html = "<p>" + "返礼品がまだ届いておりません。" * 20 + "</p>"
        raw = multipart(
            b"alternative",
            part(b"Content-Type: text/plain; charset=utf-8", b"", b"HTML mail"),
            part(b"Content-Type: text/html; charset=utf-8", b"", long_html.encode()),
        )
        parsed = parse_message(raw)
        assert parsed.text.startswith("返礼品がまだ届いておりません。")
        assert any("placeholder" in d for d in parsed.defects)

    def test_extracts_readable_text_from_html_only_mail(self) -> None:
        html = (
            "<html><head><title>内部</title><style>.x{display:none}</style></head><body>"
            "<!-- 内部メモ --><p>&lt;至急&gt; 清水です。</p><p>受付番号 <b>ORD-1</b></p>"
            "<div style='display:none'>隠し</div><ul><li>一</li><li>二</li></ul>"
            "a&nbsp;b<br>c</body></html>"
        )
        parsed = parse_message(simple(html.encode(), content_type=b"text/html; charset=utf-8"))
        assert parsed.text == "<至急> 清水です。\n\n受付番号 ORD-1\n\n・一\n・二\na b\nc"
        assert parsed.html is not None and "<b>ORD-1</b>" in parsed.html

    def test_reads_html_charset_from_meta_tag(self) -> None:
        html = b'<meta charset="shift_jis"><p>' + "寄附".encode("cp932") + b"</p>"
        parsed = parse_message(simple(html, content_type=b"text/html"))
        assert parsed.text == "寄附"

    def test_joins_several_inline_text_parts(self) -> None:
        raw = multipart(
            b"mixed",
            part(b"Content-Type: text/plain; charset=utf-8", b"", b"first"),
            part(
                b"Content-Type: image/png",
                b'Content-Disposition: attachment; filename="a.png"',
                b"",
                b"x",
            ),
            part(b"Content-Type: text/plain; charset=utf-8", b"", b"second"),
        )
        assert parse_message(raw).text == "first\n\nsecond"

    def test_joins_format_flowed_soft_line_breaks(self) -> None:
        raw = simple(
            b"This is a \r\nflowed line.\r\n> quoted \r\n> more\r\n-- \r\nsig",
            content_type=b"text/plain; charset=utf-8; format=flowed",
        )
        assert parse_message(raw).text == "This is a flowed line.\n> quoted more\n-- \nsig"

    def test_honours_delsp_in_format_flowed(self) -> None:
        raw = simple(
            "寄附金 \r\n受領証明書".encode(),
            content_type=b"text/plain; charset=utf-8; format=flowed; delsp=yes",
        )
        assert parse_message(raw).text == "寄附金受領証明書"

    def test_decodes_quoted_printable_body_with_soft_breaks(self) -> None:
        raw = simple(b"=E5=AF=84=E9=99=\r\n=84", cte=b"quoted-printable")
        assert parse_message(raw).text == "寄附"

    def test_decodes_base64_body_split_in_concatenated_chunks(self) -> None:
        body = base64.b64encode("寄".encode()) + b"\r\n" + base64.b64encode("附金".encode())
        assert parse_message(simple(body, cte=b"base64")).text == "寄附金"

    def test_keeps_body_raw_when_base64_is_a_lie(self) -> None:
        parsed = parse_message(simple("ふつうの文章です。".encode(), cte=b"base64"))
        assert parsed.text == "ふつうの文章です。"
        assert any("not base64" in d for d in parsed.defects)

    def test_tolerates_odd_transfer_encoding_spellings(self) -> None:
        assert parse_message(simple(base64.b64encode(b"ok"), cte=b"base64;")).text == "ok"
        assert parse_message(simple(b"a=3Db", cte=b"Quoted printable")).text == "a=b"
        parsed = parse_message(simple(b"plain", cte=b"8bits"))
        assert parsed.text == "plain"
        assert any("8bits" in d for d in parsed.defects)

    def test_reads_multipart_without_boundary_as_text(self) -> None:
        parsed = parse_message(simple(b"just text", content_type=b"multipart/mixed"))
        assert parsed.text == "just text"
        assert parsed.defects

    def test_normalises_line_endings_to_lf(self) -> None:
        assert parse_message(simple(b"a\r\nb\rc\nd")).text == "a\nb\nc\nd"

    def test_accepts_lf_only_messages(self) -> None:
        raw = simple(b"line1\r\nline2").replace(b"\r\n", b"\n")
        parsed = parse_message(raw)
        assert parsed.subject == "test"
        assert parsed.text == "line1\nline2"


class TestSanitizer:
    def test_removes_scripts_styles_and_frames(self) -> None:
        out = sanitize_html(
            "<p>ok</p><script>alert(1)</script><style>p{}</style>"
            "<iframe src='https://evil.example'></iframe><object data='x'></object>"
        )
        assert out == "<p>ok</p>"

    def test_removes_forms_and_event_handlers(self) -> None:
        out = sanitize_html(
            "<form action='https://evil.example'><input name=a value=b>"
            "<button onclick='x()'>送信</button></form><p onmouseover='x()'>hi</p>"
        )
        assert "form" not in out and "input" not in out and "onclick" not in out
        assert "onmouseover" not in out and "<p>hi</p>" in out

    def test_drops_javascript_and_data_links(self) -> None:
        out = sanitize_html(
            "<a href='javascript:alert(1)'>a</a><a href=' JaVaScRiPt:x'>b</a>"
            "<a href='data:text/html,<script>'>c</a>"
        )
        assert "javascript" not in out.lower() and "data:" not in out

    def test_keeps_safe_links_with_noopener(self) -> None:
        out = sanitize_html("<a href='https://www.furusato.example/faq'>FAQ</a>")
        assert 'href="https://www.furusato.example/faq"' in out
        assert "noopener" in out

    def test_drops_relative_links(self) -> None:
        assert "href" not in sanitize_html("<a href='/admin/delete'>x</a>")

    def test_blocks_remote_images_but_keeps_cid_and_inline_data(self) -> None:
        out = sanitize_html(
            "<img src='https://tracker.example/p.gif'><img src='cid:logo@x'>"
            "<img src='data:image/png;base64,iVBORw0KGgo='><img src='data:image/svg+xml,<svg>'>"
        )
        assert "tracker" not in out and "svg" not in out
        assert 'src="cid:logo@x"' in out
        assert 'src="data:image/png;base64,iVBORw0KGgo="' in out

    def test_filters_style_properties(self) -> None:
        out = sanitize_html(
            "<span style='color:red;position:fixed;background:url(https://x/y.png)'>x</span>"
        )
        assert out == '<span style="color:red">x</span>'

    def test_keeps_basic_formatting(self) -> None:
        html = "<p><b>太字</b><i>斜体</i><br><table><tr><td>表</td></tr></table></p>"
        out = sanitize_html(html)
        for fragment in ("<b>太字</b>", "<i>斜体</i>", "<br>", "<td>表</td>"):
            assert fragment in out

    def test_removes_comments_and_conditional_comments(self) -> None:
        assert sanitize_html("<!--[if mso]><p>x</p><![endif]--><p>y</p>") == "<p>y</p>"

    def test_shows_absurdly_nested_html_as_text(self) -> None:
        markup = "<div>" * 5000 + "深い"
        assert is_pathological_html(markup)
        assert sanitize_html(markup) == "<pre>深い</pre>"
        assert html_to_text(markup) == "深い"

    def test_survives_ampersand_floods_quickly(self) -> None:
        markup = "&" * 200_000
        assert is_pathological_html(markup)
        assert sanitize_html(markup).startswith("<pre>&amp;")

    def test_html_to_text_survives_broken_markup(self) -> None:
        assert html_to_text('<p a="unterminated>text') == ""
        assert html_to_text("<p>a</b></i></p>b") == "a\n\nb"


class TestForwardedMessages:
    INNER = mail(
        b"From: hanako.ishida@example.ne.jp",
        b"Subject: =?iso-2022-jp?b?GyRCJUYlOSVIGyhC?=",
        b"Date: Thu, 19 Jun 2025 08:12:40 +0900",
        b"Message-ID: <inner@example.ne.jp>",
        b"Content-Type: text/plain; charset=iso-2022-jp",
        b"",
        b"\x1b$B$3$s$K$A$O\x1b(B",
    )

    def forwarded(self, disposition: bytes, cte: bytes = b"7bit", inner: bytes = INNER) -> bytes:
        return multipart(
            b"mixed",
            part(b"Content-Type: text/plain; charset=utf-8", b"", "転送します".encode()),
            part(
                b"Content-Type: message/rfc822",
                b"Content-Transfer-Encoding: " + cte,
                disposition,
                b"",
                inner,
            ),
        )

    def test_keeps_forwarded_message_as_eml_attachment(self) -> None:
        raw = self.forwarded(b'Content-Disposition: attachment; filename="original.eml"')
        parsed = parse_message(raw)
        assert names(parsed) == ["original.eml"]
        assert parsed.attachments[0].content_type == "message/rfc822"

    def test_appends_forwarded_text_under_a_header_block(self) -> None:
        parsed = parse_message(self.forwarded(b"Content-Disposition: inline"))
        assert parsed.text.startswith("転送します\n\n---------- Forwarded message ----------")
        assert "From: hanako.ishida@example.ne.jp" in parsed.text
        assert "Subject: テスト" in parsed.text
        assert parsed.text.endswith("こんにちは")

    def test_forwarded_attachment_reparses_to_the_inner_message(self) -> None:
        parsed = parse_message(self.forwarded(b"Content-Disposition: attachment"))
        inner = parse_message(parsed.attachments[0].data)
        assert inner.subject == "テスト"
        assert inner.message_id == "inner@example.ne.jp"
        assert inner.text == "こんにちは"

    def test_names_unnamed_forwarded_message_after_its_subject(self) -> None:
        parsed = parse_message(self.forwarded(b"Content-Disposition: attachment"))
        assert names(parsed) == ["テスト.eml"]

    def test_reads_base64_encoded_forwarded_message(self) -> None:
        raw = self.forwarded(
            b"Content-Disposition: attachment", cte=b"base64", inner=base64.encodebytes(self.INNER)
        )
        parsed = parse_message(raw)
        assert parsed.text.endswith("こんにちは")
        assert parse_message(parsed.attachments[0].data).subject == "テスト"

    def test_stops_following_absurdly_nested_forwards(self) -> None:
        raw = b"".join(b"Content-Type: message/rfc822\r\n\r\n" for _ in range(50))
        parsed = parse_message(raw + b"Subject: x\r\n\r\nhi")
        assert any("nested too deep" in d for d in parsed.defects)


class TestAutoDetection:
    @pytest.mark.parametrize(
        ("header", "kind"),
        [
            (b"Auto-Submitted: auto-replied", "auto_reply"),
            (b"Auto-Submitted: auto-generated", "auto_reply"),
            (b"Precedence: bulk", "list"),
            (b"Precedence: junk", "list"),
            (b"Precedence: list", "list"),
            (b"Precedence: auto_reply", "auto_reply"),
            (b"X-Autoreply: yes", "auto_reply"),
            (b"X-Autorespond: vacation", "auto_reply"),
            (b"X-Auto-Response-Suppress: OOF", "auto_reply"),
            (b"X-Auto-Response-Suppress: All", "auto_reply"),
            (b"List-Id: <news.example.jp>", "list"),
            (b"Return-Path: <>", "auto_reply"),
        ],
    )
    def test_recognises_machine_headers(self, header: bytes, kind: str) -> None:
        parsed = parse_message(simple(extra=(header,)))
        assert parsed.is_auto
        assert parsed.auto_kind == kind

    def test_treats_auto_submitted_no_as_human(self) -> None:
        parsed = parse_message(simple(extra=(b"Auto-Submitted: no",)))
        assert not parsed.is_auto
        assert parsed.auto_kind is None

    @pytest.mark.parametrize(
        "sender",
        [
            b"MAILER-DAEMON@mx.example.jp",
            b"postmaster@example.jp",
            b"Mail Delivery Subsystem <x@y.jp>",
        ],
    )
    def test_recognises_bounce_senders(self, sender: bytes) -> None:
        assert parse_message(simple(sender=sender)).auto_kind == "bounce"

    @pytest.mark.parametrize(
        "subject",
        [
            "自動返信: 寄附について",
            "【自動返信】お問い合わせありがとうございます",
            "自動応答: Re: 寄附金受領証明書の件",
            "不在通知",
            "【不在】7月7日まで",
            "不在: 返礼品",
            "Out of Office: Re: donation",
            "Automatic reply: question",
            "AutoReply: hi",
        ],
    )
    def test_recognises_out_of_office_subjects(self, subject: str) -> None:
        parsed = parse_message(simple(subject=subject.encode()))
        assert parsed.auto_kind == "auto_reply"

    @pytest.mark.parametrize(
        "subject",
        [
            "Re: 【自動返信】お問い合わせを受け付けました",
            "不在票が入っていました",
            "返礼品の不在票について",
            "不在時の受け取りについて",
            "Re: Out of Office",
        ],
    )
    def test_does_not_mistake_human_subjects_for_auto_replies(self, subject: str) -> None:
        assert not parse_message(simple(subject=subject.encode())).is_auto

    @pytest.mark.parametrize(
        "subject", ["Undeliverable: 寄附について", "Undelivered Mail Returned to Sender"]
    )
    def test_recognises_bounce_subjects(self, subject: str) -> None:
        assert parse_message(simple(subject=subject.encode())).auto_kind == "bounce"


DSN_REPORT = multipart(
    b'report; report-type="delivery-status"',
    part(b"Content-Type: text/plain", b"", b"<daiki@example.jp>: 550 5.1.1 User unknown"),
    part(
        b"Content-Type: message/delivery-status",
        b"",
        b"Reporting-MTA: dns; mx.example.jp",
        b"",
        b"Final-Recipient: rfc822; Daiki@Example.JP",
        b"Action: failed",
        b"Status: 5.1.1",
        b"Remote-MTA: dns; mx.sample.jp",
        b"Diagnostic-Code: smtp; 550 5.1.1",
        b"    User unknown",
        b"",
        b"Final-Recipient: rfc822; slow@example.jp",
        b"Action: delayed",
        b"Status: 4.4.1",
    ),
    part(
        b"Content-Type: message/rfc822",
        b"",
        b"Message-ID: <out-1@furusato.example.jp>",
        b"Subject: =?UTF-8?B?6L+U56S85ZOB?=",
        b"",
        b"original body",
    ),
    extra=(b"Auto-Submitted: auto-replied",),
)


class TestDeliveryReports:
    def test_recognises_delivery_status_report_as_bounce(self) -> None:
        parsed = parse_message(DSN_REPORT)
        assert parsed.is_auto
        assert parsed.auto_kind == "bounce"

    def test_reads_failed_recipients_and_status_codes(self) -> None:
        dsn = parse_message(DSN_REPORT).dsn
        assert dsn is not None
        assert dsn.failed_recipients == ["daiki@example.jp"]
        assert dsn.status_codes == ["5.1.1", "4.4.1"]
        assert dsn.reporting_mta == "mx.example.jp"
        assert dsn.recipients[0].diagnostic == "550 5.1.1 User unknown"
        assert dsn.recipients[0].remote_mta == "mx.sample.jp"
        assert dsn.recipients[1].action == "delayed"

    def test_reads_the_returned_message_identity(self) -> None:
        dsn = parse_message(DSN_REPORT).dsn
        assert dsn is not None
        assert dsn.original_message_id == "out-1@furusato.example.jp"
        assert dsn.original_subject == "返礼品"

    def test_shows_the_human_part_and_lists_no_report_attachments(self) -> None:
        parsed = parse_message(DSN_REPORT)
        assert parsed.text == "<daiki@example.jp>: 550 5.1.1 User unknown"
        assert parsed.attachments == []

    def test_reads_text_rfc822_headers_variant(self) -> None:
        raw = multipart(
            b"report; report-type=delivery-status",
            part(b"Content-Type: text/plain", b"", b"failed"),
            part(
                b"Content-Type: message/delivery-status",
                b"",
                b"Final-Recipient: rfc822;a@b.jp",
                b"Action: failed",
                b"Status: 5.0.0",
            ),
            part(
                b"Content-Type: text/rfc822-headers", b"", b"Message-ID: <orig@x>", b"Subject: hi"
            ),
        )
        dsn = parse_message(raw).dsn
        assert dsn is not None
        assert dsn.original_message_id == "orig@x"
        assert dsn.failed_recipients == ["a@b.jp"]

    def test_treats_read_receipts_as_auto_replies_without_dsn(self) -> None:
        raw = multipart(
            b"report; report-type=disposition-notification",
            part(b"Content-Type: text/plain", b"", b"read"),
            part(
                b"Content-Type: message/disposition-notification",
                b"",
                b"Disposition: manual-action/MDN-sent-manually; displayed",
            ),
        )
        parsed = parse_message(raw)
        assert parsed.auto_kind == "auto_reply"
        assert parsed.dsn is None


class TestContentHash:
    def test_ignores_transport_headers(self) -> None:
        first = mail(b"Received: from a by b; Tue, 03 Jun 2025", b"Delivered-To: x@y", simple())
        second = mail(b"Received: from c by d; Wed, 04 Jun 2025", b"X-Original-To: z@y", simple())
        assert parse_message(first).content_hash == parse_message(second).content_hash

    def test_ignores_line_ending_and_folding_differences(self) -> None:
        crlf = simple(b"a\r\nb", extra=(b"References: <a@x> <b@x>",))
        lf = simple(b"a\r\nb", extra=(b"References: <a@x>\r\n <b@x>",)).replace(b"\r\n", b"\n")
        assert parse_message(crlf).content_hash == parse_message(lf).content_hash

    def test_differs_for_same_message_id_with_different_content(self) -> None:
        assert (
            parse_message(simple(b"one")).content_hash != parse_message(simple(b"two")).content_hash
        )

    def test_is_a_sha256_hex_digest(self) -> None:
        digest = parse_message(simple()).content_hash
        assert len(digest) == 64
        int(digest, 16)
        assert digest != hashlib.sha256(simple()).hexdigest()


class TestRobustness:
    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"\x00\xff" * 100,
            b"\r\n\r\n\r\n",
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n",
            b"Subject: =?utf-8?B?" + b"A" * 10_000,
            b"From: <<<@@@>>>\r\nTo: ,,,;;;\r\nDate: yesterday\r\n\r\n",
            b'Content-Type: text/plain; charset="\r\n'
            b"Content-Disposition: attachment; filename*0*=\r\n\r\n",
            b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!",
            b'Content-Type: text/html\r\n\r\n<p a="' + b"<" * 5000,
        ],
    )
    def test_never_raises(self, raw: bytes) -> None:
        parsed = parse_message(raw)
        assert isinstance(parsed, ParsedMail)
        assert isinstance(parsed.text, str)

    def test_never_raises_on_deep_multipart_nesting(self) -> None:
        raw = b"".join(
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
            for i in range(300)
        )
        assert isinstance(parse_message(raw + b"\r\nhi"), ParsedMail)

    def test_accepts_str_input_defensively(self) -> None:
        parsed = parse_message("Subject: 寄附\r\n\r\n本文")  # type: ignore[arg-type]
        assert parsed.subject == "寄附"
        assert parsed.text == "本文"

    def test_flags_input_without_headers_as_failed(self) -> None:
        parsed = parse_message(b"just some words\r\nand more")
        assert parsed.parse_failed
        assert "just some words" in parsed.text

    def test_does_not_flag_ordinary_mail_as_failed(self) -> None:
        parsed = parse_message(simple())
        assert not parsed.parse_failed
        assert parsed.defects == []

    def test_drops_junk_line_inside_header_block(self) -> None:
        raw = mail(
            b"Received: from x",
            b"quite Delivered-To: y",
            b"From: a@example.jp",
            b"Subject: kept",
            b"",
            b"body",
        )
        parsed = parse_message(raw)
        assert (parsed.subject, parsed.text, parsed.from_addr) == ("kept", "body", "a@example.jp")
        assert any("malformed line" in d for d in parsed.defects)

    def test_accepts_obsolete_space_before_colon(self) -> None:
        parsed = parse_message(mail(b"Subject   : Saying Hello", b"From : a@example.jp", b"", b"x"))
        assert parsed.subject == "Saying Hello"
        assert parsed.from_addr == "a@example.jp"

    def test_falls_back_to_best_effort_when_the_parser_crashes(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def explode() -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr("support.mail.parsing.make_parser", explode)
        parsed = parse_message(simple("本文です".encode(), subject=b"=?UTF-8?B?5a+E6ZmE?="))
        assert parsed.parse_failed
        assert parsed.subject == "寄附"
        assert parsed.text == "本文です"
        assert any("boom" in d for d in parsed.defects)

    def test_result_is_frozen(self) -> None:
        parsed = parse_message(simple())
        with pytest.raises(dataclasses.FrozenInstanceError):
            parsed.subject = "x"  # type: ignore[misc]

    def test_mbox_from_line_is_ignored(self) -> None:
        raw = b"From donor@example.jp Tue Jun  3 10:15:12 2025\r\n" + simple()
        parsed = parse_message(raw)
        assert parsed.subject == "test"
        assert parsed.from_addr == "donor@example.jp"
