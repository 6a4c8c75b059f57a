"""Donor requests: recorded, forwarded once, decided by the municipality, then carried out."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from support.adapters.fakes import InMemoryMailSender
from support.auth.models import RoleName
from support.config import Settings
from support.tickets.models import Donation, Donor, Order
from support.worker import build_runner
from tests.conftest import Database
from tests.factories import load_demo_world, login_as
from tests.lifecycle.test_contract_end import _donors_of


class TestDonorRequests:
    def test_deletion_is_forwarded_decided_and_erases_only_that_municipality(
        self, client: TestClient, database: Database, settings: Settings
    ) -> None:
        load_demo_world(database.factory)
        only = _donors_of("ise")[0][0]
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        city = login_as(client, database.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        other = login_as(
            client, database.factory, RoleName.MUNICIPALITY, municipality_id="yokohama"
        )
        body = {"municipality_id": "ise", "donor_id": only["id"], "kind": "deletion"}
        assert client.post("/api/donor-requests", headers=city, json=body).status_code == 403
        made = client.post("/api/donor-requests", headers=operator, json=body)
        assert made.status_code == 201, made.text
        rid = made.json()["id"]
        execute = f"/api/donor-requests/{rid}/execute"
        assert client.post(execute, headers=operator).status_code == 409  # not decided yet

        sender = InMemoryMailSender()
        runner = build_runner(database.factory, settings, sender)
        runner.run_until_idle()
        runner.run_until_idle()
        [mail] = sender.sent  # forwarded once
        assert mail.recipients == ["furusato@city-ise.example.jp"]
        assert only["name"].encode() not in mail.data and only["email"].encode() not in mail.data

        decision = f"/api/donor-requests/{rid}/decision"
        assert client.post(decision, headers=other, json={"approve": True}).status_code == 404
        decided = client.post(decision, headers=city, json={"approve": True, "note": "削除を承認"})
        assert decided.status_code == 200 and decided.json()["status"] == "approved"
        assert client.post(decision, headers=city, json={"approve": False}).status_code == 409
        done = client.post(execute, headers=operator)
        assert done.status_code == 200, done.text
        assert done.json()["counts"]["orders"] >= 1 and done.json()["donor_blanked"] is True

        with database.factory() as s:
            assert not s.scalars(select(Order.id).where(Order.donor_id == only["id"])).all()
            assert not s.scalars(select(Donation.id).where(Donation.donor_id == only["id"])).all()
            donor = s.get_one(Donor, only["id"])
            assert donor.email is None and donor.phone is None and donor.address is None
            assert s.scalar(select(func.count()).select_from(Order)) == 120 - len(
                [o for o in _orders() if o["donor_id"] == only["id"]]
            )
        trail = client.get(f"/api/donor-requests/{rid}", headers=city).json()["trail"]
        assert [e["kind"] for e in trail] == ["received", "forwarded", "decided", "executed"]
        assert client.get(f"/api/donor-requests/{rid}", headers=other).status_code == 404

    def test_correction_and_disclosure_after_approval(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        donor = _donors_of("ise")[1][0]  # also gives to another municipality
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        city = login_as(client, database.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        bad = client.post(
            "/api/donor-requests",
            headers=operator,
            json={"municipality_id": "ise", "donor_id": donor["id"], "kind": "correction"},
        )
        assert bad.status_code == 422
        ids = []
        for kind, changes in (("correction", {"phone": "090-0000-1111"}), ("disclosure", {})):
            made = client.post(
                "/api/donor-requests",
                headers=operator,
                json={
                    "municipality_id": "ise",
                    "donor_id": donor["id"],
                    "kind": kind,
                    "changes": changes,
                },
            )
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
            ok = client.post(
                f"/api/donor-requests/{ids[-1]}/decision", headers=city, json={"approve": True}
            )
            assert ok.status_code == 200
        fixed = client.post(f"/api/donor-requests/{ids[0]}/execute", headers=operator)
        assert fixed.json()["fields"] == ["phone"]
        shown = client.post(f"/api/donor-requests/{ids[1]}/execute", headers=operator).json()
        assert shown["data"]["donor"]["phone"] == "090-0000-1111"
        assert shown["data"]["orders"] and all(o["order_no"] for o in shown["data"]["orders"])
        with database.factory() as s:
            ise_orders = s.scalar(
                select(func.count()).where(
                    Order.donor_id == donor["id"], Order.municipality_id == "ise"
                )
            )
        assert len(shown["data"]["orders"]) == ise_orders


def _orders() -> list[dict[str, str]]:
    import json

    from tests.factories import world_path

    world: dict[str, list[dict[str, str]]] = json.loads(world_path().read_text("utf-8"))
    return world["orders"]
