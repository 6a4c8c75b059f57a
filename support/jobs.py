"""Background work stored in the database, enqueued in the same transaction as its cause.

Any number of workers may run: a job is claimed by an atomic UPDATE guarded on its status,
so no job runs twice. A job that fails is retried with backoff up to `max_attempts`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from support.db import Base, UtcDateTime, utcnow

log = logging.getLogger(__name__)

JobHandler = Callable[[Session, dict[str, Any]], None]


class Job(Base):
    """A unit of background work."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(60), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    run_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    max_attempts: int = 5,
) -> Job:
    """Add a job to the caller's transaction; it becomes visible when that commits."""
    job = Job(
        kind=kind,
        payload=payload or {},
        run_at=run_at or utcnow(),
        max_attempts=max_attempts,
        status="queued",
        attempts=0,
    )
    session.add(job)
    session.flush()
    return job


def enqueue_many(
    session: Session, kind: str, payloads: Sequence[dict[str, Any]], *, max_attempts: int = 5
) -> None:
    """Add one job per payload to the caller's transaction, written with its next flush."""
    now = utcnow()
    session.add_all(
        Job(
            kind=kind,
            payload=payload,
            run_at=now,
            max_attempts=max_attempts,
            status="queued",
            attempts=0,
        )
        for payload in payloads
    )


@dataclass
class JobRunner:
    """Claim due jobs and run their handlers, one transaction per job."""

    session_factory: sessionmaker[Session]
    handlers: dict[str, JobHandler] = field(default_factory=dict)
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    stale_after: timedelta = timedelta(minutes=10)

    def register(self, kind: str, handler: JobHandler) -> None:
        """Route jobs of one kind to a handler."""
        self.handlers[kind] = handler

    def _claim(self) -> int | None:
        now = utcnow()
        with self.session_factory() as session:
            # A job left "running" by a crashed worker becomes claimable again.
            stale = now - self.stale_after
            candidates = session.scalars(
                select(Job.id)
                .where(
                    ((Job.status == "queued") & (Job.run_at <= now))
                    | ((Job.status == "running") & (Job.locked_at < stale))
                )
                .order_by(Job.run_at, Job.id)
                .limit(10)
            ).all()
            for job_id in candidates:
                claimed = session.execute(
                    update(Job)
                    .where(Job.id == job_id)
                    .where(
                        (Job.status == "queued")
                        | ((Job.status == "running") & (Job.locked_at < stale))
                    )
                    .values(
                        status="running",
                        locked_by=self.worker_id,
                        locked_at=now,
                        attempts=Job.attempts + 1,
                    )
                )
                session.commit()
                if claimed.rowcount == 1:  # type: ignore[attr-defined]
                    return job_id
        return None

    def run_once(self) -> bool:
        """Run one due job if there is one; return whether a job was run."""
        job_id = self._claim()
        if job_id is None:
            return False
        with self.session_factory() as session:
            job = session.get_one(Job, job_id)
            handler = self.handlers.get(job.kind)
            try:
                if handler is None:
                    raise LookupError(f"no handler for job kind {job.kind!r}")
                handler(session, dict(job.payload))
                job.status = "done"
                job.finished_at = utcnow()
                job.last_error = None
                session.commit()
                log.info("job done", extra={"job_id": job_id, "kind": job.kind})
            except Exception as exc:  # noqa: BLE001 - any failure is recorded and retried
                session.rollback()
                job = session.get_one(Job, job_id)
                job.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if job.attempts >= job.max_attempts:
                    job.status = "failed"
                    job.finished_at = utcnow()
                else:
                    job.status = "queued"
                    job.run_at = utcnow() + timedelta(seconds=min(3600, 2**job.attempts * 5))
                job.locked_by = None
                session.commit()
                log.warning(
                    "job failed",
                    extra={"job_id": job_id, "kind": job.kind, "attempts": job.attempts},
                )
        return True

    def run_until_idle(self, max_jobs: int = 10_000) -> int:
        """Run due jobs until none is left (bounded); return how many ran."""
        count = 0
        while count < max_jobs and self.run_once():
            count += 1
        return count

    def run_forever(self, stop: threading.Event, idle_seconds: float = 1.0) -> None:
        """Run jobs until `stop` is set, waiting `idle_seconds` when the queue is empty."""
        while not stop.is_set():
            if not self.run_once():
                stop.wait(idle_seconds)
