"""Request and response bodies of authentication, users and audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from support.auth.models import RoleName

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Credentials(BaseModel):
    """A username and password."""

    model_config = _STRICT

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenRead(BaseModel):
    """A bearer token, shown once."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: datetime


class UserCreate(BaseModel):
    """A new user."""

    model_config = _STRICT

    username: str = Field(min_length=1, max_length=64)
    display_name: str | None = Field(default=None, max_length=100)
    password: str = Field(min_length=1, max_length=1024)
    role: RoleName
    municipality_id: str | None = Field(default=None, max_length=40)
    supplier_id: str | None = Field(default=None, max_length=40)


class UserRead(BaseModel):
    """A user as the API shows it (never the hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: RoleName
    municipality_id: str | None
    supplier_id: str | None
    active: bool
    locked_until: datetime | None
    last_login_at: datetime | None


class SessionRead(BaseModel):
    """A console login: the user and the CSRF token for unsafe requests."""

    user: UserRead
    csrf_token: str
    expires_at: datetime


class AuditEventRead(BaseModel):
    """One audit event."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    actor_user_id: int | None
    actor_username: str
    actor_role: str
    action: str
    resource_type: str
    resource_id: str | None
    donor_id: str | None
    municipality_id: str | None
    client_ip: str | None
    request_id: str | None
    detail: dict[str, Any]
