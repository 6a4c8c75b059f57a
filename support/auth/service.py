"""Use cases of authentication: users, login with lockout, sessions and bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from support.auth import audit, passwords
from support.auth.actor import Actor
from support.auth.models import AuthSession, RoleName, User
from support.db import utcnow
from support.errors import BadInput, Conflict, NotAuthenticated, NotFound, TokenExpired

TOKEN_BYTES = 32


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    *,
    session: Session,
    username: str,
    password: str,
    role: RoleName,
    display_name: str | None = None,
    municipality_id: str | None = None,
    supplier_id: str | None = None,
) -> User:
    """Create a user; municipality and supplier users must be bound to exactly their org."""
    username = username.strip()
    if not username or len(username) > 64 or not username.isprintable() or " " in username:
        raise BadInput("ユーザー名は空白を含まない64文字以内にしてください")
    if role is RoleName.MUNICIPALITY and (municipality_id is None or supplier_id is not None):
        raise BadInput("自治体担当者には自治体を1つだけ指定してください")
    if role is RoleName.SUPPLIER and (supplier_id is None or municipality_id is not None):
        raise BadInput("事業者ユーザーには事業者を1つだけ指定してください")
    if role not in (RoleName.MUNICIPALITY, RoleName.SUPPLIER) and (
        municipality_id is not None or supplier_id is not None
    ):
        raise BadInput("このロールには自治体・事業者を指定できません")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"ユーザー名 {username} は既に使われています")
    passwords.check_policy(password)
    user = User(
        username=username,
        display_name=display_name or username,
        role=str(role),
        municipality_id=municipality_id,
        supplier_id=supplier_id,
        password_hash=passwords.hash_password(password),
        active=True,
        failed_logins=0,
    )
    # The foreign keys decide whether the organisation exists; a savepoint keeps the
    # caller's transaction usable when they say no.
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError as exc:
        raise BadInput("指定された自治体または事業者は登録されていません") from exc
    return user


def list_users(*, session: Session) -> Sequence[User]:
    """Return every user, ordered by username."""
    return session.scalars(select(User).order_by(User.username)).all()


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """What a login attempt came to; the caller commits before acting on it."""

    user: User | None
    locked_until: datetime | None = None


def authenticate(
    *,
    session: Session,
    username: str,
    password: str,
    threshold: int,
    lockout: timedelta,
    client_ip: str | None = None,
    request_id: str | None = None,
) -> LoginOutcome:
    """Check a password, counting failures and locking the account after `threshold`."""
    now = utcnow()
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.active:
        passwords.verify_password(None, password)
        return LoginOutcome(user=None)
    who = Actor(
        user_id=user.id,
        username=user.username,
        role=RoleName(user.role),
        client_ip=client_ip,
        request_id=request_id,
    )
    if user.locked_until is not None and user.locked_until > now:
        audit.record(
            session,
            who,
            action="login_refused_locked",
            resource_type="user",
            resource_id=str(user.id),
        )
        return LoginOutcome(user=None, locked_until=user.locked_until)
    if not passwords.verify_password(user.password_hash, password):
        user.failed_logins += 1
        detail = {"failed_logins": user.failed_logins}
        if user.failed_logins >= threshold:
            user.locked_until = now + lockout
            user.failed_logins = 0
            audit.record(
                session,
                who,
                action="account_locked",
                resource_type="user",
                resource_id=str(user.id),
                detail=detail,
            )
            session.flush()
            return LoginOutcome(user=None, locked_until=user.locked_until)
        audit.record(
            session,
            who,
            action="login_failed",
            resource_type="user",
            resource_id=str(user.id),
            detail=detail,
        )
        session.flush()
        return LoginOutcome(user=None)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    audit.record(session, who, action="login", resource_type="user", resource_id=str(user.id))
    session.flush()
    return LoginOutcome(user=user)


def issue_session(
    *, session: Session, user: User, kind: str, ttl: timedelta
) -> tuple[str, AuthSession]:
    """Create a session (cookie) or bearer token; return the secret once, store its hash."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = AuthSession(
        token_hash=_digest(token),
        kind=kind,
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(24) if kind == "cookie" else None,
        expires_at=utcnow() + ttl,
    )
    session.add(row)
    session.flush()
    return token, row


def resolve_token(
    *,
    session: Session,
    token: str,
    kind: str,
    client_ip: str | None = None,
    request_id: str | None = None,
) -> Actor:
    """Return the actor a token stands for; raise when unknown, revoked or expired."""
    found = session.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_hash == _digest(token), AuthSession.kind == kind)
    ).one_or_none()
    if found is None:
        raise NotAuthenticated("認証情報が無効です")
    row, user = found
    if row.revoked_at is not None or not user.active:
        raise NotAuthenticated("認証情報が無効です")
    if row.expires_at <= utcnow():
        raise TokenExpired()
    return Actor(
        user_id=user.id,
        username=user.username,
        role=RoleName(user.role),
        municipality_id=user.municipality_id,
        supplier_id=user.supplier_id,
        client_ip=client_ip,
        request_id=request_id,
        session_kind=kind,
        csrf_token=row.csrf_token,
    )


def revoke_token(*, session: Session, token: str) -> None:
    """Revoke a session or token so that it can never be used again."""
    row = session.scalar(select(AuthSession).where(AuthSession.token_hash == _digest(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()


def purge_expired_sessions(*, session: Session, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete sessions that expired or were revoked more than `older_than` ago."""
    cutoff = utcnow() - older_than
    result = session.execute(
        delete(AuthSession).where(
            (AuthSession.expires_at < cutoff) | (AuthSession.revoked_at < cutoff)
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def get_user(*, session: Session, user_id: int) -> User:
    """Return a user or raise NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user
