"""The life of personal data across every domain: contract-end export, erase and re-import.

It walks the whole schema (SQLAlchemy metadata and its foreign keys), so it sits above the
domains, next to app and cli, and knows no domain's tables by heart: see `graph.Rules`.
"""
