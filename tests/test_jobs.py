"""Background jobs: enqueued with their cause, run once, retried on failure."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from support.db import utcnow
from support.jobs import Job, JobRunner, enqueue
from support.worker import PERIODIC, PURGE_SESSIONS, build_runner, schedule_maintenance
from tests.conftest import Database


class TestJobRunner:
    def test_job_enqueued_in_a_rolled_back_transaction_never_runs(self, database: Database) -> None:
        ran: list[dict[str, Any]] = []
        runner = JobRunner(session_factory=database.factory)
        runner.register("note", lambda _s, payload: ran.append(payload))
        with database.factory() as s:
            enqueue(s, "note", {"n": 1})
            s.rollback()
        assert runner.run_until_idle() == 0
        assert ran == []

    def test_committed_job_runs_once(self, database: Database) -> None:
        ran: list[dict[str, Any]] = []
        runner = JobRunner(session_factory=database.factory)
        runner.register("note", lambda _s, payload: ran.append(payload))
        with database.factory() as s:
            enqueue(s, "note", {"n": 1})
            s.commit()
        assert runner.run_until_idle() == 1
        assert runner.run_until_idle() == 0
        assert ran == [{"n": 1}]

    def test_failing_job_is_retried_later_then_marked_failed(self, database: Database) -> None:
        def boom(_s: Session, _p: dict[str, Any]) -> None:
            raise RuntimeError("smtp down")

        runner = JobRunner(session_factory=database.factory)
        runner.register("send", boom)
        with database.factory() as s:
            job_id = enqueue(s, "send", max_attempts=2).id
            s.commit()
        assert runner.run_until_idle() == 1
        with database.factory() as s:
            job = s.get_one(Job, job_id)
            assert job.status == "queued" and job.run_at > utcnow()
            assert job.last_error == "RuntimeError: smtp down"
            s.execute(update(Job).values(run_at=utcnow() - timedelta(seconds=1)))
            s.commit()
        runner.run_until_idle()
        with database.factory() as s:
            assert s.get_one(Job, job_id).status == "failed"

    def test_handler_changes_roll_back_when_it_fails(self, database: Database) -> None:
        def half(session: Session, _p: dict[str, Any]) -> None:
            enqueue(session, "follow-up")
            raise ValueError("half way")

        runner = JobRunner(session_factory=database.factory)
        runner.register("half", half)
        with database.factory() as s:
            enqueue(s, "half", max_attempts=1)
            s.commit()
        runner.run_until_idle()
        with database.factory() as s:
            assert s.scalars(select(Job.kind)).all() == ["half"]

    def test_two_workers_never_run_the_same_job(self, database: Database) -> None:
        ran: list[int] = []
        lock = threading.Lock()

        def record(_s: Session, payload: dict[str, Any]) -> None:
            with lock:
                ran.append(int(payload["n"]))

        with database.factory() as s:
            for n in range(40):
                enqueue(s, "count", {"n": n})
            s.commit()
        runners = [JobRunner(session_factory=database.factory, worker_id=f"w{i}") for i in range(2)]
        for runner in runners:
            runner.register("count", record)
        threads = [threading.Thread(target=r.run_until_idle) for r in runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(ran) == list(range(40))

    def test_job_of_a_crashed_worker_is_picked_up_again(self, database: Database) -> None:
        ran: list[int] = []
        runner = JobRunner(session_factory=database.factory)
        runner.register("x", lambda _s, _p: ran.append(1))
        with database.factory() as s:
            job = enqueue(s, "x")
            s.flush()
            job.status = "running"
            job.locked_at = utcnow() - timedelta(hours=1)
            s.commit()
        assert runner.run_until_idle() == 1 and ran == [1]


class TestMaintenance:
    def test_periodic_job_is_scheduled_once_per_interval(self, database: Database) -> None:
        schedule_maintenance(database.factory)
        schedule_maintenance(database.factory)
        with database.factory() as s:
            assert sorted(s.scalars(select(Job.kind)).all()) == sorted(PERIODIC)
            assert PURGE_SESSIONS in PERIODIC
        assert build_runner(database.factory).run_until_idle() == len(PERIODIC)
        schedule_maintenance(database.factory)
        with database.factory() as s:
            assert len(s.scalars(select(Job.id)).all()) == len(PERIODIC)
