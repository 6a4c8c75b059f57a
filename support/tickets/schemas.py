"""Request and response bodies of the tickets domain."""

from __future__ import annotations

from datetime import date, datetime
from typing import Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, field_validator

from support.tickets.masking import normalise_phone
from support.tickets.policy import Category

T = TypeVar("T")

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class MunicipalityRead(BaseModel):
    """A municipality as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    prefecture: str
    contact_email: str


class SupplierRead(BaseModel):
    """A supplier as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    municipality_id: str
    email: str
    fax: str | None


class DonorRead(BaseModel):
    """A donor with every personal field; returning it is an audited access."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    kana: str | None
    email: str | None
    phone: str | None
    postal_code: str | None
    address: str | None
    municipality_of_residence: str | None
    updated_at: datetime


class DonorListItem(BaseModel):
    """A donor in a list: personal fields masked."""

    id: str
    name_masked: str
    email_masked: str | None
    phone_masked: str | None
    prefecture: str | None


class DonorUpdate(BaseModel):
    """A change to a donor's contact details; absent fields stay as they are."""

    model_config = _STRICT

    name: str | None = Field(default=None, min_length=1, max_length=200)
    kana: str | None = Field(default=None, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=40)
    postal_code: str | None = Field(default=None, pattern=r"^\d{3}-?\d{4}$")
    address: str | None = Field(default=None, max_length=500)

    @field_validator("phone")
    @classmethod
    def _phone_has_digits(cls, value: str | None) -> str | None:
        if value is not None and not 10 <= len(normalise_phone(value)) <= 11:
            raise ValueError("電話番号は10桁または11桁で入力してください")
        return value


class OrderRead(BaseModel):
    """An order as staff and municipalities see it: no personal data but the donor id."""

    id: int
    portal: str
    order_no: str
    donation_no: str | None
    donor_id: str
    municipality_id: str
    supplier_id: str
    item: str
    amount_yen: int | None
    status: str
    ordered_on: date | None
    shipped_on: date | None
    delivered_on: date | None
    carrier: str | None
    tracking_no: str | None


class ShipTo(BaseModel):
    """The minimum a supplier needs to ship a gift."""

    name: str
    postal_code: str | None
    address: str | None
    phone: str | None


class SupplierOrderRead(BaseModel):
    """An order as its supplier sees it: the gift and where to send it, nothing else."""

    id: int
    order_no: str
    portal: str
    item: str
    status: str
    ordered_on: date | None
    shipped_on: date | None
    carrier: str | None
    tracking_no: str | None
    ship_to: ShipTo | None = None


class TicketCreate(BaseModel):
    """A new ticket opened by hand."""

    model_config = _STRICT

    subject: str = Field(min_length=1, max_length=300)
    category: Category = "その他"
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    channel: str = Field(default="operator", pattern=r"^(mail|phone|ivr|web|operator)$")
    municipality_id: str | None = Field(default=None, max_length=40)
    donor_id: str | None = Field(default=None, max_length=40)
    order_id: int | None = None
    order_ids: list[int] = Field(default_factory=list, max_length=50)
    description: str | None = Field(default=None, max_length=10_000)
    # A call taken by hand: the number to call back and when it was promised.
    caller_number: str | None = Field(default=None, max_length=40)
    callback_due: AwareDatetime | None = None


class TicketRead(BaseModel):
    """A ticket."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    subject: str
    category: str
    priority: str
    status: str
    channel: str
    municipality_id: str | None
    donor_id: str | None
    order_id: int | None
    supplier_id: str | None
    assignee_id: int | None
    merged_into_id: int | None
    created_at: datetime
    last_activity_at: datetime
    first_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    sla_due_at: datetime | None = None
    sla_state: str = "ok"
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    callback_due_at: datetime | None = None


class Page(BaseModel, Generic[T]):
    """A page of results with the total count."""

    items: list[T]
    total: int
    limit: int
    offset: int
