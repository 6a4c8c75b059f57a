"""HTTP routes of login, tokens, users and the audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from support.auth import audit
from support.auth import service as auth_service
from support.auth.models import User
from support.auth.schemas import (
    AuditEventRead,
    Credentials,
    SessionRead,
    TokenRead,
    UserCreate,
    UserRead,
)
from support.config import Settings
from support.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AdminUser,
    CurrentUser,
    SessionDep,
    SettingsDep,
    client_ip,
)
from support.errors import AccountLocked, NotAuthenticated

router = APIRouter(prefix="/api", tags=["auth"])


def _login(request: Request, session: Session, settings: Settings, body: Credentials) -> User:
    outcome = auth_service.authenticate(
        session=session,
        username=body.username,
        password=body.password,
        threshold=settings.lockout_threshold,
        lockout=timedelta(minutes=settings.lockout_minutes),
        client_ip=client_ip(request, settings),
        request_id=getattr(request.state, "request_id", None),
    )
    if outcome.user is None:
        # The failure count and audit event must survive the error response.
        session.commit()
        if outcome.locked_until is not None:
            raise AccountLocked(locked_until=outcome.locked_until.isoformat())
        raise NotAuthenticated("ユーザー名またはパスワードが違います")
    return outcome.user


@router.post("/auth/token", response_model=TokenRead)
def issue_token(
    request: Request, body: Credentials, session: SessionDep, settings: SettingsDep
) -> TokenRead:
    """Exchange a username and password for a bearer token."""
    user = _login(request, session, settings, body)
    token, row = auth_service.issue_session(
        session=session,
        user=user,
        kind="bearer",
        ttl=timedelta(minutes=settings.token_ttl_minutes),
    )
    return TokenRead(access_token=token, expires_at=row.expires_at)


@router.post("/auth/login", response_model=SessionRead)
def login(
    request: Request,
    response: Response,
    body: Credentials,
    session: SessionDep,
    settings: SettingsDep,
) -> SessionRead:
    """Log in to the console: sets the session cookie and returns the CSRF token."""
    user = _login(request, session, settings, body)
    token, row = auth_service.issue_session(
        session=session,
        user=user,
        kind="cookie",
        ttl=timedelta(minutes=settings.session_ttl_minutes),
    )
    max_age = settings.session_ttl_minutes * 60
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )
    assert row.csrf_token is not None  # noqa: S101 - cookie sessions always carry one
    response.set_cookie(
        CSRF_COOKIE,
        row.csrf_token,
        max_age=max_age,
        httponly=False,
        secure=settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    return SessionRead(
        user=UserRead.model_validate(user), csrf_token=row.csrf_token, expires_at=row.expires_at
    )


@router.post("/auth/logout", status_code=204)
def logout(request: Request, response: Response, actor: CurrentUser, session: SessionDep) -> None:
    """Revoke the session or token used for this request."""
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip() if header else request.cookies.get(SESSION_COOKIE)
    if token:
        auth_service.revoke_token(session=session, token=token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    audit.record(
        session, actor, action="logout", resource_type="user", resource_id=str(actor.user_id)
    )


@router.get("/auth/me", response_model=UserRead)
def me(actor: CurrentUser, session: SessionDep) -> UserRead:
    """Return the logged-in user."""
    assert actor.user_id is not None  # noqa: S101 - tokens always belong to a user
    return UserRead.model_validate(auth_service.get_user(session=session, user_id=actor.user_id))


@router.post("/users", response_model=UserRead, status_code=201)
def create_user(body: UserCreate, actor: AdminUser, session: SessionDep) -> UserRead:
    """Create a user (admins only)."""
    user = auth_service.create_user(
        session=session,
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        municipality_id=body.municipality_id,
        supplier_id=body.supplier_id,
    )
    audit.record(
        session,
        actor,
        action="create",
        resource_type="user",
        resource_id=str(user.id),
        detail={"role": str(body.role)},
    )
    return UserRead.model_validate(user)


@router.get("/users", response_model=list[UserRead])
def list_users(_actor: AdminUser, session: SessionDep) -> list[UserRead]:
    """List users (admins only)."""
    return [UserRead.model_validate(u) for u in auth_service.list_users(session=session)]


@router.get("/audit", response_model=list[AuditEventRead])
def list_audit(
    _actor: AdminUser,
    session: SessionDep,
    donor_id: Annotated[str | None, Query(max_length=40)] = None,
    user_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEventRead]:
    """List audit events by donor and/or by user, newest first (admins only)."""
    events = audit.list_events(
        session, donor_id=donor_id, user_id=user_id, before_id=before_id, limit=limit
    )
    return [AuditEventRead.model_validate(e) for e in events]
