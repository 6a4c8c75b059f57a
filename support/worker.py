"""The background worker: which jobs exist and which run on a schedule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from support.auth import service as auth_service
from support.db import transaction, utcnow
from support.jobs import Job, JobRunner, enqueue

PURGE_SESSIONS = "auth.purge_expired_sessions"
# Periodic jobs: kind -> interval. A kind is enqueued when no run of it is queued or recent.
PERIODIC: dict[str, timedelta] = {PURGE_SESSIONS: timedelta(hours=1)}


def _purge_sessions(session: Session, _payload: dict[str, Any]) -> None:
    auth_service.purge_expired_sessions(session=session)


def build_runner(factory: sessionmaker[Session]) -> JobRunner:
    """Return a job runner with every handler registered."""
    runner = JobRunner(session_factory=factory)
    runner.register(PURGE_SESSIONS, _purge_sessions)
    return runner


def schedule_maintenance(factory: sessionmaker[Session]) -> None:
    """Enqueue each periodic job whose previous run is older than its interval."""
    now = utcnow()
    with transaction(factory) as session:
        for kind, interval in PERIODIC.items():
            recent = session.scalar(
                select(Job.id)
                .where(
                    Job.kind == kind,
                    (Job.status.in_(("queued", "running"))) | (Job.created_at > now - interval),
                )
                .limit(1)
            )
            if recent is None:
                enqueue(session, kind)
