"""Municipality complaint policies: YAML files validated at start, and pure verdicts on them.

Each municipality's supplier-recruitment rules (seeds/001-004) are kept as one YAML file in
`support/tickets/policies/`. Every rule carries `source` quotes so an operator can check it
against the municipality's own document. The verdict functions never touch the database;
they only apply a loaded policy to dates, categories and flags.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from support.errors import BadInput, SupportError

Category = Literal[
    "品質",
    "破損",
    "配送遅延",
    "誤配送",
    "不着",
    "利用券",
    "受領証明書",
    "ワンストップ",
    "個人情報",
    "その他",
]
# Serious incidents that are not ticket categories of their own (a food-safety case is filed
# under 品質, an injury under 品質 or 破損) but must still be named in a policy.
SeriousKind = Literal[Category, "食品安全", "負傷"]
CostItem = Literal["回収", "代替品", "交換", "再配送", "日程変更"]

CATEGORIES: frozenset[str] = frozenset(get_args(Category))
SERIOUS_KINDS: frozenset[str] = frozenset(get_args(SeriousKind))
# Complaints about the gift itself or its delivery: the ones the cost rules speak about.
GIFT_COST_CATEGORIES: frozenset[str] = frozenset(
    {"品質", "破損", "配送遅延", "誤配送", "不着", "利用券"}
)
REISSUE_REFUSAL_TEMPLATE = "voucher_reissue_refusal"


class PolicyError(SupportError):
    """A municipality policy file that is missing, malformed or breaks the schema."""

    status = 422
    title = "自治体ルールファイルに誤りがあります"
    code = "invalid_policy"


class _Rules(BaseModel):
    """Base of every policy section: unknown keys and loose types are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class VoucherRules(_Rules):
    """Rules for vouchers (利用券・参加券) of experience-type gifts."""

    validity_required: bool
    min_validity_months: int | None = Field(ge=1)
    max_validity_months: int | None = Field(ge=1)
    fixed_date_exempt: bool
    resale_prevention_required: bool
    identification: Literal["named", "serial_numbered", "named_or_serial_numbered"] | None
    reissue_when_delivered: bool | None
    reissue_refusal_reason: str | None
    source: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _refusal_needs_reason(self) -> VoucherRules:
        """Require a Japanese reason when delivered vouchers are never reissued."""
        if self.reissue_when_delivered is False and not self.reissue_refusal_reason:
            raise ValueError(
                "reissue_refusal_reason is required when reissue_when_delivered is false"
            )
        return self


class FoodRules(_Rules):
    """Shelf-life rules for food and drink gifts."""

    shelf_life_required: bool
    min_shelf_life_days_on_arrival: int | None = Field(ge=1)
    fresh_goods_exempt: bool
    fresh_goods_confirm_delivery_date: bool
    source: list[str] = Field(min_length=1)


class ResidentRules(_Rules):
    """Whether donors living in the municipality itself receive a gift."""

    residents_receive_gifts: bool
    source: list[str] = Field(min_length=1)


class ComplaintCostRules(_Rules):
    """Who pays collection, replacement and re-delivery after a complaint."""

    bearer: Literal["supplier"]
    covers: list[CostItem] = Field(min_length=1)
    summary: str
    carrier_at_fault: Literal["carrier", "carrier_terms", "supplier"]
    carrier_at_fault_note: str
    donor_at_fault: Literal["supplier", "consult_municipality"] | None
    donor_at_fault_note: str | None
    force_majeure: Literal["supplier_arranges", "consult_municipality"] | None
    force_majeure_note: str | None
    municipality_pays: bool
    source: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _rules_need_notes(self) -> ComplaintCostRules:
        """Require the Japanese note for every rule that is set, so operators see why."""
        if self.donor_at_fault is not None and not self.donor_at_fault_note:
            raise ValueError("donor_at_fault_note is required when donor_at_fault is set")
        if self.force_majeure is not None and not self.force_majeure_note:
            raise ValueError("force_majeure_note is required when force_majeure is set")
        return self


class ReportingRules(_Rules):
    """Where complaints are reported and which ones need an immediate notice."""

    route: Literal["direct", "via_intermediary"]
    report_to: str
    contact_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    timing: str
    serious_categories: list[SeriousKind] = Field(min_length=1)
    immediate_notice: str
    media_requests: str | None
    source: list[str] = Field(min_length=1)
    # Optional keys for the reports (issue 5); the defaults suit every shipped municipality.
    # Formats attached to the monthly report mail.
    monthly_formats: list[Literal["pdf", "html", "csv"]] = Field(
        default=["pdf", "csv"], min_length=1
    )
    # Portal order numbers let the municipality find the case in its own records; a city that
    # wants none in reports sets this to false.
    order_numbers_in_report: bool = True
    # Extra addresses copied on notices and monthly mails (e.g. the intermediary's manager).
    report_cc: list[str] = Field(default=[], max_length=10)

    @model_validator(mode="after")
    def _cc_are_addresses(self) -> ReportingRules:
        """Refuse a copy address that is not an e-mail address."""
        for address in self.report_cc:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
                raise ValueError(f"report_cc: not an e-mail address: {address}")
        return self


class MunicipalityPolicy(_Rules):
    """Everything the contact center applies to one municipality's complaints."""

    municipality: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    shipping_deadline_days: int | None = Field(ge=1)
    shipping_day_count: Literal["calendar", "business"] | None
    shipping_deadline_scope: Literal["all_gifts", "vouchers"]
    shipping_deadline_note: str
    shipping_tracking_required: bool
    shipping_source: list[str] = Field(min_length=1)
    vouchers: VoucherRules
    food: FoodRules | None
    residents: ResidentRules
    complaint_costs: ComplaintCostRules
    reporting: ReportingRules

    @model_validator(mode="after")
    def _day_count_goes_with_deadline(self) -> MunicipalityPolicy:
        """Require a day count exactly when there is a deadline to count."""
        if (self.shipping_deadline_days is None) != (self.shipping_day_count is None):
            raise ValueError(
                "shipping_day_count must be set exactly when shipping_deadline_days is set"
            )
        return self


class DeadlineVerdict(BaseModel):
    """Whether an order was (or still is) shipped within the municipality's deadline."""

    model_config = ConfigDict(frozen=True)

    municipality: str
    deadline: date | None
    breached: bool
    days_late: int
    day_count: Literal["calendar", "business"] | None
    note: str


class ReissueVerdict(BaseModel):
    """Whether a lost voucher may be reissued, with the reason to give."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    reason: str
    template: str | None


class LiabilitySuggestion(BaseModel):
    """Who should bear a complaint's costs: a suggestion a person must confirm."""

    model_config = ConfigDict(frozen=True)

    bearer: Literal["supplier", "carrier", "carrier_terms", "undetermined", "not_applicable"]
    covers: list[str]
    explanation: str
    notes: list[str]
    is_suggestion: Literal[True] = True
    needs_confirmation: Literal[True] = True


# --- loading -------------------------------------------------------------------------------

_Path = tuple[str, ...]


def default_policy_dir() -> Path:
    """Return the directory of the shipped policy files."""
    return Path(__file__).resolve().parent / "policies"


def load_policies(directory: Path) -> dict[str, MunicipalityPolicy]:
    """Load and validate every `*.yaml` policy in `directory`, keyed by municipality id."""
    if not directory.is_dir():
        raise PolicyError(f"{directory}: policy directory not found")
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise PolicyError(f"{directory}: no policy files (*.yaml)")
    policies: dict[str, MunicipalityPolicy] = {}
    problems: list[str] = []
    for path in files:
        policy, file_problems = _load_one(path)
        problems += file_problems
        if policy is not None:
            policies[policy.municipality] = policy
    if problems:
        raise PolicyError("; ".join(problems), problems=problems)
    return policies


def _load_one(path: Path) -> tuple[MunicipalityPolicy | None, list[str]]:
    """Validate one file; return the policy or the `file:line: problem` messages."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{name}:1: cannot read the file ({exc})"]
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        return None, [f"{name}:{line}: malformed YAML: {exc.problem or exc.context}"]
    except yaml.YAMLError as exc:
        return None, [f"{name}:1: malformed YAML: {exc}"]
    finally:
        loader.dispose()
    if node is None or not isinstance(data, dict):
        return None, [f"{name}:1: the file must be a mapping of policy keys"]

    lines: dict[_Path, int] = {}
    problems: list[str] = []
    _record_lines(node, (), lines, problems, name)
    # The top-level mapping starts at its first key; missing top-level keys point there.
    lines.setdefault((), node.start_mark.line + 1)
    try:
        policy = MunicipalityPolicy.model_validate(data)
    except ValidationError as exc:
        problems += [_describe(name, err, lines) for err in exc.errors()]
        return None, problems
    if policy.municipality != path.stem:
        # The id in the file and the file name must agree, or two files could claim one city.
        line = lines.get(("municipality",), 1)
        problems.append(
            f"{name}:{line}: municipality '{policy.municipality}' does not match the file name"
        )
    return (None if problems else policy), problems


def _record_lines(
    node: yaml.Node, path: _Path, lines: dict[_Path, int], problems: list[str], name: str
) -> None:
    """Map every key path (and list item) to its 1-based line; flag duplicate keys."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            # PyYAML keeps the last duplicate silently; a second rule would be lost unseen.
            if key in seen:
                problems.append(f"{name}:{line}: duplicate key '{key}'")
            seen.add(key)
            lines[(*path, key)] = line
            _record_lines(value_node, (*path, key), lines, problems, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, str(index))] = item.start_mark.line + 1
            _record_lines(item, (*path, str(index)), lines, problems, name)


def _describe(name: str, err: Any, lines: dict[_Path, int]) -> str:
    """Turn one pydantic error into `file:line: message`, using the key's line."""
    loc: _Path = tuple(str(part) for part in err["loc"])
    where = f" in '{'.'.join(loc[:-1])}'" if len(loc) > 1 else ""
    if err["type"] == "extra_forbidden":
        return f"{name}:{_line_of(loc, lines)}: unknown key '{loc[-1]}'{where}"
    if err["type"] == "missing":
        return f"{name}:{_line_of(loc[:-1], lines)}: missing required key '{loc[-1]}'{where}"
    dotted = ".".join(loc) or "(top level)"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{name}:{_line_of(loc, lines)}: '{dotted}': {message}"


def _line_of(loc: _Path, lines: dict[_Path, int]) -> int:
    """Return the line of the longest recorded prefix of `loc` (pydantic may add union tags)."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


# --- verdicts ------------------------------------------------------------------------------


def shipping_deadline_verdict(
    policy: MunicipalityPolicy, ordered_on: date, shipped_on: date | None, today: date
) -> DeadlineVerdict:
    """Compute the shipping deadline and whether shipping (or its absence by today) breaks it."""
    days = policy.shipping_deadline_days
    count = policy.shipping_day_count
    if days is None or count is None:
        return DeadlineVerdict(
            municipality=policy.municipality,
            deadline=None,
            breached=False,
            days_late=0,
            day_count=None,
            note=policy.shipping_deadline_note,
        )
    business = count == "business"
    deadline = _add_business_days(ordered_on, days) if business else ordered_on + timedelta(days)
    until = shipped_on if shipped_on is not None else today
    late = _business_days_between(deadline, until) if business else (until - deadline).days
    late = max(late, 0)
    unit = "営業日" if business else "日"
    if late == 0:
        state = "期限内に発送済みです。" if shipped_on is not None else "まだ期限内です。"
    elif shipped_on is not None:
        state = f"期限を{late}{unit}過ぎて発送されました。"
    else:
        state = f"期限を{late}{unit}過ぎても未発送です。"
    return DeadlineVerdict(
        municipality=policy.municipality,
        deadline=deadline,
        breached=late > 0,
        days_late=late,
        day_count=count,
        note=f"{policy.name}の発送期限は{deadline.isoformat()}です。{state}"
        f"（{policy.shipping_deadline_note}）",
    )


def _japanese_holidays(years: range) -> Any:
    """Return Japan's public holidays for `years` (imported here: only business days need it)."""
    # Imported lazily: no shipped policy counts business days, so `holidays` stays optional.
    import holidays

    return holidays.country_holidays("JP", years=years)


def _is_business_day(day: date, off: Any) -> bool:
    """Return whether `day` is a weekday that is not a Japanese public holiday."""
    return day.weekday() < 5 and day not in off


def _add_business_days(start: date, days: int) -> date:
    """Return the `days`-th business day after `start`."""
    # Generous range: even long holiday runs cannot push 1 year of business days further.
    off = _japanese_holidays(range(start.year, start.year + 2 + days // 200))
    current, left = start, days
    while left > 0:
        current += timedelta(1)
        if _is_business_day(current, off):
            left -= 1
    return current


def _business_days_between(after: date, until: date) -> int:
    """Count business days in (after, until]; 0 when `until` is not later."""
    if until <= after:
        return 0
    off = _japanese_holidays(range(after.year, until.year + 1))
    total, current = 0, after
    while current < until:
        current += timedelta(1)
        total += _is_business_day(current, off)
    return total


def voucher_reissue_verdict(policy: MunicipalityPolicy, delivered: bool) -> ReissueVerdict:
    """Decide whether a lost voucher may be reissued, given whether delivery is on record."""
    rules = policy.vouchers
    if delivered and rules.reissue_when_delivered is False:
        return ReissueVerdict(
            allowed=False,
            reason=rules.reissue_refusal_reason or "",
            template=REISSUE_REFUSAL_TEMPLATE,
        )
    if not delivered:
        reason = "送達記録で到着が確認できないため、配送状況を確認のうえ再発行を検討できます。"
    elif rules.reissue_when_delivered is None:
        reason = (
            f"{policy.name}の要項に再発行の定めはありません。費用負担を含め担当者が判断します。"
        )
    else:
        reason = f"{policy.name}の要項では到着後の再発行も認められています。"
    return ReissueVerdict(allowed=True, reason=reason, template=None)


# Prefecture prefixes are dropped so "静岡県静岡市葵区" compares like "静岡市葵区".
_PREFECTURE = re.compile(r"^(?:東京都|北海道|京都府|大阪府|[^\s都道府県]{2,3}県)")


def resident_verdict(
    policy: MunicipalityPolicy, donor_municipality_of_residence: str | None
) -> bool:
    """Return whether a donor living in `donor_municipality_of_residence` may receive a gift."""
    if policy.residents.residents_receive_gifts:
        return True
    if donor_municipality_of_residence is None:
        # Unknown residence is not evidence of residency; the portal holds the address and an
        # operator confirms it before refusing a gift.
        return True
    residence = re.sub(r"[\s\u3000]", "", donor_municipality_of_residence)
    residence = _PREFECTURE.sub("", residence)
    # Wards of designated cities ("静岡市葵区", "横浜市中区") belong to the city.
    return not residence.startswith(policy.name)


def liability_suggestion(
    policy: MunicipalityPolicy, category: str, carrier_at_fault: bool | None
) -> LiabilitySuggestion:
    """Suggest who bears re-delivery, replacement and collection costs for a complaint."""
    _check_category(category, CATEGORIES)
    costs = policy.complaint_costs
    if category not in GIFT_COST_CATEGORIES:
        return LiabilitySuggestion(
            bearer="not_applicable",
            covers=[],
            explanation=f"「{category}」は返礼品の回収・交換・再配送の費用負担の対象外です。",
            notes=[],
        )
    notes = [note for note in (costs.donor_at_fault_note, costs.force_majeure_note) if note]
    prefix = "（提案・担当者の確認が必要）"
    bearer: Literal["supplier", "carrier", "carrier_terms", "undetermined"]
    if costs.carrier_at_fault == "supplier" or carrier_at_fault is False:
        # Either the rules make the supplier answer for carriers too, or the carrier is cleared.
        bearer, explanation = "supplier", costs.summary
        if carrier_at_fault:
            explanation = f"{costs.summary}{costs.carrier_at_fault_note}"
    elif carrier_at_fault:
        bearer, explanation = costs.carrier_at_fault, costs.carrier_at_fault_note
    else:
        bearer = "undetermined"
        explanation = (
            f"配送業者の責任の有無が未確認です。{costs.summary}{costs.carrier_at_fault_note}"
        )
    return LiabilitySuggestion(
        bearer=bearer,
        covers=list(costs.covers),
        explanation=f"{prefix}{explanation}",
        notes=notes,
    )


def needs_immediate_notice(policy: MunicipalityPolicy, category: str) -> bool:
    """Return whether a complaint of `category` must be notified to the municipality at once."""
    _check_category(category, SERIOUS_KINDS)
    return category in policy.reporting.serious_categories


def report_route(policy: MunicipalityPolicy) -> str:
    """Return how complaints reach the municipality: `direct` or `via_intermediary`."""
    return policy.reporting.route


def _check_category(category: str, allowed: frozenset[str]) -> None:
    """Refuse a category outside the vocabulary (a typo would silently skip a rule)."""
    if category not in allowed:
        raise BadInput(f"不明な分類です: {category}", allowed=sorted(allowed))
