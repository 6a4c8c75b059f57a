"""The web console: server-rendered Japanese pages for operators, supervisors and partners."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from support.config import Settings
from support.console import (
    approval_pages,
    auth_pages,
    complaint_pages,
    dashboard,
    inbox_pages,
    ivr_pages,
    kb_pages,
    org_pages,
)
from support.console.security import ConsoleHeadersMiddleware, LoginRateLimitMiddleware
from support.console.views import CountCache
from support.console.web import STATIC
from support.ratelimit import TokenBucketLimiter

LOGIN_PATHS = frozenset({"/console/login", "/api/auth/login", "/api/auth/token"})


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the console's pages, static files and security middleware on the app."""
    app.state.console_counts = CountCache()
    # A burst of `login_rate_limit` attempts per address, refilled over the window: enough for
    # people who mistype, not for guessing passwords (the per-account lockout stops the rest).
    app.state.login_limiter = TokenBucketLimiter(
        rate_per_second=settings.login_rate_limit / settings.login_rate_window_seconds,
        burst=settings.login_rate_limit,
    )
    trusted = set(settings.trusted_proxies)

    def address_of(scope: Scope) -> str | None:
        peer = scope.get("client")
        host: str | None = str(peer[0]) if peer else None
        if host in trusted:
            for key, value in scope.get("headers", []):
                if key == b"x-forwarded-for":
                    return str(value.decode("latin-1")).split(",")[0].strip()[:64]
        return host

    app.add_middleware(
        LoginRateLimitMiddleware,
        limiter=app.state.login_limiter,
        paths=LOGIN_PATHS,
        address_of=address_of,
    )
    app.add_middleware(ConsoleHeadersMiddleware, hsts=settings.cookie_secure)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    pages = (auth_pages, inbox_pages, approval_pages, complaint_pages, dashboard, kb_pages)
    for module in (*pages, ivr_pages, org_pages):
        for router in module.ROUTERS:
            app.include_router(router)
