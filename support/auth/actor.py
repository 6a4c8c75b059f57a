"""The authenticated caller of a request, job or command, with what audit needs to know."""

from __future__ import annotations

from dataclasses import dataclass

from support.auth.models import RoleName

STAFF_ROLES = frozenset({RoleName.OPERATOR, RoleName.SUPERVISOR, RoleName.ADMIN})


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, in which role, bound to which organisation, from where."""

    user_id: int | None
    username: str
    role: RoleName
    municipality_id: str | None = None
    supplier_id: str | None = None
    client_ip: str | None = None
    request_id: str | None = None
    session_kind: str | None = None  # "cookie", "bearer" or None for jobs and the CLI
    csrf_token: str | None = None

    @property
    def is_staff(self) -> bool:
        """Return True for the intermediary's own people (operator, supervisor, admin)."""
        return self.role in STAFF_ROLES
