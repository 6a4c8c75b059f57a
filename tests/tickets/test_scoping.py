"""Who sees what: municipality and supplier users see only their own; reads are audited."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from support.auth.models import RoleName
from support.tickets.models import Order
from tests.conftest import Database
from tests.factories import load_demo_world, login_as


def _order_ids(database: Database, **where: str) -> list[int]:
    with database.factory() as s:
        query = select(Order.id).order_by(Order.id)
        for key, value in where.items():
            query = query.where(getattr(Order, key) == value)
        return list(s.scalars(query))


def _donor_of_city(database: Database, city: str, other: str) -> str:
    """Return a donor who gave to `city` and never to `other`."""
    with database.factory() as s:
        rows = s.execute(select(Order.donor_id, Order.municipality_id)).all()
    cities: dict[str, set[str]] = {}
    for donor, muni in rows:
        cities.setdefault(donor, set()).add(muni)
    return next(d for d, c in sorted(cities.items()) if city in c and other not in c)


def _open_ticket(client: TestClient, headers: dict[str, str], order_id: int) -> int:
    response = client.post(
        "/api/tickets",
        headers=headers,
        json={"subject": "返礼品が届かない", "category": "不着", "order_id": order_id},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


class TestMunicipalityScope:
    def test_ise_user_gets_404_for_yokohama_donor_order_and_ticket(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        ise = login_as(client, database.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        yokohama_donor = _donor_of_city(database, "yokohama", "ise")
        yokohama_order = _order_ids(database, municipality_id="yokohama")[0]
        yokohama_ticket = _open_ticket(client, operator, yokohama_order)

        for path in (
            f"/api/donors/{yokohama_donor}",
            f"/api/orders/{yokohama_order}",
            f"/api/tickets/{yokohama_ticket}",
        ):
            response = client.get(path, headers=ise)
            assert response.status_code == 404, path
            # Out of scope and unknown look exactly alike.
            assert response.json()["code"] == "not_found"

    def test_ise_user_sees_its_own_donor_order_and_ticket(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        ise = login_as(client, database.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        ise_donor = _donor_of_city(database, "ise", "yokohama")
        ise_order = _order_ids(database, municipality_id="ise")[0]
        ticket = _open_ticket(client, operator, ise_order)
        assert client.get(f"/api/donors/{ise_donor}", headers=ise).status_code == 200
        assert client.get(f"/api/orders/{ise_order}", headers=ise).status_code == 200
        assert client.get(f"/api/tickets/{ticket}", headers=ise).status_code == 200

    def test_lists_hold_only_own_records(self, client: TestClient, database: Database) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        for order_id in _order_ids(database)[:6]:
            _open_ticket(client, operator, order_id)
        ise = login_as(client, database.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        orders = client.get("/api/orders", params={"limit": 500}, headers=ise).json()
        assert orders["total"] == len(_order_ids(database, municipality_id="ise"))
        assert {o["municipality_id"] for o in orders["items"]} == {"ise"}
        tickets = client.get("/api/tickets", headers=ise).json()
        assert {t["municipality_id"] for t in tickets["items"]} <= {"ise"}
        donors = client.get("/api/donors", params={"limit": 500}, headers=ise).json()
        with database.factory() as s:
            ise_donors = set(
                s.scalars(select(Order.donor_id).where(Order.municipality_id == "ise"))
            )
        assert {d["id"] for d in donors["items"]} == ise_donors
        munis = client.get("/api/municipalities", headers=ise).json()
        assert [m["id"] for m in munis] == ["ise"]

    def test_filtering_by_another_city_yields_nothing(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        ise = login_as(client, database.factory, RoleName.MUNICIPALITY, municipality_id="ise")
        response = client.get("/api/orders", params={"municipality_id": "yokohama"}, headers=ise)
        assert response.json()["total"] == 0


class TestSupplierScope:
    def test_supplier_sees_only_its_own_orders(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        sup = login_as(client, database.factory, RoleName.SUPPLIER, supplier_id="sup-01")
        listed = client.get("/api/orders", params={"limit": 500}, headers=sup).json()
        own = _order_ids(database, supplier_id="sup-01")
        assert sorted(o["id"] for o in listed["items"]) == own
        other = _order_ids(database, supplier_id="sup-02")[0]
        assert client.get(f"/api/orders/{other}", headers=sup).status_code == 404

    def test_supplier_gets_shipping_minimum_only(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        sup = login_as(client, database.factory, RoleName.SUPPLIER, supplier_id="sup-01")
        order_id = _order_ids(database, supplier_id="sup-01")[0]
        body = client.get(f"/api/orders/{order_id}", headers=sup).json()
        assert set(body["ship_to"]) == {"name", "postal_code", "address", "phone"}
        for private in ("donor_id", "donation_no", "amount_yen", "email"):
            assert private not in body
        listed = client.get("/api/orders", headers=sup).json()["items"]
        assert all(item["ship_to"] is None for item in listed)

    def test_supplier_cannot_read_donors(self, client: TestClient, database: Database) -> None:
        load_demo_world(database.factory)
        sup = login_as(client, database.factory, RoleName.SUPPLIER, supplier_id="sup-01")
        assert client.get("/api/donors", headers=sup).status_code == 403
        assert client.get("/api/donors/don-001", headers=sup).status_code == 403

    def test_supplier_sees_tickets_about_its_gifts_only(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        mine = _open_ticket(client, operator, _order_ids(database, supplier_id="sup-01")[0])
        theirs = _open_ticket(client, operator, _order_ids(database, supplier_id="sup-02")[0])
        sup = login_as(client, database.factory, RoleName.SUPPLIER, supplier_id="sup-01")
        assert client.get(f"/api/tickets/{mine}", headers=sup).status_code == 200
        assert client.get(f"/api/tickets/{theirs}", headers=sup).status_code == 404


class TestAuditOfPersonalData:
    def test_each_donor_read_by_an_operator_is_in_the_audit_list(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        admin = login_as(client, database.factory, RoleName.ADMIN)
        for donor_id in ("don-001", "don-002", "don-001"):
            assert client.get(f"/api/donors/{donor_id}", headers=operator).status_code == 200
        me = client.get("/api/auth/me", headers=operator).json()
        by_donor = client.get("/api/audit", params={"donor_id": "don-001"}, headers=admin).json()
        reads = [e for e in by_donor if e["action"] == "read"]
        assert len(reads) == 2
        assert all(e["actor_user_id"] == me["id"] and e["actor_role"] == "operator" for e in reads)
        assert all(e["client_ip"] and e["request_id"] and e["occurred_at"] for e in reads)
        by_user = client.get("/api/audit", params={"user_id": me["id"]}, headers=admin).json()
        assert sorted(e["donor_id"] for e in by_user if e["action"] == "read") == [
            "don-001",
            "don-001",
            "don-002",
        ]

    def test_supplier_shipping_read_is_audited(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        sup = login_as(client, database.factory, RoleName.SUPPLIER, supplier_id="sup-01")
        admin = login_as(client, database.factory, RoleName.ADMIN)
        order_id = _order_ids(database, supplier_id="sup-01")[0]
        client.get(f"/api/orders/{order_id}", headers=sup)
        events = client.get("/api/audit", headers=admin).json()
        assert any(
            e["action"] == "read_shipping" and e["resource_id"] == str(order_id) for e in events
        )

    def test_masked_list_is_not_a_personal_data_read(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        admin = login_as(client, database.factory, RoleName.ADMIN)
        listed = client.get("/api/donors", headers=operator).json()["items"]
        assert listed[0]["email_masked"].count("*") >= 3
        assert "email" not in listed[0]
        events = client.get("/api/audit", headers=admin).json()
        assert not [e for e in events if e["action"] == "read"]

    def test_only_admins_list_the_audit(self, client: TestClient, database: Database) -> None:
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        assert client.get("/api/audit", headers=operator).status_code == 403

    def test_failed_read_leaves_no_audit_event(
        self, client: TestClient, database: Database
    ) -> None:
        load_demo_world(database.factory)
        operator = login_as(client, database.factory, RoleName.OPERATOR)
        admin = login_as(client, database.factory, RoleName.ADMIN)
        assert client.get("/api/donors/don-999", headers=operator).status_code == 404
        assert not client.get("/api/audit", params={"donor_id": "don-999"}, headers=admin).json()
