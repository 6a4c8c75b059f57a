"""Dependency aliases for routers: the session, the settings, the current actor, role guards."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from support.adapters.ports import SearchIndex
from support.auth import service as auth_service
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.config import Settings
from support.errors import Forbidden, NotAuthenticated
from support.logs import user_id_var

SESSION_COOKIE = "support_session"
CSRF_COOKIE = "support_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Cheap dependencies are async so that FastAPI does not hop to a worker thread for them.
async def get_settings(request: Request) -> Settings:
    """Return the application's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """Yield the request's session; commit when the handler succeeds, roll back otherwise."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def get_search(request: Request) -> SearchIndex:
    """Return the configured search index."""
    search: SearchIndex = request.app.state.adapters.search
    return search


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": commit before the response is sent, so a failed commit is a 500, not a lie.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SearchDep = Annotated[SearchIndex, Depends(get_search)]


def client_ip(request: Request, settings: Settings) -> str | None:
    """Return the caller's address, believing X-Forwarded-For only from trusted proxies."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and peer in settings.trusted_proxies:
        return forwarded.split(",")[0].strip()[:64]
    return peer


def current_actor(request: Request, session: SessionDep, settings: SettingsDep) -> Actor:
    """Authenticate by bearer token or session cookie; cookie writes need the CSRF header."""
    ip = client_ip(request, settings)
    request_id = getattr(request.state, "request_id", None)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("Authorization ヘッダーは Bearer トークンで指定してください")
        actor = auth_service.resolve_token(
            session=session,
            token=token.strip(),
            kind="bearer",
            client_ip=ip,
            request_id=request_id,
        )
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise NotAuthenticated()
        actor = auth_service.resolve_token(
            session=session, token=cookie, kind="cookie", client_ip=ip, request_id=request_id
        )
        if request.method not in _SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not actor.csrf_token or not secrets.compare_digest(sent, actor.csrf_token):
                raise Forbidden("CSRF トークンが一致しません。画面を再読み込みしてください")
    user_id_var.set(str(actor.user_id))
    return actor


CurrentUser = Annotated[Actor, Depends(current_actor)]


def require_roles(*roles: RoleName) -> Callable[[Actor], Actor]:
    """Return a dependency that admits only the given roles."""
    allowed = frozenset(roles)

    def guard(actor: CurrentUser) -> Actor:
        if actor.role not in allowed:
            raise Forbidden()
        return actor

    return guard


AdminUser = Annotated[Actor, Depends(require_roles(RoleName.ADMIN))]
StaffUser = Annotated[
    Actor, Depends(require_roles(RoleName.OPERATOR, RoleName.SUPERVISOR, RoleName.ADMIN))
]
