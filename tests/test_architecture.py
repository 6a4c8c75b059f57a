"""The direction of imports stays as ARCHITECTURE.md draws it (walking every module's AST)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "support"
DOMAINS = ("kb", "tickets", "mail", "ivr")
# Which domains each domain may import (always only through their service/public modules).
ALLOWED_DOMAINS: dict[str, set[str]] = {
    "kb": set(),
    "tickets": {"kb"},
    "mail": {"tickets", "kb"},
    "ivr": {"tickets", "kb"},
}
# Core modules that may not reach up into domains, adapters' concrete choices, app or cli.
CORE = {"calendar", "config", "db", "errors", "jobs", "logs", "http"}


def _type_only(tree: ast.Module) -> set[int]:
    """Return ids of nodes inside `if TYPE_CHECKING:` blocks (annotations cost no coupling)."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            hidden |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    return hidden


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = _type_only(tree)
    names: list[str] = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return [n for n in names if n.startswith("support.")]


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "migrations" not in p.parts)


def _part(path: Path) -> tuple[str, ...]:
    return path.relative_to(ROOT).with_suffix("").parts


@pytest.mark.parametrize("path", _modules(), ids=lambda p: "/".join(_part(p)))
def test_imports_follow_the_direction(path: Path) -> None:
    here = _part(path)
    for name in _imports(path):
        target = name.split(".")[1:]
        top = target[0]
        if here[0] in CORE:
            assert top in CORE | {"adapters"}, f"core module {here} imports {name}"
        if here[0] in ("adapters",):
            assert top not in DOMAINS + ("app", "cli", "auth"), f"{here} imports {name}"
        if here[0] == "auth":
            assert top not in DOMAINS + ("app", "cli"), f"auth imports {name}"
        if here[0] in DOMAINS + ("auth",):
            # lifecycle walks every domain (contract end, retention): it sits above them.
            assert top != "lifecycle", f"{here} imports {name}"
        if here[0] not in ("app", "cli", "console"):
            assert top != "console", f"{here} imports the web console: {name}"
        if here[0] == "console":
            # The console sits beside app.py: it calls every domain's services and views, never
            # their tables (models) or HTTP routes, and chooses no adapter.
            assert top not in ("app", "cli", "adapters"), f"console imports {name}"
            if top in DOMAINS:
                assert len(target) < 2 or target[1] not in ("router", "models"), (
                    f"the console reaches into a domain's internals: {name}"
                )
        if here[0] in DOMAINS:
            assert top not in ("app", "cli"), f"{here} imports {name}"
            if top in DOMAINS and top != here[0]:
                assert top in ALLOWED_DOMAINS[here[0]], f"{here} may not import {name}"
                assert len(target) < 2 or target[1] not in ("router", "models"), (
                    f"{here} reaches into another domain's internals: {name}"
                )


def test_only_app_cli_and_tests_choose_concrete_search_adapters() -> None:
    concrete = ("support.adapters.search_sqlite", "support.adapters.search_elastic")
    for path in _modules():
        if _part(path)[0] in ("app", "cli", "adapters"):
            continue
        assert not any(n.startswith(concrete) for n in _imports(path)), path
