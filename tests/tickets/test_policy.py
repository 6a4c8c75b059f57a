"""Municipality policies: the shipped files, their validation, and the verdicts applied to them."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from support.errors import BadInput, SupportError
from support.tickets.policy import (
    REISSUE_REFUSAL_TEMPLATE,
    MunicipalityPolicy,
    PolicyError,
    default_policy_dir,
    liability_suggestion,
    load_policies,
    needs_immediate_notice,
    report_route,
    resident_verdict,
    shipping_deadline_verdict,
    voucher_reissue_verdict,
)
from tests.conftest import SHARED
from tests.factories import world_path

SEEDS = SHARED / "seeds"
TODAY = date(2025, 12, 26)  # the day after the last order in the world file


@pytest.fixture(scope="module")
def policies() -> dict[str, MunicipalityPolicy]:
    return load_policies(default_policy_dir())


def _copy_with(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """Copy the shipped `name` into tmp_path with one text replacement; return the directory."""
    text = (default_policy_dir() / name).read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    (tmp_path / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    return tmp_path


def _error(directory: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policies(directory)
    return str(caught.value)


def _line_of(name: str, prefix: str) -> int:
    """Return the 1-based line of the first line of the shipped `name` starting with `prefix`."""
    lines = (default_policy_dir() / name).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(prefix))


class TestShippedFiles:
    def test_the_four_municipalities_load(self, policies: dict[str, MunicipalityPolicy]) -> None:
        assert sorted(policies) == ["chiyoda", "ise", "shizuoka", "yokohama"]
        assert {p.name for p in policies.values()} == {"伊勢市", "横浜市", "千代田区", "静岡市"}

    def test_report_contacts_are_the_world_file_emails(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        world = json.loads(world_path().read_text(encoding="utf-8"))
        for municipality in world["municipalities"]:
            policy = policies[municipality["id"]]
            assert policy.reporting.contact_email == municipality["contact_email"]
            assert policy.name == municipality["name"]

    def test_every_source_quote_appears_in_its_seed_document(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        if not SEEDS.is_dir():
            pytest.skip("shared seeds are not present")
        for policy in policies.values():
            sources = [
                *policy.shipping_source,
                *policy.vouchers.source,
                *(policy.food.source if policy.food else []),
                *policy.residents.source,
                *policy.complaint_costs.source,
                *policy.reporting.source,
            ]
            for source in sources:
                match = re.fullmatch(r"seeds/(\d{3}) [^:]+: (.+)", source)
                assert match, f"{policy.municipality}: unreadable source {source!r}"
                (seed,) = SEEDS.glob(f"{match[1]}_*.txt")
                # The seeds were extracted from PDFs with stray spaces and line breaks.
                seed_text = re.sub(r"\s", "", seed.read_text(encoding="utf-8"))
                for fragment in match[2].split("…"):
                    assert re.sub(r"\s", "", fragment) in seed_text, (policy.municipality, source)

    def test_every_policy_names_food_safety_injury_and_personal_data_as_serious(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        for policy in policies.values():
            for kind in ("食品安全", "負傷", "個人情報"):
                assert needs_immediate_notice(policy, kind), (policy.municipality, kind)
            assert not needs_immediate_notice(policy, "配送遅延")
            assert not needs_immediate_notice(policy, "受領証明書")


class TestIse:
    def test_the_deadline_is_seven_calendar_days_and_day_eight_breaches_it(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        ise = policies["ise"]
        ordered = date(2025, 12, 1)
        on_time = shipping_deadline_verdict(ise, ordered, ordered + timedelta(7), TODAY)
        late = shipping_deadline_verdict(ise, ordered, ordered + timedelta(8), TODAY)
        assert on_time.deadline == date(2025, 12, 8)
        assert not on_time.breached
        assert on_time.days_late == 0
        assert late.breached
        assert late.days_late == 1
        assert late.day_count == "calendar"
        assert "市に申し出る" in late.note

    def test_an_unshipped_order_breaches_once_today_passes_the_deadline(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        ise = policies["ise"]
        ordered = date(2025, 12, 1)
        assert not shipping_deadline_verdict(ise, ordered, None, date(2025, 12, 8)).breached
        verdict = shipping_deadline_verdict(ise, ordered, None, date(2025, 12, 10))
        assert verdict.breached
        assert verdict.days_late == 2
        assert "未発送" in verdict.note

    def test_vouchers_last_at_least_six_months_and_food_one_week(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        ise = policies["ise"]
        assert ise.vouchers.min_validity_months == 6
        assert ise.vouchers.fixed_date_exempt
        assert ise.food is not None
        assert ise.food.min_shelf_life_days_on_arrival == 7
        assert ise.food.fresh_goods_confirm_delivery_date

    def test_the_supplier_pays_unless_the_carrier_is_at_fault(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        ise = policies["ise"]
        supplier = liability_suggestion(ise, "品質", carrier_at_fault=False)
        carrier = liability_suggestion(ise, "破損", carrier_at_fault=True)
        unknown = liability_suggestion(ise, "破損", carrier_at_fault=None)
        assert supplier.bearer == "supplier"
        assert set(supplier.covers) == {"回収", "代替品", "交換", "再配送"}
        assert "返礼品提供事業者の負担" in supplier.explanation
        assert carrier.bearer == "carrier"
        assert "配送業者の瑕疵" in carrier.explanation
        assert unknown.bearer == "undetermined"
        for suggestion in (supplier, carrier, unknown):
            assert suggestion.is_suggestion
            assert suggestion.needs_confirmation
            assert suggestion.explanation.startswith("（提案・担当者の確認が必要）")

    def test_complaints_are_reported_directly_to_the_city(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        assert report_route(policies["ise"]) == "direct"
        assert "直ちに" in policies["ise"].reporting.immediate_notice

    def test_only_donors_outside_the_city_receive_gifts(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        assert not resident_verdict(policies["ise"], "伊勢市")
        assert not resident_verdict(policies["ise"], "三重県伊勢市")
        assert resident_verdict(policies["ise"], "津市")

    def test_voucher_reissue_is_left_to_the_operator(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        verdict = voucher_reissue_verdict(policies["ise"], delivered=True)
        assert verdict.allowed
        assert verdict.template is None
        assert "定めはありません" in verdict.reason


class TestYokohama:
    def test_vouchers_must_ship_within_two_weeks(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        yokohama = policies["yokohama"]
        ordered = date(2025, 12, 1)
        assert yokohama.shipping_deadline_scope == "vouchers"
        assert yokohama.shipping_tracking_required
        verdict = shipping_deadline_verdict(yokohama, ordered, ordered + timedelta(14), TODAY)
        assert verdict.deadline == date(2025, 12, 15)
        assert not verdict.breached
        assert shipping_deadline_verdict(yokohama, ordered, ordered + timedelta(15), TODAY).breached

    def test_reissue_is_refused_when_the_delivery_record_shows_arrival(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        verdict = voucher_reissue_verdict(policies["yokohama"], delivered=True)
        assert not verdict.allowed
        assert verdict.template == REISSUE_REFUSAL_TEMPLATE == "voucher_reissue_refusal"
        assert "再発行には応じられません" in verdict.reason
        assert voucher_reissue_verdict(policies["yokohama"], delivered=False).allowed

    def test_vouchers_are_valid_up_to_six_months_and_named_or_numbered(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        vouchers = policies["yokohama"].vouchers
        assert vouchers.max_validity_months == 6
        assert vouchers.min_validity_months is None
        assert vouchers.identification == "named_or_serial_numbered"
        assert vouchers.reissue_when_delivered is False

    def test_there_is_no_food_rule_because_goods_are_not_offered(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        assert policies["yokohama"].food is None

    def test_the_supplier_handles_every_accident_even_a_carriers(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        suggestion = liability_suggestion(policies["yokohama"], "不着", carrier_at_fault=True)
        assert suggestion.bearer == "supplier"
        assert "日程変更" in suggestion.covers
        assert any("荒天" in note for note in suggestion.notes)

    def test_complaints_and_media_requests_are_reported_directly(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        yokohama = policies["yokohama"]
        assert report_route(yokohama) == "direct"
        assert yokohama.reporting.media_requests is not None
        assert "事前" in yokohama.reporting.media_requests

    def test_a_donor_from_a_ward_of_the_city_gets_no_gift(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        assert not resident_verdict(policies["yokohama"], "横浜市中区")
        assert resident_verdict(policies["yokohama"], "川崎市")


class TestChiyoda:
    def test_there_is_no_day_count_so_no_breach_is_claimed(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        chiyoda = policies["chiyoda"]
        assert chiyoda.shipping_deadline_days is None
        verdict = shipping_deadline_verdict(chiyoda, date(2025, 11, 1), None, TODAY)
        assert verdict.deadline is None
        assert not verdict.breached
        assert "定めはありません" in verdict.note

    def test_complaints_are_reported_to_the_ward_via_the_intermediary(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        assert report_route(policies["chiyoda"]) == "via_intermediary"

    def test_carrier_accidents_follow_the_carriers_terms_and_force_majeure_is_discussed(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        suggestion = liability_suggestion(policies["chiyoda"], "破損", carrier_at_fault=True)
        assert suggestion.bearer == "carrier_terms"
        assert "取り決め" in suggestion.explanation
        assert any("区と協議" in note for note in suggestion.notes)

    def test_vouchers_need_a_validity_period_and_resale_prevention(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        vouchers = policies["chiyoda"].vouchers
        assert vouchers.validity_required
        assert vouchers.resale_prevention_required
        assert policies["chiyoda"].food is not None
        assert policies["chiyoda"].food.shelf_life_required

    def test_only_donors_outside_the_ward_receive_gifts(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        assert not resident_verdict(policies["chiyoda"], "東京都千代田区")
        assert resident_verdict(policies["chiyoda"], "世田谷区")


class TestShizuoka:
    def test_a_resident_of_the_city_gets_no_gift(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        shizuoka = policies["shizuoka"]
        assert not resident_verdict(shizuoka, "静岡市")
        assert not resident_verdict(shizuoka, "静岡市葵区")
        assert not resident_verdict(shizuoka, "静岡県 静岡市清水区")
        assert resident_verdict(shizuoka, "浜松市")
        assert resident_verdict(shizuoka, None)

    def test_the_deadline_is_prompt_without_a_number(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        shizuoka = policies["shizuoka"]
        assert shizuoka.shipping_deadline_days is None
        assert shizuoka.shipping_day_count is None
        assert "速やか" in shizuoka.shipping_deadline_note

    def test_complaints_go_to_the_contractor(self, policies: dict[str, MunicipalityPolicy]) -> None:
        assert report_route(policies["shizuoka"]) == "via_intermediary"

    def test_vouchers_are_named_and_food_keeps_a_week(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        shizuoka = policies["shizuoka"]
        assert shizuoka.vouchers.identification == "named"
        assert shizuoka.food is not None
        assert shizuoka.food.min_shelf_life_days_on_arrival == 7

    def test_the_city_pays_nothing_for_replacements(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        suggestion = liability_suggestion(policies["shizuoka"], "品質", carrier_at_fault=False)
        assert suggestion.bearer == "supplier"
        assert "市は一切負担しません" in suggestion.explanation


class TestCategories:
    def test_non_gift_categories_have_no_cost_bearer(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        for category in ("受領証明書", "ワンストップ", "個人情報", "その他"):
            suggestion = liability_suggestion(policies["ise"], category, carrier_at_fault=None)
            assert suggestion.bearer == "not_applicable"

    def test_an_unknown_category_is_refused(self, policies: dict[str, MunicipalityPolicy]) -> None:
        with pytest.raises(BadInput):
            liability_suggestion(policies["ise"], "品質不良", carrier_at_fault=None)
        with pytest.raises(BadInput):
            needs_immediate_notice(policies["ise"], "けが")


class TestBusinessDays:
    def test_a_business_day_policy_skips_weekends_and_japanese_holidays(
        self, tmp_path: Path
    ) -> None:
        directory = _copy_with(
            tmp_path, "ise.yaml", "shipping_day_count: calendar", "shipping_day_count: business"
        )
        ise = load_policies(directory)["ise"]
        # Fri 2025-10-31 + 7 business days: 11/3 (文化の日) and two weekends are skipped.
        verdict = shipping_deadline_verdict(ise, date(2025, 10, 31), date(2025, 11, 14), TODAY)
        assert verdict.deadline == date(2025, 11, 12)
        assert verdict.breached
        assert verdict.days_late == 2
        assert "営業日" in verdict.note


class TestRejectedFiles:
    def test_a_typo_key_is_rejected_with_file_and_line(self, tmp_path: Path) -> None:
        directory = _copy_with(
            tmp_path, "ise.yaml", "shipping_deadline_days:", "shiping_deadline_days:"
        )
        message = _error(directory)
        assert "ise.yaml:4: unknown key 'shiping_deadline_days'" in message
        assert "ise.yaml:2: missing required key 'shipping_deadline_days'" in message

    def test_a_typo_in_a_section_names_the_section_and_its_line(self, tmp_path: Path) -> None:
        directory = _copy_with(
            tmp_path, "yokohama.yaml", "  reissue_when_delivered:", "  reissue_when_deliverd:"
        )
        line = _line_of("yokohama.yaml", "  reissue_when_delivered:")
        message = _error(directory)
        assert f"yokohama.yaml:{line}: unknown key 'reissue_when_deliverd' in 'vouchers'" in message

    def test_a_wrong_type_is_rejected_with_file_and_line(self, tmp_path: Path) -> None:
        directory = _copy_with(
            tmp_path, "ise.yaml", "shipping_deadline_days: 7", 'shipping_deadline_days: "7"'
        )
        assert "ise.yaml:4: 'shipping_deadline_days':" in _error(directory)

    def test_a_category_outside_the_vocabulary_is_rejected(self, tmp_path: Path) -> None:
        directory = _copy_with(
            tmp_path, "chiyoda.yaml", "[食品安全, 負傷, 個人情報]", "[食品安全, けが, 個人情報]"
        )
        line = _line_of("chiyoda.yaml", "  serious_categories:")
        assert f"chiyoda.yaml:{line}: 'reporting.serious_categories.1':" in _error(directory)

    def test_a_missing_required_key_is_rejected_with_the_line_of_its_section(
        self, tmp_path: Path
    ) -> None:
        directory = _copy_with(
            tmp_path, "shizuoka.yaml", "  min_shelf_life_days_on_arrival: 7\n", ""
        )
        line = _line_of("shizuoka.yaml", "food:")
        message = _error(directory)
        assert (
            f"shizuoka.yaml:{line}: missing required key 'min_shelf_life_days_on_arrival'"
            " in 'food'" in message
        )

    def test_malformed_yaml_is_rejected_with_file_and_line(self, tmp_path: Path) -> None:
        directory = _copy_with(tmp_path, "ise.yaml", "name: 伊勢市\n", "name: [伊勢市\n")
        message = _error(directory)
        assert re.search(r"ise\.yaml:\d+: malformed YAML", message)
        line = int(re.search(r"ise\.yaml:(\d+)", message)[1])  # type: ignore[index]
        assert 3 <= line <= 5

    def test_a_duplicate_key_is_rejected(self, tmp_path: Path) -> None:
        directory = _copy_with(tmp_path, "ise.yaml", "name: 伊勢市\n", "name: 伊勢市\nname: 伊勢\n")
        assert "ise.yaml:4: duplicate key 'name'" in _error(directory)

    def test_a_file_whose_id_differs_from_its_name_is_rejected(self, tmp_path: Path) -> None:
        directory = _copy_with(tmp_path, "ise.yaml", "municipality: ise", "municipality: tsu")
        assert "ise.yaml:2: municipality 'tsu' does not match the file name" in _error(directory)

    def test_a_deadline_without_a_day_count_is_rejected(self, tmp_path: Path) -> None:
        directory = _copy_with(
            tmp_path, "ise.yaml", "shipping_day_count: calendar", "shipping_day_count: null"
        )
        assert "shipping_day_count must be set exactly when" in _error(directory)

    def test_an_empty_or_missing_directory_is_rejected(self, tmp_path: Path) -> None:
        assert "no policy files" in _error(tmp_path)
        assert "not found" in _error(tmp_path / "absent")

    def test_the_error_is_a_422_support_error_listing_every_problem(self, tmp_path: Path) -> None:
        directory = _copy_with(tmp_path, "ise.yaml", "name: 伊勢市", "nam: 伊勢市")
        with pytest.raises(PolicyError) as caught:
            load_policies(directory)
        assert isinstance(caught.value, SupportError)
        assert caught.value.status == 422
        assert len(caught.value.extra["problems"]) == 2


def _world_orders() -> dict[str, dict[str, Any]]:
    path = world_path()
    if not path.exists():
        pytest.skip("world file is not present")
    world = json.loads(path.read_text(encoding="utf-8"))
    return {order["id"]: order for order in world["orders"]}


def _verdict_for(order: dict[str, Any], policies: dict[str, MunicipalityPolicy]) -> Any:
    shipped = order.get("shipped_at")
    return shipping_deadline_verdict(
        policies[order["municipality"]],
        date.fromisoformat(order["ordered_at"]),
        date.fromisoformat(shipped) if shipped else None,
        TODAY,
    )


class TestWorldOrders:
    def test_a_delayed_ise_order_is_late_by_eleven_days(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        order = _world_orders().get("ORD-2025-095357")
        if order is None:
            pytest.skip("the world file changed")
        verdict = _verdict_for(order, policies)
        assert order["status"] == "配送遅延"
        assert verdict.deadline == date(2025, 12, 15)
        assert verdict.breached
        assert verdict.days_late == 11

    def test_a_yokohama_order_shipped_on_day_thirteen_is_on_time(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        order = _world_orders().get("ORD-2025-049201")
        if order is None:
            pytest.skip("the world file changed")
        assert not _verdict_for(order, policies).breached

    def test_a_delivered_yokohama_coupon_is_not_reissued(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        order = _world_orders().get("ORD-2025-023129")
        if order is None:
            pytest.skip("the world file changed")
        verdict = voucher_reissue_verdict(
            policies[order["municipality"]], delivered=order.get("delivered_at") is not None
        )
        assert not verdict.allowed

    def test_no_shipped_ise_or_yokohama_order_in_the_world_breached_its_deadline(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        for order in _world_orders().values():
            if order["municipality"] in ("ise", "yokohama") and order.get("shipped_at"):
                assert not _verdict_for(order, policies).breached, order["id"]

    def test_every_world_order_gets_a_verdict(
        self, policies: dict[str, MunicipalityPolicy]
    ) -> None:
        for order in _world_orders().values():
            verdict = _verdict_for(order, policies)
            assert verdict.municipality == order["municipality"]
            assert verdict.days_late >= 0
