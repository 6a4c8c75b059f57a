"""The send guards' directory of everyone known, loaded from the database."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from support.mail.guards import Directory, MunicipalityRef, OrderRef, Person, SupplierRef
from support.tickets import channels


def load_directory(*, session: Session, internal_domains: Iterable[str] = ()) -> Directory:
    """Build the guards' directory from every donor, order, municipality and supplier."""
    municipalities, suppliers = channels.organisations(session=session)
    return Directory(
        donors=[Person(*row) for row in channels.donor_contacts(session=session)],
        orders=[OrderRef(*row) for row in channels.order_refs(session=session)],
        municipalities=[MunicipalityRef(*row) for row in municipalities],
        suppliers=[SupplierRef(*row) for row in suppliers],
        internal_domains=internal_domains,
    )
