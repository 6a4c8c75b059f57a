"""Request and response bodies of the complaint workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from support.tickets.policy import Category, DeadlineVerdict, LiabilitySuggestion, ReissueVerdict

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
PriorityName = Literal["low", "normal", "high", "urgent"]
BearerName = Literal["supplier", "carrier", "donor", "municipality", "intermediary", "none"]


class CategoryChange(BaseModel):
    """A new category."""

    model_config = _STRICT

    category: Category


class PriorityChange(BaseModel):
    """A new priority."""

    model_config = _STRICT

    priority: PriorityName


class OrderLink(BaseModel):
    """An order to link to the ticket."""

    model_config = _STRICT

    order_id: int = Field(ge=1, le=2**31 - 1)


class LiabilityConfirm(BaseModel):
    """A person's decision on who bears the complaint's costs."""

    model_config = _STRICT

    bearer: BearerName
    covers: list[Literal["回収", "代替品", "交換", "再配送", "日程変更"]] = Field(
        default_factory=list, max_length=5
    )
    carrier_at_fault: bool | None = None
    note: str | None = Field(default=None, max_length=2000)


class NoticeRequest(BaseModel):
    """What to ask the supplier; `redelivery` adds the donor's name and address."""

    model_config = _STRICT

    request: Literal["investigate", "redelivery", "replacement", "collection"] = "investigate"
    via: Literal["mail", "fax"] | None = None
    note: str | None = Field(default=None, max_length=1000)


class Resolution(BaseModel):
    """How a complaint was resolved."""

    model_config = _STRICT

    resolution: str | None = Field(default=None, max_length=2000)


class EventRead(BaseModel):
    """One timeline entry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    actor_id: int | None
    kind: str
    detail: dict[str, Any]


class SupplierNoticeRead(BaseModel):
    """A supplier notice and how far it got (its body stays in the database)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    supplier_id: str
    channel: str
    subject: str
    includes_address: bool
    status: str
    created_at: datetime
    sent_at: datetime | None
    replied_at: datetime | None


class ProposedMailRead(BaseModel):
    """A reply the policy proposes (reviewed and sent through approval, never automatically)."""

    model_config = ConfigDict(from_attributes=True)

    template: str
    subject: str
    body: str


class LiabilityRead(BaseModel):
    """The cost bearer confirmed by a person."""

    bearer: str | None
    covers: list[str]
    carrier_at_fault: bool | None
    note: str | None
    confirmed_by: int | None
    confirmed_at: datetime | None


class VerdictRead(BaseModel):
    """What the municipality's rules say about the ticket, and what a person confirmed."""

    model_config = ConfigDict(from_attributes=True)

    municipality: str
    category: str
    deadline: DeadlineVerdict | None
    reissue: ReissueVerdict | None
    liability: LiabilitySuggestion | None
    resident_gift_allowed: bool | None
    serious_kinds: list[str]
    proposed_reply: ProposedMailRead | None
    confirmed_liability: LiabilityRead | None = None


class QueueItem(BaseModel):
    """A ticket in the operator queue."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    subject: str
    category: str
    priority: str
    status: str
    channel: str
    municipality_id: str | None
    supplier_id: str | None
    assignee_id: int | None
    sla_due_at: datetime | None
    sla_state: str
    created_at: datetime


class QueueRead(BaseModel):
    """A page of the operator queue."""

    items: list[QueueItem]
    page: int
    per_page: int
    has_more: bool


class ContactRead(BaseModel):
    """How to reach the caller back (personal data: reading it is audited)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    contact_phone: str | None
    callback_due_at: datetime | None
