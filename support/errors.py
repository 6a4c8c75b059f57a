"""Errors that know their HTTP status; one handler turns them into problem responses."""

from __future__ import annotations

from typing import Any, ClassVar


class SupportError(Exception):
    """Base of every expected error; carries its HTTP status and a Japanese title."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "リクエストを処理できません"
    code: ClassVar[str] = "bad_request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class BadInput(SupportError):
    """The input is well-formed JSON but makes no sense."""

    status = 422
    title = "入力内容に誤りがあります"
    code = "invalid_input"


class NotAuthenticated(SupportError):
    """No valid session or token."""

    status = 401
    title = "ログインが必要です"
    code = "not_authenticated"


class TokenExpired(NotAuthenticated):
    """The session or bearer token has expired."""

    title = "ログインの有効期限が切れました。再度ログインしてください"
    code = "token_expired"


class AccountLocked(SupportError):
    """Too many failed logins."""

    status = 423
    title = "ログイン失敗が続いたため、アカウントを一時的にロックしました"
    code = "account_locked"


class Forbidden(SupportError):
    """Authenticated but the role may not do this."""

    status = 403
    title = "この操作を行う権限がありません"
    code = "forbidden"


class NotFound(SupportError):
    """Unknown id, or an id outside the caller's scope (never say which)."""

    status = 404
    title = "見つかりません"
    code = "not_found"


class Conflict(SupportError):
    """The change clashes with the current state."""

    status = 409
    title = "現在の状態と矛盾するため処理できません"
    code = "conflict"


class RateLimited(SupportError):
    """Too many requests from one client; `retry_after` seconds go into Retry-After."""

    status = 429
    title = "リクエストが多すぎます。しばらくしてから再度お試しください"
    code = "rate_limited"


class PayloadTooLarge(SupportError):
    """Request body over the configured limit."""

    status = 413
    title = "リクエストが大きすぎます"
    code = "payload_too_large"


class InvalidWorldFile(SupportError):
    """A demo/world import file that cannot be loaded."""

    status = 422
    title = "データファイルを読み込めません"
    code = "invalid_world_file"
