"""Security of the console over HTTP: strict headers on its pages, login attempts per address."""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from support.http import problem
from support.ratelimit import TokenBucketLimiter, retry_after_header

# No inline script or style anywhere, nothing from another origin, no framing of the console.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# A received HTML mail: shown in a sandboxed frame of the console, nothing may run or load.
MAIL_FRAME_CSP = "default-src 'none'; img-src data:; sandbox; frame-ancestors 'self'"
_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
MAIL_FRAME_SUFFIX = "/html"


class ConsoleHeadersMiddleware:
    """Add CSP and the other security headers to every response under /console."""

    def __init__(self, app: ASGIApp, *, prefix: str = "/console", hsts: bool = True) -> None:
        """Wrap the app; HSTS only when cookies are secure (HTTPS deployments)."""
        self.app = app
        self.prefix = prefix
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on and decorate the response start."""
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == self.prefix or path.startswith("/console/")):
            await self.app(scope, receive, send)
            return
        is_frame = path.startswith("/console/messages/") and path.endswith(MAIL_FRAME_SUFFIX)
        static = path.startswith("/console/static/")

        async def decorated(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra: list[tuple[bytes, bytes]] = [h for h in _COMMON if h[0] not in names]
                csp = MAIL_FRAME_CSP if is_frame else CONSOLE_CSP
                if b"content-security-policy" not in names:
                    extra.append((b"content-security-policy", csp.encode()))
                extra.append((b"x-frame-options", b"SAMEORIGIN" if is_frame else b"DENY"))
                if not static and b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                if self.hsts:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, decorated)


class LoginRateLimitMiddleware:
    """Answer 429 to an address with too many failed logins, on every login path."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: TokenBucketLimiter,
        paths: frozenset[str],
        address_of: Callable[[Scope], str | None],
    ) -> None:
        """Limit POSTs to `paths` per client address with the token bucket."""
        self.app = app
        self.limiter = limiter
        self.paths = paths
        self.address_of = address_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an over-limit address before its password is even checked."""
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path") not in self.paths
        ):
            await self.app(scope, receive, send)
            return
        address = self.address_of(scope) or "unknown"
        wait = self.limiter.acquire(address)
        if wait > 0:
            seconds = retry_after_header(wait)
            detail = f"ログインの試行が多すぎます。{seconds}秒後に再度お試しください"
            response: Response
            if str(scope.get("path", "")).startswith("/console/"):
                from support.console.web import environment

                page = environment().get_template("console/error.html.j2")
                html = page.render(
                    actor=None,
                    csrf_token="",  # an error page without a form, not a password  # nosec B106
                    path="",
                    title="しばらくお待ちください",
                    detail=detail,
                )
                response = HTMLResponse(html, status_code=429)
            else:
                response = problem(429, code="too_many_logins", detail=detail)
            response.headers["Retry-After"] = seconds
            await response(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        # Only failed attempts count: a whole office behind one address may log in at nine.
        if 0 < status < 400:
            self.limiter.refund(address)
