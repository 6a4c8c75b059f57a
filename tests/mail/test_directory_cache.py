"""The guards' directory cache: fresh when cheap, stale-while-rebuilding when slow."""

from __future__ import annotations

import threading

import pytest

from support.mail import directory_cache
from support.tickets.models import Donor
from tests.conftest import Database
from tests.mail.outbound_util import load_small_world


def _add_donor(db: Database, donor_id: str) -> None:
    with db.factory() as s:
        s.add(Donor(id=donor_id, name="新規 寄附者", email=f"{donor_id}@example.jp"))
        s.commit()


def _lookup(db: Database) -> set[str]:
    with db.factory() as s:
        return set(directory_cache.directory(session=s).donors)


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(directory_cache, "_cache", {})


class TestDirectoryCache:
    def test_a_cheap_directory_sees_a_new_donor_at_once(self, database: Database) -> None:
        load_small_world(database.factory)
        first = _lookup(database)
        _add_donor(database, "don-new")
        assert _lookup(database) == first | {"don-new"}

    def test_a_slow_directory_answers_stale_while_one_thread_rebuilds(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(directory_cache, "SLOW_BUILD_SECONDS", 0.0)
        load_small_world(database.factory)
        first = _lookup(database)
        _add_donor(database, "don-late")
        assert _lookup(database) == first  # the old one answers at once
        for thread in threading.enumerate():
            if thread.name == "guards-directory":
                thread.join(timeout=60)
        assert _lookup(database) == first | {"don-late"}
