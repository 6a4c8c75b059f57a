"""Integration tests for the throwaway PostgreSQL test harness."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest
import sqlalchemy
from sqlalchemy.exc import OperationalError

from tests.services.netutil import free_port, wait_for_port, wait_until
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    """Share one server across the module: starting a cluster costs about a second."""
    with PostgresServer() as pg:
        yield pg


def _scalar(url: str, statement: str) -> object:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sqlalchemy.text(statement)).scalar_one()
    finally:
        engine.dispose()


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_server_accepts_connections_on_loopback(server: PostgresServer) -> None:
    assert server.url.startswith(f"postgresql+psycopg://support:{server.password}@127.0.0.1:")
    assert server.url.endswith(f":{server.port}/postgres")
    assert _scalar(server.url, "select 1") == 1


def test_server_runs_as_an_unprivileged_user(server: PostgresServer) -> None:
    assert _scalar(server.url, "select current_setting('data_directory')") == str(server.data_dir)
    # postgres refuses to run as root, so a root test run must hand the cluster to another user.
    with open(f"/proc/{server.pid}/status") as status:
        uids = next(line for line in status if line.startswith("Uid:")).split()[1:]
    assert "0" not in uids
    assert os.stat(server.data_dir).st_uid == int(uids[0])


def test_created_database_is_empty_and_stores_rows(server: PostgresServer) -> None:
    url = server.create_database("harness_roundtrip")
    assert url == server.url_for("harness_roundtrip")
    tables = "select count(*) from information_schema.tables where table_schema = 'public'"
    assert _scalar(url, tables) == 0

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("create table note (id serial primary key, body text)"))
            conn.execute(
                sqlalchemy.text("insert into note (body) values (:body)"),
                [{"body": "ふるさと納税"}, {"body": "second"}],
            )
        with engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text("select id, body from note order by id")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [(1, "ふるさと納税"), (2, "second")]


def test_create_database_without_a_name_makes_distinct_databases(server: PostgresServer) -> None:
    first, second = server.create_database(), server.create_database()
    assert first != second
    assert _scalar(first, "select current_database()") != _scalar(
        second, "select current_database()"
    )


def test_server_uses_utf8_encoding(server: PostgresServer) -> None:
    assert _scalar(server.url, "show server_encoding") == "UTF8"


def test_server_rejects_a_wrong_password_over_tcp(server: PostgresServer) -> None:
    bad_url = server.url.replace(server.password, "not-the-password")
    with pytest.raises(OperationalError, match="password authentication failed"):
        _scalar(bad_url, "select 1")


def test_server_log_goes_to_a_file_in_its_temp_dir(server: PostgresServer) -> None:
    assert server.base_dir is not None
    assert server.log_path.parent == server.base_dir
    assert "database system is ready to accept connections" in server.log_path.read_text()


def test_stopped_server_leaves_no_process_and_refuses_connections() -> None:
    pg = PostgresServer()
    started = time.monotonic()
    pg.start()
    startup_seconds = time.monotonic() - started
    pid, port, base_dir = pg.pid, pg.port, pg.base_dir
    assert base_dir is not None and base_dir.is_dir()
    assert _pid_exists(pid)
    # Startup is bounded by polling, not sleeps; keep an eye on regressions in CI output.
    print(f"postgres startup took {startup_seconds:.2f}s")

    pg.stop()

    assert not _pid_exists(pid)
    assert not base_dir.exists()
    assert not pg.running
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass
    pg.stop()  # stopping twice is harmless


def test_server_stops_even_while_clients_are_connected() -> None:
    with PostgresServer() as pg:
        engine = sqlalchemy.create_engine(pg.url)
        conn = engine.connect()
        conn.execute(sqlalchemy.text("select 1"))
        pid = pg.pid
    assert not _pid_exists(pid)
    conn.invalidate()
    engine.dispose()


def test_free_port_returns_a_bindable_loopback_port() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_wait_until_times_out_naming_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="the moon to turn blue"):
        wait_until(lambda: False, 0.2, interval=0.05, what="the moon to turn blue")
    assert time.monotonic() - started < 1.0


def test_wait_until_returns_once_the_predicate_holds() -> None:
    calls: list[int] = []

    def third_time_lucky() -> bool:
        calls.append(1)
        return len(calls) >= 3

    wait_until(third_time_lucky, 5, interval=0.01, what="the third call")
    assert len(calls) == 3


def test_wait_for_port_sees_a_listening_socket_and_times_out_on_a_closed_one() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        wait_for_port("127.0.0.1", listener.getsockname()[1], timeout=2)
    with pytest.raises(TimeoutError, match="127.0.0.1"):
        wait_for_port("127.0.0.1", free_port(), timeout=0.2)
