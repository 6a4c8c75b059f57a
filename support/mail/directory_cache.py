"""The send guards' directory, kept per process and rebuilt when donors or orders change.

Building it reads every donor and order (about a minute with 100,000 donors and 300,000
orders on a busy machine), so a request must not wait for that each time the data moves.
When the last build was cheap, a change is picked up at once; when it was slow, the old
directory keeps answering while one background thread rebuilds it, for at most MAX_STALE.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from support.mail.directory import load_directory
from support.mail.guards import Directory
from support.tickets import channels

log = logging.getLogger(__name__)

SLOW_BUILD_SECONDS = 2.0
MAX_STALE_SECONDS = 900.0

_Key = tuple[str, frozenset[str]]


@dataclass
class _Entry:
    fingerprint: tuple[object, ...]
    directory: Directory
    built_at: float
    build_seconds: float
    refreshing: bool = False


_lock = threading.Lock()
_cache: dict[_Key, _Entry] = {}


def _build(key: _Key, session: Session, fingerprint: tuple[object, ...]) -> Directory:
    started = time.monotonic()
    built = load_directory(session=session, internal_domains=key[1])
    took = time.monotonic() - started
    with _lock:
        _cache[key] = _Entry(fingerprint, built, started, took)
    log.info("guards directory built", extra={"seconds": round(took, 2)})
    return built


def _refresh(key: _Key, engine: Engine) -> None:
    try:
        with Session(engine) as session:
            _build(key, session, channels.directory_fingerprint(session=session))
    except Exception:  # noqa: BLE001 - the old directory stays; the next call tries again
        log.exception("guards directory refresh failed")
        with _lock:
            entry = _cache.get(key)
            if entry is not None:
                entry.refreshing = False


def directory(*, session: Session, internal_domains: Iterable[str] = ()) -> Directory:
    """Return the guards' directory of every donor, order, municipality and supplier."""
    engine = session.get_bind().engine
    key: _Key = (str(engine.url), frozenset(d.lower() for d in internal_domains))
    fingerprint = channels.directory_fingerprint(session=session)
    with _lock:
        entry = _cache.get(key)
        if entry is not None and entry.fingerprint == fingerprint:
            return entry.directory
        if (
            entry is not None
            and entry.build_seconds >= SLOW_BUILD_SECONDS
            and time.monotonic() - entry.built_at < MAX_STALE_SECONDS
        ):
            if not entry.refreshing:
                entry.refreshing = True
                threading.Thread(
                    target=_refresh, args=(key, engine), name="guards-directory", daemon=True
                ).start()
            return entry.directory
    return _build(key, session, fingerprint)
