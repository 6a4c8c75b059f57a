"""Plumbing of the web console: templates, the logged-in actor, forms with CSRF, HTML errors."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from support.auth import service as auth_service
from support.auth.actor import Actor
from support.auth.models import RoleName
from support.calendar import JST
from support.deps import SESSION_COOKIE, SessionDep, SettingsDep, client_ip
from support.errors import BadInput, Forbidden, NotAuthenticated, SupportError
from support.http import problem
from support.logs import user_id_var

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
STATIC = TEMPLATES / "console" / "static"
FORM_LIMIT = 400_000
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
ROLE_LABELS = {
    "operator": "オペレーター",
    "supervisor": "スーパーバイザー",
    "admin": "管理者",
    "municipality": "自治体担当者",
    "supplier": "返礼品提供事業者",
}


def _jst(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "—" if value is None else value.astimezone(JST).strftime(fmt)


@cache
def environment() -> Environment:
    """Return the console's template environment (HTML always escaped)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["jst"] = _jst
    env.globals["role_labels"] = ROLE_LABELS
    return env


def render(
    request: Request, name: str, context: Mapping[str, Any], *, status: int = 200
) -> HTMLResponse:
    """Render a console page; the actor (if any) and its CSRF token are always available."""
    actor: Actor | None = getattr(request.state, "console_actor", None)
    html = (
        environment()
        .get_template(f"console/{name}")
        .render(
            actor=actor,
            csrf_token=actor.csrf_token if actor else "",
            path=request.url.path,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status)


class ConsoleRoute(APIRoute):
    """A console route: errors become Japanese HTML pages, a missing login a redirect."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler so that expected errors render as pages."""
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except NotAuthenticated as exc:
                if request.method == "GET":
                    target = quote(request.url.path, safe="/")
                    return RedirectResponse(f"/console/login?next={target}", status_code=303)
                return _error_page(request, exc.status, exc.title, exc.detail)
            except SupportError as exc:
                return _error_page(request, exc.status, exc.title, exc.detail)
            except RequestValidationError:
                return _error_page(request, 422, "入力内容に誤りがあります", None)

        return handler


def _error_page(request: Request, status: int, title: str, detail: str | None) -> Response:
    wants_json = "application/json" in request.headers.get("accept", "")
    if wants_json:
        return problem(status, title=title, detail=detail)
    return render(request, "error.html.j2", {"title": title, "detail": detail}, status=status)


def console_actor(request: Request, session: SessionDep, settings: SettingsDep) -> Actor:
    """Return the actor of the console session cookie; a write must carry its CSRF token."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated()
    actor = auth_service.resolve_token(
        session=session,
        token=cookie,
        kind="cookie",
        client_ip=client_ip(request, settings),
        request_id=getattr(request.state, "request_id", None),
    )
    request.state.console_actor = actor
    user_id_var.set(str(actor.user_id))
    return actor


ConsoleActor = Annotated[Actor, Depends(console_actor)]


def require(*roles: RoleName) -> Callable[[Actor], Actor]:
    """Return a dependency admitting only the given roles."""
    allowed = frozenset(roles)

    def guard(actor: ConsoleActor) -> Actor:
        if actor.role not in allowed:
            raise Forbidden()
        return actor

    return guard


StaffActor = Annotated[
    Actor, Depends(require(RoleName.OPERATOR, RoleName.SUPERVISOR, RoleName.ADMIN))
]
SupervisorActor = Annotated[Actor, Depends(require(RoleName.SUPERVISOR, RoleName.ADMIN))]


def check_csrf(actor: Actor, sent: str | None) -> None:
    """Refuse a write whose token is not the session's own."""
    if not actor.csrf_token or not sent or not secrets.compare_digest(sent, actor.csrf_token):
        raise Forbidden("CSRF トークンが一致しません。画面を再読み込みしてください")


async def read_form(request: Request) -> dict[str, list[str]]:
    """Parse an url-encoded form body (no multipart: the console uploads nothing)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadInput("フォームの形式が正しくありません")
    body = await request.body()
    if len(body) > FORM_LIMIT:
        raise BadInput("入力が長すぎます")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise BadInput("フォームの文字コードが正しくありません") from exc
    form: dict[str, list[str]] = {}
    for key, value in pairs:
        form.setdefault(key, []).append(value)
    return form


class Form:
    """A parsed form whose CSRF token has been checked."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        """Keep the fields."""
        self.fields = fields

    def get(self, name: str, default: str = "") -> str:
        """Return the first value of a field, stripped, or the default."""
        values = self.fields.get(name)
        return values[0].strip() if values else default

    def raw(self, name: str) -> str:
        """Return the first value of a field exactly as typed (a mail body keeps its spaces)."""
        values = self.fields.get(name)
        return values[0].replace("\r\n", "\n") if values else ""

    def all(self, name: str) -> list[str]:
        """Return every value of a field."""
        return [v.strip() for v in self.fields.get(name, []) if v.strip()]

    def int(self, name: str) -> int | None:
        """Return a field as a positive integer, None when empty; anything else is bad input."""
        value = self.get(name)
        if not value:
            return None
        if not value.isdigit() or len(value) > 10:
            raise BadInput(f"{name} は数値で指定してください")
        return int(value)


async def checked_form(request: Request, actor: Actor) -> Form:
    """Read a form and check its CSRF token against the session's."""
    fields = await read_form(request)
    sent = (fields.get(CSRF_FIELD) or [""])[0]
    check_csrf(actor, sent)
    return Form(fields)


def check_json_csrf(request: Request, actor: Actor) -> None:
    """Check the CSRF header of a fetch request that changes something."""
    if request.method not in _SAFE:
        check_csrf(actor, request.headers.get(CSRF_HEADER))


def see_other(url: str) -> RedirectResponse:
    """Redirect after a successful POST (the page can be reloaded without resubmitting)."""
    return RedirectResponse(url, status_code=303)


def json_ok(data: Any, status: int = 200) -> JSONResponse:
    """Return a JSON answer for the console's scripts."""
    return JSONResponse(data, status_code=status, headers={"Cache-Control": "no-store"})
