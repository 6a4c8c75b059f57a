"""Password hashing with Argon2id and the password policy."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from support.errors import BadInput

MIN_LENGTH = 12
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@cache
def _dummy_hash() -> str:
    # Verified against when the username is unknown, so that both paths cost the same time.
    return _hasher.hash("support-dummy-password-for-timing")


def check_policy(password: str) -> None:
    """Raise BadInput when the password is too weak to accept."""
    if len(password) < MIN_LENGTH:
        raise BadInput(f"パスワードは{MIN_LENGTH}文字以上にしてください")
    if len(set(password)) < 5:
        raise BadInput("パスワードに同じ文字ばかりを使わないでください")


def hash_password(password: str) -> str:
    """Return an Argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Return True when the password matches; a missing hash still costs one verification."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Return True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)
