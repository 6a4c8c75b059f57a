"""Security of the console over HTTP: strict headers on its pages, login attempts per address."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from support.http import problem

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


class LoginThrottle:
    """Failed logins per client address in a sliding window (bounded memory, thread-safe)."""

    def __init__(
        self,
        *,
        limit: int = 20,
        window_seconds: float = 600.0,
        max_addresses: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Allow `limit` failures per address within `window_seconds`."""
        self.limit = limit
        self.window = window_seconds
        self.max_addresses = max_addresses
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        entries = self._failures.get(address)
        if entries is None:
            return deque()
        while entries and entries[0] <= now - self.window:
            entries.popleft()
        return entries

    def retry_after(self, address: str) -> int | None:
        """Return seconds to wait when the address is over the limit, else None."""
        with self._lock:
            now = self.clock()
            entries = self._recent(address, now)
            if len(entries) < self.limit:
                return None
            return max(1, math.ceil(entries[0] + self.window - now))

    def failed(self, address: str) -> None:
        """Count one failed login from the address."""
        with self._lock:
            now = self.clock()
            entries = self._recent(address, now)
            entries.append(now)
            self._failures[address] = entries
            self._failures.move_to_end(address)
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)


class LoginRateLimitMiddleware:
    """Answer 429 to an address with too many failed logins, on every login path."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        throttle: LoginThrottle,
        paths: frozenset[str],
        address_of: Callable[[Scope], str | None],
    ) -> None:
        """Watch POSTs to `paths`; a 401 or 423 answer counts as a failure."""
        self.app = app
        self.throttle = throttle
        self.paths = paths
        self.address_of = address_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse over-limit addresses before the password is even checked."""
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path") not in self.paths
        ):
            await self.app(scope, receive, send)
            return
        address = self.address_of(scope) or "unknown"
        wait = self.throttle.retry_after(address)
        if wait is not None:
            detail = f"ログインの失敗が続いています。{wait}秒後に再度お試しください"
            response: Response
            if str(scope.get("path", "")).startswith("/console/"):
                from support.console.web import environment

                page = environment().get_template("console/error.html.j2")
                html = page.render(
                    actor=None,
                    csrf_token="",
                    path="",
                    title="しばらくお待ちください",
                    detail=detail,
                )
                response = HTMLResponse(html, status_code=429)
            else:
                response = problem(429, code="too_many_logins", detail=detail)
            response.headers["Retry-After"] = str(wait)
            await response(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (401, 423):
                self.throttle.failed(address)
            await send(message)

        await self.app(scope, receive, watch)
