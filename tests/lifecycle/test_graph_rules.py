"""Every table is covered by the contract-end walk or declared out of it (lifecycle/graph.py).

A merged table fails here until it has a foreign key, a soft reference or a declared exception.
"""

from __future__ import annotations

from support.lifecycle.graph import DEFAULT_RULES, edges
from support.metadata import target_metadata

# Column names that tie a row to a municipality's data.
REFERRING = {"municipality_id", "donor_id", "ticket_id", "order_id", "supplier_id"}


def test_every_referring_column_is_a_foreign_key_or_declared() -> None:
    declared = {
        (e.child, e.child_cols[0]) for e in edges(target_metadata) if len(e.child_cols) == 1
    }
    missing = [
        f"{table.name}.{column.name}"
        for table in target_metadata.sorted_tables
        for column in table.columns
        if column.name in REFERRING
        and not column.foreign_keys
        and (table.name, column.name) not in declared
        and (table.name, column.name) not in DEFAULT_RULES.unrelated_columns
    ]
    assert not missing, (
        "columns that name a municipality's records without a foreign key: declare each in "
        "support/lifecycle/graph.py Rules.soft_refs (or info={'refers_to': ...} on the model), "
        f"or in Rules.unrelated_columns with a reason: {missing}"
    )


def test_every_table_is_reached_from_a_municipality_or_declared_global() -> None:
    rules = DEFAULT_RULES
    reached = {rules.root, *rules.subject_tables}
    grew = True
    while grew:
        grew = False
        for edge in edges(target_metadata):
            if edge.parent in reached and edge.child not in reached:
                reached.add(edge.child)
                grew = True
    lost = [
        t.name
        for t in target_metadata.sorted_tables
        if t.name not in reached | rules.reference_tables | rules.global_tables
    ]
    assert not lost, (
        "tables the contract-end export/erase would never see: give them a foreign key to a "
        "municipality, donor, ticket or other covered table, or add them to "
        f"Rules.global_tables (support/lifecycle/graph.py) with a reason: {lost}"
    )
