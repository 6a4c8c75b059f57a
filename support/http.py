"""HTTP plumbing: request ids, body size limit, access log, and JSON problem responses."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from support.errors import SupportError
from support.logs import request_id_var, user_id_var

log = logging.getLogger("support.http")
access_log = logging.getLogger("support.access")

PROBLEM_TYPE = "application/problem+json"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_STATUS_TITLES = {
    400: "リクエストの形式が正しくありません",
    401: "ログインが必要です",
    403: "この操作を行う権限がありません",
    404: "見つかりません",
    405: "このメソッドは使えません",
    413: "リクエストが大きすぎます",
    415: "この形式のデータは受け付けられません",
    422: "入力内容に誤りがあります",
    429: "リクエストが多すぎます。しばらくしてから再度お試しください",
    500: "サーバー内部でエラーが発生しました",
}


def problem(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    code: str | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build an RFC 9457 problem response."""
    body: dict[str, Any] = {
        "type": f"about:blank#{code}" if code else "about:blank",
        "title": title or _STATUS_TITLES.get(status, "エラー"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if code:
        body["code"] = code
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE)


def _field_errors(exc: RequestValidationError) -> tuple[int, list[dict[str, Any]]]:
    errors: list[dict[str, Any]] = []
    status = 422
    for err in exc.errors():
        kind = str(err.get("type", ""))
        if kind in ("json_invalid", "json_type"):
            status = 400
        # Never echo the rejected input back: it may hold personal data.
        errors.append(
            {"loc": [str(p) for p in err.get("loc", ())], "type": kind, "msg": err.get("msg")}
        )
    return status, errors


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, expected or not, a JSON problem response."""

    @app.exception_handler(SupportError)
    async def _support_error(_request: Request, exc: SupportError) -> JSONResponse:
        response = problem(
            exc.status, title=exc.title, detail=exc.detail, code=exc.code, **exc.extra
        )
        if "retry_after" in exc.extra:
            response.headers["Retry-After"] = str(exc.extra["retry_after"])
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        status, errors = _field_errors(exc)
        code = "malformed_json" if status == 400 else "invalid_input"
        return problem(status, code=code, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail: str | None = exc.detail if isinstance(exc.detail, str) else None
        if detail in ("Not Found", "Method Not Allowed"):
            detail = None
        response = problem(exc.status_code, detail=detail, code=f"http_{exc.status_code}")
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem(500, code="internal_error")


class RequestContextMiddleware:
    """Give every request an id (header X-Request-ID), log it, and cap the body size."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        rid_token = request_id_var.set(request_id)
        uid_token = user_id_var.set(None)
        started = time.perf_counter()
        status_holder = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            replay = await self._read_limited(scope, receive, headers, send_with_id)
            if replay is not None:
                await self.app(scope, replay, send_with_id)
        finally:
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    # The path only: query strings are never logged.
                    "path": scope["path"],
                    "status": status_holder[0],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(rid_token)
            user_id_var.reset(uid_token)

    async def _read_limited(
        self, scope: Scope, receive: Receive, headers: dict[str, str], send: Send
    ) -> Receive | None:
        """Read the whole body up to the limit; answer 413 and return None past it."""
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, send)
            return None
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") and not declared:
            return receive
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, send)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    async def _too_large(self, scope: Scope, send: Send) -> None:
        response = problem(
            413,
            code="payload_too_large",
            detail=f"リクエスト本文は {self.max_body_bytes} バイト以内にしてください",
        )
        await response(scope, _drain, send)


async def _drain() -> Message:
    return {"type": "http.disconnect"}
