"""Tests for support.logs: JSON logging that never leaks personal data, and check_logs.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import re
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.logs import (
    ROUTED_LOGGERS,
    JsonFormatter,
    MaskingFilter,
    configure_logging,
    mask_pii,
    mask_value,
    request_id_var,
    user_id_var,
)
from tests import check_logs

ROOT = Path(__file__).resolve().parent.parent
SHARED_WORLD = Path("/work/shared/data/world.json")
PACKAGED_WORLD = ROOT / "support" / "demo" / "world.json"
WORLD_PATH = SHARED_WORLD if SHARED_WORLD.exists() else PACKAGED_WORLD


def _load_world() -> dict[str, Any]:
    if not WORLD_PATH.exists():
        return {"donors": [], "orders": []}
    world: dict[str, Any] = json.loads(WORLD_PATH.read_text(encoding="utf-8"))
    return world


WORLD = _load_world()
DONORS: list[dict[str, Any]] = WORLD["donors"]
ORDERS: list[dict[str, Any]] = WORLD["orders"]
needs_world = pytest.mark.skipif(not DONORS, reason="no world.json with donors")


def donor_params(field: str) -> list[Any]:
    """Return one pytest param per donor value of field, labelled with the donor id."""
    return [pytest.param(d[field], id=d["id"]) for d in DONORS] or [
        pytest.param("", marks=needs_world)
    ]


def full_width(text: str) -> str:
    """Return text with ASCII letters, digits and symbols turned into their full-width forms."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def digits_of(text: str) -> str:
    """Return only the digits of text, full-width ones as ASCII."""
    return "".join(c for c in unicodedata.normalize("NFKC", text) if c.isdigit())


# Digits the masked phone may still show: the last two.
def phone_is_hidden(phone: str, masked: str) -> bool:
    """Tell whether masked keeps no more of phone than its last two digits."""
    digits = digits_of(phone)
    masked_digits = digits_of(masked)
    return digits[:-2] not in masked_digits and phone not in masked and digits[-2:] in masked


@pytest.fixture
def clean_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Give the test a logging setup of its own and put the session's back afterwards."""
    monkeypatch.delenv("SUPPORT_LOG_FILE", raising=False)
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved = {
        name: (list(lg.handlers), lg.propagate, lg.level)
        for name in ROUTED_LOGGERS
        for lg in [logging.getLogger(name)]
    }
    yield
    for handler in root.handlers:
        if handler not in saved_root[0]:
            handler.close()
    root.handlers[:] = saved_root[0]
    root.setLevel(saved_root[1])
    for name, (handlers, propagate, level) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = handlers
        lg.propagate = propagate
        lg.setLevel(level)


@pytest.fixture
def context_ids() -> Iterator[None]:
    """Reset the request and user context variables after the test."""
    rid = request_id_var.set(None)
    uid = user_id_var.set(None)
    yield
    request_id_var.reset(rid)
    user_id_var.reset(uid)


def make_record(
    msg: str,
    *args: object,
    extra: dict[str, object] | None = None,
    exc_info: Any = None,
) -> logging.LogRecord:
    """Build a record as Logger.makeRecord would, extras included."""
    logger = logging.getLogger("support.test")
    return logger.makeRecord(
        "support.test", logging.INFO, __file__, 1, msg, args, exc_info, extra=extra
    )


def format_json(record: logging.LogRecord) -> dict[str, Any]:
    """Format record with JsonFormatter and parse the line back."""
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


class TestEmailMasking:
    @pytest.mark.parametrize("email", donor_params("email"))
    def test_an_email_in_an_english_sentence_is_masked(self, email: str) -> None:
        masked = mask_pii(f"Reply sent to {email} at 10:02.")
        assert email not in masked
        assert f"{email[0]}***@***.{email.rsplit('.', 1)[1]}" in masked
        assert masked.startswith("Reply sent to ") and masked.endswith(" at 10:02.")

    @pytest.mark.parametrize("email", donor_params("email"))
    def test_an_email_in_japanese_text_is_masked(self, email: str) -> None:
        masked = mask_pii(f"お客様のメールアドレス（{email}）宛に送信しました。")
        assert email not in masked
        assert email.split("@")[0] not in masked
        assert masked.startswith("お客様のメールアドレス（")

    @pytest.mark.parametrize("email", donor_params("email"))
    def test_an_email_written_in_full_width_is_masked(self, email: str) -> None:
        wide = full_width(email)
        masked = mask_pii(f"メール：{wide}です")
        assert wide not in masked
        assert wide.split("＠")[0] not in masked
        assert "***@***." in masked

    def test_an_email_keeps_only_its_first_letter_and_top_level_domain(self) -> None:
        assert mask_pii("taro.yamada@example.ne.jp") == "t***@***.jp"

    def test_an_email_in_angle_brackets_is_masked(self) -> None:
        assert mask_pii("From: 山田 <taro@example.com>") == "From: 山田 <t***@***.com>"

    def test_a_url_encoded_email_in_a_query_string_is_masked(self) -> None:
        masked = mask_pii("GET /api/donors?email=taro.yamada%40example.ne.jp&page=2")
        assert masked == "GET /api/donors?email=t***@***.jp&page=2"

    def test_masking_an_email_twice_changes_nothing_more(self) -> None:
        once = mask_pii("to k.suzuki@example.jp")
        assert mask_pii(once) == once


class TestPhoneMasking:
    @pytest.mark.parametrize("phone", donor_params("phone"))
    def test_a_phone_in_a_sentence_is_masked(self, phone: str) -> None:
        masked = mask_pii(f"Callback requested on {phone} tomorrow.")
        assert phone_is_hidden(phone, masked), masked
        assert masked.endswith(" tomorrow.")

    @pytest.mark.parametrize("phone", donor_params("phone"))
    def test_a_phone_in_japanese_text_is_masked(self, phone: str) -> None:
        masked = mask_pii(f"お電話番号は{phone}です。折り返しお願いします")
        assert phone_is_hidden(phone, masked), masked
        assert masked.startswith("お電話番号は") and masked.endswith("です。折り返しお願いします")

    @pytest.mark.parametrize("phone", donor_params("phone"))
    def test_a_phone_in_full_width_digits_is_masked(self, phone: str) -> None:
        wide = full_width(phone)
        masked = mask_pii(f"電話：{wide}")
        assert wide not in masked
        assert phone_is_hidden(phone, masked), masked

    @pytest.mark.parametrize("phone", donor_params("phone"))
    def test_a_phone_with_katakana_long_vowel_dashes_is_masked(self, phone: str) -> None:
        masked = mask_pii("TEL " + full_width(phone).replace("－", "ー"))
        assert phone_is_hidden(phone, masked), masked

    @pytest.mark.parametrize("phone", donor_params("phone"))
    def test_a_phone_written_as_bare_digits_is_masked(self, phone: str) -> None:
        masked = mask_pii(f"ANI={digits_of(phone)} 着信")
        assert phone_is_hidden(phone, masked), masked

    @pytest.mark.parametrize("phone", donor_params("phone"))
    def test_a_phone_written_with_spaces_is_masked(self, phone: str) -> None:
        masked = mask_pii(f"number {phone.replace('-', ' ')} given")
        assert phone_is_hidden(phone, masked), masked
        assert masked.endswith(" given")

    @pytest.mark.parametrize("phone", donor_params("phone"))
    def test_a_phone_with_the_area_code_in_parentheses_is_masked(self, phone: str) -> None:
        area, exchange, line = phone.split("-")
        for form in (f"{area}({exchange}){line}", f"({area}){exchange}-{line}"):
            masked = mask_pii(f"連絡先 {form}")
            assert phone_is_hidden(phone, masked), masked

    @pytest.mark.parametrize("phone", donor_params("phone"))
    def test_a_phone_in_international_form_is_masked(self, phone: str) -> None:
        national = phone.removeprefix("0")
        for form in (f"+81-{national}", f"+81 {national.replace('-', ' ')}", f"+81{national}"):
            masked = mask_pii(f"intl {form}")
            assert digits_of(national)[:-2] not in digits_of(masked), masked

    @pytest.mark.parametrize(
        "text",
        [
            "0120-123-456",
            "03-0575-4225",
            "090-0648-0434",
            "09006480434",
            "+81-90-1234-5678",
            "+81 (0)90-1234-5678",
            "03（0575）4225",
            "０９０－０６４８－０４３４",
            "TEL090-0648-0434",
            "Tel.03-0575-4225",
        ],
    )
    def test_common_japanese_phone_forms_keep_only_the_last_two_digits(self, text: str) -> None:
        masked = mask_pii(text)
        assert digits_of(masked) == digits_of(text)[-2:], masked

    def test_phones_run_together_with_labels_are_masked(self) -> None:
        masked = mask_pii("TEL090-0648-0434FAX03-0575-4225")
        assert masked == "TEL[phone:**34]FAX[phone:**25]"

    def test_a_phone_followed_by_a_note_in_parentheses_is_masked(self) -> None:
        assert mask_pii("03-0575-4225（自宅）") == "[phone:**25]（自宅）"

    def test_a_masked_phone_reads_phone_and_the_last_two_digits(self) -> None:
        assert mask_pii("電話 03-0575-4225 まで") == "電話 [phone:**25] まで"

    def test_two_phones_separated_by_a_space_are_both_masked(self) -> None:
        masked = mask_pii("090 0648 0434 03 0575 4225")
        assert masked == "[phone:**34] [phone:**25]"

    def test_masking_a_phone_twice_changes_nothing_more(self) -> None:
        once = mask_pii("tel 090-0648-0434")
        assert mask_pii(once) == once


class TestPostalCodeMasking:
    @pytest.mark.parametrize("code", donor_params("postal_code"))
    def test_a_postal_code_with_and_without_the_mark_is_masked(self, code: str) -> None:
        for text in (f"郵便番号 {code}", f"〒{code} 宛", f"zip={code}", f"〒 {code}"):
            masked = mask_pii(text)
            assert code not in masked
            assert "〒***-****" in masked

    @pytest.mark.parametrize("code", donor_params("postal_code"))
    def test_a_postal_code_in_full_width_digits_is_masked(self, code: str) -> None:
        wide = full_width(code)
        masked = mask_pii(f"〒{wide}")
        assert masked == "〒***-****"
        assert mask_pii(f"郵便番号{wide}です") == "郵便番号〒***-****です"


class TestAddressMasking:
    @pytest.mark.parametrize("address", donor_params("address"))
    def test_an_address_keeps_only_its_prefecture(self, address: str) -> None:
        match = re.match(r"東京都|北海道|大阪府|京都府|.{2,3}?県", address)
        assert match is not None
        pref = match.group(0)
        masked = mask_pii(f"送付先: {address}、再送します")
        assert masked == f"送付先: {pref}***、再送します"

    @pytest.mark.parametrize("address", donor_params("address"))
    def test_an_address_at_the_end_of_a_line_is_masked(self, address: str) -> None:
        masked = mask_pii(f"住所変更 {address}")
        assert address.split()[0][3:] not in masked
        assert masked.endswith("***")

    def test_a_building_name_and_room_after_the_address_are_masked(self) -> None:
        masked = mask_pii("東京都世田谷区日の出町2丁目15番10号 グリーンコート806 に発送")
        assert masked == "東京都*** に発送"

    def test_a_sentence_naming_only_a_prefecture_is_left_alone(self) -> None:
        text = "東京都在住のお客様からの問い合わせ"
        assert mask_pii(text) == text

    def test_street_numbers_without_a_prefecture_are_masked(self) -> None:
        assert mask_pii("世田谷区日の出町2丁目15番10号") == "世田谷区日の出町***"


ORDINARY_TEXT = [
    "ORD-2025-000423",
    "D25-8416557",
    "2025-12-10",
    "2025-12-10T10:00:00.123+00:00",
    "2025-12-10 10:00:00,123",
    "20251210T100000Z",
    "123e4567-e89b-12d3-a456-426614174000",
    "0a1b2c3d-0123-4567-89ab-cdef01234567",
    "req-01HZX3K9Q2M8V7",
    "GET /api/orders/123 200",
    "/api/donors/don-001/orders?page=2",
    "127.0.0.1",
    "127.0.0.1:8000",
    "10.0.12.254:54321",
    "12.5ms",
    "elapsed=0.0312345678s",
    "port 5432",
    "amount_yen=10000",
    "tracking 942345656899",
    "version 1.2.3",
    "2025-01-05 1234 5678",
    "東京都在住",
    'INFO: 127.0.0.1:54321 - "GET /api/orders/ORD-2025-000423 HTTP/1.1" 200',
]


class TestOrdinaryTextSurvives:
    @pytest.mark.parametrize("text", ORDINARY_TEXT)
    def test_log_text_without_personal_data_is_unchanged(self, text: str) -> None:
        assert mask_pii(text) == text

    @pytest.mark.parametrize("text", ORDINARY_TEXT)
    def test_log_text_inside_a_sentence_is_unchanged(self, text: str) -> None:
        sentence = f"処理完了: {text} (ok)"
        assert mask_pii(sentence) == sentence

    @needs_world
    def test_every_order_and_donation_number_survives(self) -> None:
        for order in ORDERS:
            text = f"order {order['id']} donation {order['donation_no']} at {order['ordered_at']}"
            assert mask_pii(text) == text

    @needs_world
    def test_every_tracking_number_survives(self) -> None:
        for order in ORDERS:
            if order["tracking_no"]:
                text = f"追跡番号 {order['tracking_no']}"
                assert mask_pii(text) == text

    def test_an_empty_string_stays_empty(self) -> None:
        assert mask_pii("") == ""


class TestMaskingCost:
    @pytest.mark.parametrize(
        "make",
        [
            lambda n: "a." * n,
            lambda n: "a" * (2 * n),
            lambda n: "0" * (2 * n) + "x",
            lambda n: "1 " * n + "x",
            lambda n: "0-" * n,
            lambda n: "1" * (2 * n) + "丁目",
            lambda n: "東京都千代田区" + "あ" * (2 * n),
            lambda n: "a@" + "b." * n,
        ],
        ids=["dots", "letters", "digits", "spaced-digits", "hyphens", "chome", "address", "at"],
    )
    def test_long_hostile_input_is_masked_in_linear_time(self, make: Callable[[int], str]) -> None:
        # Compare the CPU time of an input with that of one four times longer: linear masking
        # costs about 4x, a backtracking regex 16x or more. A ratio of CPU times does not
        # depend on how fast or how loaded the machine is (wall-clock limits did).
        small, large = _cpu_seconds(make(5_000)), _cpu_seconds(make(20_000))
        assert large < 10 * small + 0.05, (small, large)


def _cpu_seconds(text: str) -> float:
    """Return the least CPU time of three runs of mask_pii on the text."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        mask_pii(text)
        best = min(best, time.process_time() - started)
    return best


class TestMaskValue:
    @pytest.mark.parametrize(
        "key",
        [
            "name",
            "kana",
            "email",
            "phone",
            "address",
            "postal_code",
            "password",
            "token",
            "authorization",
            "Authorization",
            "cookie",
            "Set-Cookie",
            "donor_email",
            "contact_phone",
            "family_name",
            "shipping_address",
            "access_token",
            "emails",
        ],
    )
    def test_a_personal_key_hides_its_whole_value(self, key: str) -> None:
        assert mask_value(key, "anything at all 123") == "***"
        assert mask_value(key, {"nested": "dict"}) == "***"

    def test_a_string_under_an_ordinary_key_is_masked_in_place(self) -> None:
        assert mask_value("note", "mail taro@example.jp") == "mail t***@***.jp"

    def test_ordinary_values_pass_through(self) -> None:
        assert mask_value("order_id", "ORD-2025-000423") == "ORD-2025-000423"
        assert mask_value("count", 3) == 3
        assert mask_value("ratio", 0.5) == 0.5
        assert mask_value("ok", True) is True
        assert mask_value("missing", None) is None

    def test_nested_dicts_and_lists_are_masked_by_key_and_by_content(self) -> None:
        value = {
            "donor": {"name": "山田 太郎", "id": "don-001"},
            "to": ["taro.yamada@example.ne.jp", "ORD-2025-000423"],
            "history": [{"phone": "03-0575-4225"}, {"memo": "tel 090-0648-0434"}],
        }
        assert mask_value("payload", value) == {
            "donor": {"name": "***", "id": "don-001"},
            "to": ["t***@***.jp", "ORD-2025-000423"],
            "history": [{"phone": "***"}, {"memo": "tel [phone:**34]"}],
        }

    def test_tuples_and_sets_become_lists(self) -> None:
        assert mask_value("ids", ("a", "b")) == ["a", "b"]
        assert mask_value("ids", {"a"}) == ["a"]

    def test_dates_become_iso_strings(self) -> None:
        assert mask_value("when", dt.date(2025, 12, 10)) == "2025-12-10"

    def test_a_dataclass_is_masked_field_by_field(self) -> None:
        @dataclasses.dataclass
        class Contact:
            name: str
            memo: str

        value = mask_value("contact", Contact("山田 太郎", "03-0575-4225"))
        assert value == {"name": "***", "memo": "[phone:**25]"}

    def test_a_pydantic_model_is_masked_field_by_field(self) -> None:
        from pydantic import BaseModel

        class Donor(BaseModel):
            donor_name: str
            municipality: str

        value = mask_value("donor", Donor(donor_name="山田 太郎", municipality="伊勢市"))
        assert value == {"donor_name": "***", "municipality": "伊勢市"}

    def test_dict_keys_are_masked_too(self) -> None:
        assert mask_value("counts", {"taro@example.jp": 2}) == {"t***@***.jp": 2}

    def test_non_finite_floats_become_strings_so_the_line_stays_json(self) -> None:
        assert mask_value("ratio", float("nan")) == "nan"

    def test_other_objects_are_rendered_as_masked_strings(self) -> None:
        class Odd:
            def __str__(self) -> str:
                return "odd taro@example.jp"

        assert mask_value("thing", Odd()) == "odd t***@***.jp"

    def test_bytes_are_decoded_and_masked(self) -> None:
        assert mask_value("raw", "電話 090-0648-0434".encode()) == "電話 [phone:**34]"

    def test_self_referencing_structures_do_not_recurse_forever(self) -> None:
        loop: list[object] = []
        loop.append(loop)
        assert "[too deep]" in json.dumps(mask_value("loop", loop))

    @pytest.mark.parametrize("donor", [pytest.param(d, id=d["id"]) for d in DONORS])
    def test_every_donor_record_as_an_extra_leaks_nothing(self, donor: dict[str, Any]) -> None:
        rendered = json.dumps(mask_value("donor", donor), ensure_ascii=False)
        for field in ("name", "kana", "email", "phone", "postal_code", "address"):
            assert donor[field] not in rendered
        assert donor["id"] in rendered


class TestJsonFormatter:
    def test_a_record_becomes_one_line_of_valid_json(self, context_ids: None) -> None:
        out = format_json(make_record("hello %s", "world"))
        assert out["msg"] == "hello world"
        assert out["level"] == "INFO"
        assert out["logger"] == "support.test"

    def test_the_timestamp_is_utc_iso_8601_with_milliseconds(self, context_ids: None) -> None:
        record = make_record("x")
        ts = format_json(record)["ts"]
        parsed = dt.datetime.fromisoformat(ts)
        assert parsed.utcoffset() == dt.timedelta(0)
        assert len(ts.split(".")[1].split("+")[0]) == 3
        assert abs(parsed.timestamp() - record.created) < 0.001

    def test_request_and_user_ids_appear_when_set(self, context_ids: None) -> None:
        request_id_var.set("req-7f3a")
        user_id_var.set("42")
        out = format_json(make_record("x"))
        assert out["request_id"] == "req-7f3a"
        assert out["user_id"] == "42"

    def test_request_and_user_ids_are_absent_when_not_set(self, context_ids: None) -> None:
        out = format_json(make_record("x"))
        assert "request_id" not in out
        assert "user_id" not in out

    def test_the_message_is_masked_after_formatting(self, context_ids: None) -> None:
        out = format_json(make_record("from %s tel %s", "taro@example.jp", "090-0648-0434"))
        assert out["msg"] == "from t***@***.jp tel [phone:**34]"

    def test_extras_are_included_and_masked(self, context_ids: None) -> None:
        extra: dict[str, object] = {
            "order_id": "ORD-2025-000423",
            "email": "taro@example.jp",
            "note": "〒154-7018",
            "amount_yen": 10000,
        }
        out = format_json(make_record("x", extra=extra))
        assert out["order_id"] == "ORD-2025-000423"
        assert out["email"] == "***"
        assert out["note"] == "〒***-****"
        assert out["amount_yen"] == 10000

    @pytest.mark.parametrize("donor", [pytest.param(d, id=d["id"]) for d in DONORS])
    def test_donor_data_as_extra_fields_never_reaches_the_line(
        self, donor: dict[str, Any], context_ids: None
    ) -> None:
        extra = {f"donor_{k}": v for k, v in donor.items() if k != "id"}
        extra["memo"] = f"{donor['email']} / {donor['phone']} / {donor['address']}"
        line = JsonFormatter().format(make_record("donor updated", extra=extra))
        for field in ("email", "phone", "postal_code", "address", "name"):
            assert donor[field] not in line
        assert digits_of(donor["phone"])[:-2] not in digits_of(line.split('"memo"')[1])

    def test_an_extra_cannot_overwrite_a_standard_field(self, context_ids: None) -> None:
        out = format_json(make_record("real", extra={"ts": "fake", "level": "fake"}))
        assert out["level"] == "INFO"
        assert out["extra_ts"] == "fake"

    def test_japanese_stays_readable(self, context_ids: None) -> None:
        line = JsonFormatter().format(make_record("返礼品の発送が遅れています"))
        assert "返礼品の発送が遅れています" in line

    def test_an_exception_traceback_is_included_and_masked(self, context_ids: None) -> None:
        try:
            raise ValueError("no donor for taro.yamada@example.ne.jp / 090-0648-0434")
        except ValueError:
            record = make_record("lookup failed", exc_info=sys.exc_info())
        out = format_json(record)
        assert "Traceback" in out["exc"]
        assert "ValueError: no donor for t***@***.jp / [phone:**34]" in out["exc"]
        assert "taro.yamada" not in out["exc"]

    def test_line_separators_in_messages_do_not_split_the_line(self, context_ids: None) -> None:
        line = JsonFormatter().format(make_record("a\u2028b\nc"))
        assert len(line.splitlines()) == 1
        assert json.loads(line)["msg"] == "a\u2028b\nc"

    def test_bad_format_arguments_still_produce_a_line(self, context_ids: None) -> None:
        out = format_json(make_record("%s and %s", "taro@example.jp"))
        assert "unformattable" in out["msg"]
        assert "taro@" not in json.dumps(out)


class TestMaskingFilter:
    def test_the_filter_formats_then_masks_third_party_messages(self) -> None:
        record = make_record("user %s logged in from %s", "taro@example.jp", "127.0.0.1")
        assert MaskingFilter().filter(record) is True
        assert record.getMessage() == "user t***@***.jp logged in from 127.0.0.1"
        assert record.args == ()

    def test_the_filter_masks_exception_text(self) -> None:
        try:
            raise RuntimeError("tel 03-0575-4225")
        except RuntimeError:
            record = make_record("x", exc_info=sys.exc_info())
        MaskingFilter().filter(record)
        assert record.exc_text is not None
        assert "0575" not in record.exc_text


def json_handlers() -> list[logging.Handler]:
    """Return the root handlers that write JSON lines."""
    return [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]


class TestConfigureLogging:
    def test_calling_it_twice_installs_a_single_handler(self, clean_logging: None) -> None:
        configure_logging(stream=io.StringIO())
        configure_logging(stream=io.StringIO())
        assert len(json_handlers()) == 1

    def test_it_sets_the_root_level(self, clean_logging: None) -> None:
        configure_logging("warning", stream=io.StringIO())
        assert logging.getLogger().level == logging.WARNING

    def test_an_unknown_level_is_refused(self, clean_logging: None) -> None:
        with pytest.raises(ValueError):
            configure_logging("LOUD", stream=io.StringIO())

    def test_lines_are_masked_json(self, clean_logging: None, context_ids: None) -> None:
        stream = io.StringIO()
        configure_logging("INFO", stream=stream)
        request_id_var.set("req-1")
        logging.getLogger("support.test").info("mail %s", "taro@example.jp", extra={"n": 1})
        out = json.loads(stream.getvalue().strip())
        assert out["msg"] == "mail t***@***.jp"
        assert out["request_id"] == "req-1"
        assert out["n"] == 1

    def test_uvicorn_and_sqlalchemy_loggers_go_through_it(self, clean_logging: None) -> None:
        for name in ROUTED_LOGGERS:
            lg = logging.getLogger(name)
            lg.addHandler(logging.StreamHandler(io.StringIO()))
            lg.propagate = False
        stream = io.StringIO()
        configure_logging("INFO", stream=stream)
        for name in ROUTED_LOGGERS:
            lg = logging.getLogger(name)
            assert lg.handlers == []
            assert lg.propagate is True
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:54321", "GET", "/api/orders/123", "1.1", 200
        )
        logging.getLogger("uvicorn.error").info("mail %s", "k.suzuki@example.jp")
        lines = [json.loads(x) for x in stream.getvalue().splitlines()]
        assert lines[0]["logger"] == "uvicorn.access"
        assert lines[0]["msg"] == '127.0.0.1:54321 - "GET /api/orders/123 HTTP/1.1" 200'
        assert lines[1]["msg"] == "mail k***@***.jp"

    def test_sqlalchemy_statements_stay_quiet_at_info(self, clean_logging: None) -> None:
        logging.getLogger("sqlalchemy").setLevel(logging.NOTSET)
        configure_logging("INFO", stream=io.StringIO())
        assert not logging.getLogger("sqlalchemy.engine").isEnabledFor(logging.INFO)

    def test_the_log_file_from_the_environment_also_gets_every_line(
        self, clean_logging: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        log_file = tmp_path / "logs" / "run.jsonl"
        monkeypatch.setenv("SUPPORT_LOG_FILE", str(log_file))
        stream = io.StringIO()
        configure_logging("INFO", stream=stream)
        configure_logging("INFO", stream=stream)
        logging.getLogger("support.test").warning("tel %s", "090-0648-0434")
        for handler in logging.getLogger().handlers:
            handler.flush()
        assert len(json_handlers()) == 2
        lines = log_file.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 1
        assert json.loads(lines[0])["msg"] == "tel [phone:**34]"
        assert stream.getvalue().strip() == lines[0]


def run_check(*args: str | Path) -> tuple[int, str, str]:
    """Run check_logs.main in-process and return its status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        status = check_logs.main([str(a) for a in args])
    finally:
        sys.stdout, sys.stderr = saved
    return status, out.getvalue(), err.getvalue()


@needs_world
class TestCheckLogs:
    def test_a_clean_log_passes_with_a_summary(self, tmp_path: Path) -> None:
        log = tmp_path / "clean.jsonl"
        log.write_text('{"msg": "ORD-2025-000423 t***@***.jp [phone:**25]"}\n{"msg": "ok"}\n')
        status, out, _ = run_check(WORLD_PATH, log)
        assert status == 0
        assert out.strip() == "log check: 1 files, 2 lines, no personal data found"

    def test_a_leaked_email_fails_without_repeating_it(self, tmp_path: Path) -> None:
        donor = DONORS[0]
        log = tmp_path / "leak.jsonl"
        log.write_text(f'{{"msg": "ok"}}\n{{"msg": "to {donor["email"].upper()}"}}\n')
        status, out, _ = run_check(WORLD_PATH, log)
        assert status == 1
        assert f"{log}:2: e-mail of donor {donor['id']}" in out
        assert donor["email"] not in out.lower()

    @pytest.mark.parametrize(
        "form",
        [
            lambda p: p,
            digits_of,
            full_width,
            lambda p: full_width(p).replace("－", "ー"),
            lambda p: "+81-" + p.removeprefix("0"),
            lambda p: p.replace("-", " "),
        ],
        ids=["as-written", "digits-only", "full-width", "long-vowel-dash", "+81", "spaces"],
    )
    def test_a_leaked_phone_is_found_in_every_form(self, tmp_path: Path, form: Any) -> None:
        donor = DONORS[1]
        log = tmp_path / "leak.log"
        log.write_text(f"電話 {form(donor['phone'])} 受付\n", encoding="utf-8")
        status, out, _ = run_check(WORLD_PATH, log)
        assert status == 1
        assert f"phone of donor {donor['id']}" in out
        assert digits_of(donor["phone"]) not in digits_of(out.replace(str(log), ""))

    def test_a_url_encoded_email_is_found(self, tmp_path: Path) -> None:
        log = tmp_path / "access.log"
        log.write_text(f"GET /search?q={DONORS[3]['email'].replace('@', '%40')}\n")
        status, out, _ = run_check(WORLD_PATH, log)
        assert status == 1
        assert f"e-mail of donor {DONORS[3]['id']}" in out

    def test_directories_are_searched_recursively(self, tmp_path: Path) -> None:
        (tmp_path / "a" / "b").mkdir(parents=True)
        (tmp_path / "a" / "one.log").write_text("fine\n")
        (tmp_path / "a" / "b" / "two.log").write_text(f"x {DONORS[2]['phone']}\n")
        status, out, _ = run_check(WORLD_PATH, tmp_path)
        assert status == 1
        assert "two.log:1: phone" in out

    def test_masked_output_of_the_formatter_passes(self, tmp_path: Path, context_ids: None) -> None:
        log = tmp_path / "masked.jsonl"
        lines = [
            JsonFormatter().format(
                make_record(
                    "mail %s tel %s / %s",
                    d["email"],
                    d["phone"],
                    full_width(d["phone"]),
                    extra={"donor": d},
                )
            )
            for d in DONORS
        ]
        log.write_text("\n".join(lines) + "\n", encoding="utf-8")
        status, out, _ = run_check(WORLD_PATH, log)
        assert (status, out.strip()) == (
            0,
            f"log check: 1 files, {len(DONORS)} lines, no personal data found",
        )

    def test_a_missing_world_file_exits_2(self, tmp_path: Path) -> None:
        status, out, err = run_check(tmp_path / "nope.json", tmp_path)
        assert status == 2
        assert out == ""
        assert len(err.strip().splitlines()) == 1

    def test_an_unreadable_world_file_exits_2(self, tmp_path: Path) -> None:
        bad = tmp_path / "world.json"
        bad.write_text("{not json")
        assert run_check(bad, tmp_path)[0] == 2

    def test_the_script_runs_from_the_command_line(self, tmp_path: Path) -> None:
        log = tmp_path / "run.log"
        log.write_text(f"leak {DONORS[0]['email']}\n")
        script = ROOT / "tests" / "check_logs.py"
        result = subprocess.run(
            [sys.executable, str(script), str(WORLD_PATH), str(log)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 1
        assert DONORS[0]["email"] not in result.stdout + result.stderr
