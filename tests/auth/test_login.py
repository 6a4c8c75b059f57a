"""Login, bearer tokens, console sessions with CSRF, lockout and expiry."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from support.auth.models import AuditEvent, AuthSession, RoleName, User
from support.db import utcnow
from tests.conftest import Database
from tests.factories import bearer, load_demo_world, make_user


class TestBearerTokens:
    def test_token_opens_the_api(self, client: TestClient, database: Database) -> None:
        user, password = make_user(database.factory, RoleName.OPERATOR)
        headers = bearer(client, user.username, password)
        me = client.get("/api/auth/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["username"] == user.username
        assert "password_hash" not in me.json()

    def test_wrong_password_is_401_without_saying_which_part(
        self, client: TestClient, database: Database
    ) -> None:
        user, _ = make_user(database.factory, RoleName.OPERATOR)
        wrong = client.post(
            "/api/auth/token", json={"username": user.username, "password": "not-the-password"}
        )
        unknown = client.post(
            "/api/auth/token", json={"username": "nobody-here", "password": "not-the-password"}
        )
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json()["detail"] == unknown.json()["detail"]
        assert wrong.headers["content-type"].startswith("application/problem+json")

    def test_no_credentials_is_401(self, client: TestClient) -> None:
        response = client.get("/api/donors")
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"

    def test_garbage_token_is_401(self, client: TestClient) -> None:
        response = client.get("/api/donors", headers={"Authorization": "Bearer garbage"})
        assert response.status_code == 401

    def test_basic_scheme_is_refused(self, client: TestClient) -> None:
        response = client.get("/api/donors", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert response.status_code == 401

    def test_expired_token_is_401_with_its_own_code(
        self, client: TestClient, database: Database
    ) -> None:
        user, password = make_user(database.factory, RoleName.OPERATOR)
        headers = bearer(client, user.username, password)
        with database.factory() as s:
            s.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
            s.commit()
        response = client.get("/api/auth/me", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "token_expired"

    def test_logout_revokes_the_token(self, client: TestClient, database: Database) -> None:
        user, password = make_user(database.factory, RoleName.OPERATOR)
        headers = bearer(client, user.username, password)
        assert client.post("/api/auth/logout", headers=headers).status_code == 204
        assert client.get("/api/auth/me", headers=headers).status_code == 401

    def test_only_a_hash_of_the_token_is_stored(
        self, client: TestClient, database: Database
    ) -> None:
        user, password = make_user(database.factory, RoleName.OPERATOR)
        token = bearer(client, user.username, password)["Authorization"].split()[1]
        with database.factory() as s:
            stored = s.scalars(select(AuthSession.token_hash)).all()
        assert token not in stored and len(stored) == 1


class TestLockout:
    def test_account_locks_after_repeated_failures(
        self, client: TestClient, database: Database
    ) -> None:
        user, password = make_user(database.factory, RoleName.OPERATOR)
        bad = {"username": user.username, "password": "wrong-password-123"}
        statuses = [client.post("/api/auth/token", json=bad).status_code for _ in range(5)]
        assert statuses == [401, 401, 401, 401, 423]
        # Even the right password is refused while locked.
        good = client.post(
            "/api/auth/token", json={"username": user.username, "password": password}
        )
        assert good.status_code == 423
        assert good.json()["code"] == "account_locked"
        with database.factory() as s:
            actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions.count("login_failed") == 4
        assert "account_locked" in actions and "login_refused_locked" in actions

    def test_lock_expires(self, client: TestClient, database: Database) -> None:
        user, password = make_user(database.factory, RoleName.OPERATOR)
        for _ in range(5):
            client.post("/api/auth/token", json={"username": user.username, "password": "x" * 12})
        with database.factory() as s:
            s.execute(update(User).values(locked_until=utcnow() - timedelta(seconds=1)))
            s.commit()
        assert bearer(client, user.username, password)

    def test_success_resets_the_failure_count(self, client: TestClient, database: Database) -> None:
        user, password = make_user(database.factory, RoleName.OPERATOR)
        for _ in range(4):
            client.post("/api/auth/token", json={"username": user.username, "password": "x" * 12})
        bearer(client, user.username, password)
        for _ in range(4):
            client.post("/api/auth/token", json={"username": user.username, "password": "x" * 12})
        assert bearer(client, user.username, password)


class TestConsoleSession:
    def test_cookie_session_reads_and_needs_csrf_to_write(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        user, password = make_user(database.factory, RoleName.OPERATOR)
        login = client.post(
            "/api/auth/login", json={"username": user.username, "password": password}
        )
        assert login.status_code == 200
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        csrf = login.json()["csrf_token"]
        assert client.get("/api/donors/don-001").status_code == 200
        no_csrf = client.patch("/api/donors/don-001", json={"kana": "ヤマダ タロウ"})
        assert no_csrf.status_code == 403
        with_csrf = client.patch(
            "/api/donors/don-001", json={"kana": "ヤマダ タロウ"}, headers={"X-CSRF-Token": csrf}
        )
        assert with_csrf.status_code == 200

    def test_bearer_token_is_not_a_cookie_session(
        self, client: TestClient, database: Database
    ) -> None:
        user, password = make_user(database.factory, RoleName.OPERATOR)
        token = bearer(client, user.username, password)["Authorization"].split()[1]
        client.cookies.set("support_session", token)
        assert client.get("/api/auth/me").status_code == 401
