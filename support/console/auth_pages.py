"""Console login and logout pages (the session and lockout are the auth domain's)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from fastapi import APIRouter, Request, Response

from support.auth import audit
from support.auth import service as auth_service
from support.auth.actor import Actor
from support.console.web import ConsoleActor, ConsoleRoute, checked_form, read_form, render
from support.console.web import see_other as redirect
from support.deps import CSRF_COOKIE, SESSION_COOKIE, SessionDep, SettingsDep, client_ip
from support.errors import Forbidden

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
LOGIN_CSRF_COOKIE = "support_login_csrf"
LOGIN_PATH = "/console/login"


def home_of(actor: Actor) -> str:
    """Return where a user lands after logging in."""
    if actor.is_staff:
        return "/console/inbox"
    return "/console/complaints"


def _safe_next(value: str) -> str | None:
    # Only our own console paths: never another host, never a scheme-relative URL.
    if value.startswith("/console/") and not value.startswith("//") and "\\" not in value:
        return value[:500]
    return None


def _login_page(
    request: Request, settings_secure: bool, *, error: str = "", username: str = "", status: int
) -> Response:
    token = secrets.token_urlsafe(24)
    page = render(
        request,
        "login.html.j2",
        {
            "login_csrf": token,
            "next": _safe_next(request.query_params.get("next", "")) or "",
            "error": error,
            "username": username,
        },
        status=status,
    )
    page.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        secure=settings_secure,
        samesite="strict",
        path=LOGIN_PATH,
        max_age=3600,
    )
    return page


@router.get("")
def console_root() -> Response:
    """Send the visitor to the queue (or the login page when not logged in)."""
    return redirect("/console/inbox")


@router.get("/login")
def login_form(request: Request, settings: SettingsDep) -> Response:
    """Show the login form."""
    return _login_page(request, settings.cookie_secure, status=200)


@router.post("/login")
async def login_submit(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Check the password (with the account lockout), then start a console session."""
    fields = await read_form(request)
    sent = (fields.get("login_csrf") or [""])[0]
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not secrets.compare_digest(sent, expected):
        raise Forbidden("画面の有効期限が切れました。もう一度ログインしてください")
    username = (fields.get("username") or [""])[0].strip()[:64]
    password = (fields.get("password") or [""])[0][:200]
    outcome = auth_service.authenticate(
        session=session,
        username=username,
        password=password,
        threshold=settings.lockout_threshold,
        lockout=timedelta(minutes=settings.lockout_minutes),
        client_ip=client_ip(request, settings),
        request_id=getattr(request.state, "request_id", None),
    )
    if outcome.user is None:
        session.commit()  # the failure count and its audit event must survive the refusal
        if outcome.locked_until is not None:
            error = "ログイン失敗が続いたため、アカウントを一時的にロックしました"
            return _login_page(
                request, settings.cookie_secure, error=error, username=username, status=423
            )
        error = "ユーザー名またはパスワードが違います"
        return _login_page(
            request, settings.cookie_secure, error=error, username=username, status=401
        )
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        auth_service.revoke_token(session=session, token=previous)
    token, row = auth_service.issue_session(
        session=session,
        user=outcome.user,
        kind="cookie",
        ttl=timedelta(minutes=settings.session_ttl_minutes),
    )
    actor = auth_service.resolve_token(session=session, token=token, kind="cookie")
    target = _safe_next((fields.get("next") or [""])[0]) or home_of(actor)
    response = redirect(target)
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
    response.set_cookie(
        CSRF_COOKIE,
        row.csrf_token or "",
        max_age=max_age,
        secure=settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


@router.post("/logout")
async def logout(request: Request, actor: ConsoleActor, session: SessionDep) -> Response:
    """End the console session."""
    await checked_form(request, actor)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth_service.revoke_token(session=session, token=token)
    audit.record(
        session, actor, action="logout", resource_type="user", resource_id=str(actor.user_id)
    )
    response = redirect(LOGIN_PATH)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


ROUTERS = (router,)
