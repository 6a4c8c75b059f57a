"""Reports in the API: a city reads only its own (404 otherwise), staff all, every read audited;
and the `support report monthly` command."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from support.auth.models import AuditEvent, RoleName
from support.calendar import JST
from support.tickets.models import Order
from tests.cli_util import run_support, support_env
from tests.conftest import Database
from tests.factories import load_demo_world, login_as, make_ticket


def _seed(database: Database) -> None:
    load_demo_world(database.factory)
    with database.factory() as s:
        for city in ("ise", "yokohama"):
            order = s.scalars(select(Order).where(Order.municipality_id == city)).first()
            assert order is not None
            make_ticket(
                s,
                municipality_id=city,
                created_at=datetime(2025, 12, 5, 10, tzinfo=JST),
                order_id=order.id,
                supplier_id=order.supplier_id,
                subject=f"{city}-complaint 品質の問題",
            )
        s.commit()


class TestReportApi:
    def test_city_reads_its_own_reports_and_gets_404_for_another(
        self, client: TestClient, database: Database
    ) -> None:
        _seed(database)
        staff = login_as(client, database.factory, RoleName.SUPERVISOR)
        for city in ("ise", "yokohama"):
            created = client.post(f"/api/reports/monthly/{city}/2025-12", headers=staff)
            assert created.status_code == 201, created.text
            assert created.json()["ticket_count"] == 1
        ise = login_as(client, database.factory, RoleName.MUNICIPALITY, municipality_id="ise")

        listing = client.get("/api/reports/monthly/ise", headers=ise)
        assert listing.status_code == 200
        assert [r["month"] for r in listing.json()] == ["2025-12"]
        csv_file = client.get("/api/reports/monthly/ise/2025-12?format=csv", headers=ise)
        assert csv_file.status_code == 200
        assert csv_file.content.startswith(b"\xef\xbb\xbf")
        assert "attachment" in csv_file.headers["content-disposition"]
        text = csv_file.content.decode("utf-8-sig")
        assert "ise-complaint" in text and "yokohama-complaint" not in text
        pdf = client.get("/api/reports/monthly/ise/2025-12?format=pdf", headers=ise)
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        html = client.get("/api/reports/monthly/ise/2025-12?format=html", headers=ise)
        assert "伊勢市" in html.text and "yokohama-complaint" not in html.text

        # Another city's reports, existing or not, look exactly like unknown ones.
        for path in (
            "/api/reports/monthly/yokohama",
            "/api/reports/monthly/yokohama/2025-12?format=pdf",
            "/api/reports/monthly/nowhere/2025-12",
        ):
            response = client.get(path, headers=ise)
            assert response.status_code == 404, path
        missing = client.get("/api/reports/monthly/ise/2025-11", headers=ise)
        assert missing.status_code == 404
        assert (
            missing.json()["title"]
            == client.get("/api/reports/monthly/yokohama/2025-12", headers=ise).json()["title"]
        )

        with database.factory() as s:
            events = s.scalars(
                select(AuditEvent).where(AuditEvent.resource_type == "municipality_report")
            ).all()
        actions = [(e.action, e.actor_role, e.resource_id) for e in events]
        assert ("list", "municipality", "ise") in actions
        assert ("read", "municipality", "ise/2025-12") in actions
        assert sum(1 for a in actions if a[0] == "read") == 3
        assert ("generate", "supervisor", "yokohama/2025-12") in actions
        assert not any(
            a[2] and a[2].startswith("yokohama") and a[1] == "municipality" for a in actions
        )

    def test_staff_read_any_city_and_suppliers_are_refused(
        self, client: TestClient, database: Database
    ) -> None:
        _seed(database)
        staff = login_as(client, database.factory, RoleName.OPERATOR)
        assert (
            client.post("/api/reports/monthly/yokohama/2025-12", headers=staff).status_code == 201
        )
        assert client.get("/api/reports/monthly/yokohama/2025-12", headers=staff).status_code == 200
        supplier = login_as(client, database.factory, RoleName.SUPPLIER, supplier_id="sup-01")
        assert client.get("/api/reports/monthly/ise", headers=supplier).status_code == 403
        city = login_as(client, database.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        assert client.post("/api/reports/monthly/ise/2025-12", headers=city).status_code == 403

    def test_bad_month_and_unknown_city_are_422(
        self, client: TestClient, database: Database
    ) -> None:
        _seed(database)
        staff = login_as(client, database.factory, RoleName.OPERATOR)
        assert client.post("/api/reports/monthly/ise/2025-13", headers=staff).status_code == 422
        assert client.post("/api/reports/monthly/nowhere/2025-12", headers=staff).status_code == 422


class TestReportCommand:
    def test_writes_each_format_and_refuses_bad_input_in_one_line(
        self, database: Database, tmp_path: Path
    ) -> None:
        _seed(database)
        env = support_env(database.url, tmp_path / "data")
        for fmt, magic in (
            ("pdf", b"%PDF"),
            ("html", b"<!doctype html>"),
            ("csv", b"\xef\xbb\xbf"),
        ):
            out = tmp_path / f"ise.{fmt}"
            result = run_support(
                [
                    "report",
                    "monthly",
                    "--municipality",
                    "ise",
                    "--month",
                    "2025-12",
                    "--format",
                    fmt,
                    "--out",
                    str(out),
                ],
                env,
            )
            assert result.returncode == 0, result.stderr
            assert out.read_bytes().startswith(magic)
            assert "1件" in result.stdout
        for args, reason in (
            (["--municipality", "ise", "--month", "2025-13"], "YYYY-MM"),
            (["--municipality", "nowhere", "--month", "2025-12"], "不明な自治体"),
        ):
            result = run_support(
                ["report", "monthly", *args, "--out", str(tmp_path / "x.pdf")], env
            )
            assert result.returncode == 2
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and reason in lines[0]
