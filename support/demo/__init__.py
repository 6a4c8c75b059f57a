"""The bundled demo world and demo users, for `support demo`."""

from __future__ import annotations

import json
import os
import secrets
from importlib import resources
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.auth import service as auth_service
from support.auth.models import RoleName, User

DEMO_USERS: tuple[tuple[str, str, RoleName, str | None, str | None], ...] = (
    ("operator", "佐藤 オペレーター", RoleName.OPERATOR, None, None),
    ("supervisor", "鈴木 スーパーバイザー", RoleName.SUPERVISOR, None, None),
    ("admin", "高橋 管理者", RoleName.ADMIN, None, None),
    ("ise", "伊勢市 ふるさと納税担当", RoleName.MUNICIPALITY, "ise", None),
    ("yokohama", "横浜市 ふるさと納税担当", RoleName.MUNICIPALITY, "yokohama", None),
    ("sup-01", "五十鈴川ファーム 出荷担当", RoleName.SUPPLIER, None, "sup-01"),
)


def bundled_world_path() -> Path:
    """Return the path of the demo world file shipped in the package."""
    return Path(str(resources.files("support.demo").joinpath("world.json")))


def bundled_faq_path() -> Path:
    """Return the path of the demo FAQ (`support kb import` format) shipped in the package."""
    return Path(str(resources.files("support.demo").joinpath("faq.jsonl")))


def ensure_demo_users(*, session: Session, credentials_file: Path) -> dict[str, str]:
    """Create the demo users that are missing; return every demo login known to the file."""
    known: dict[str, str] = {}
    if credentials_file.exists():
        known = json.loads(credentials_file.read_text(encoding="utf-8"))
    for username, display, role, municipality, supplier in DEMO_USERS:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            continue
        password = secrets.token_urlsafe(12)
        auth_service.create_user(
            session=session,
            username=username,
            password=password,
            role=role,
            display_name=display,
            municipality_id=municipality,
            supplier_id=supplier,
        )
        known[username] = password
    credentials_file.parent.mkdir(parents=True, exist_ok=True)
    # Written owner-only: these are working logins, however local.
    fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(known, out, ensure_ascii=False, indent=1)
    return known
