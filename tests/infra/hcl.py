"""Read the Terraform tree with python-hcl2 into plain dicts: resources, variables, outputs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM = Path(__file__).resolve().parents[2] / "infra" / "terraform"
MODULES = TERRAFORM / "modules"
PRODUCTION = TERRAFORM / "envs" / "production"


def _unquote(value: Any) -> Any:
    """Drop python-hcl2's quotes around strings and keys, and its bookkeeping keys."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {
            _unquote(k): _unquote(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__", "__inline_comments__")
        }
    return value


@cache
def load(path: Path) -> dict[str, Any]:
    """Return one .tf file as a dict."""
    with path.open(encoding="utf-8") as f:
        parsed: dict[str, Any] = _unquote(hcl2.load(f))
    return parsed


@dataclass(frozen=True)
class Block:
    """One resource, data source, variable, output or module call."""

    path: Path
    kind: str
    name: str
    body: dict[str, Any]

    @property
    def where(self) -> str:
        """Return a short location for assertion messages."""
        return f"{self.path.relative_to(TERRAFORM)}: {self.kind}.{self.name}"

    def first(self, key: str) -> dict[str, Any]:
        """Return the first nested block `key` (HCL blocks parse as lists of dicts)."""
        value = self.body.get(key)
        if isinstance(value, list):
            assert value, f"{self.where} has an empty {key}"
            first: dict[str, Any] = value[0]
            return first
        assert isinstance(value, dict), f"{self.where} has no {key} block"
        return value


def files(root: Path = TERRAFORM) -> list[Path]:
    """Return every .tf file under `root`."""
    return sorted(root.rglob("*.tf"))


def blocks(section: str, root: Path = TERRAFORM) -> Iterator[Block]:
    """Yield every block of a section ("resource", "data", "variable", "output", "module")."""
    for path in files(root):
        for entry in load(path).get(section, []):
            if section in ("resource", "data"):
                for kind, named in entry.items():
                    for name, body in named.items():
                        yield Block(path, kind, name, body)
            else:
                for name, body in entry.items():
                    yield Block(path, section, name, body)


def resources(kind: str, root: Path = TERRAFORM) -> list[Block]:
    """Return every resource of one type."""
    return [b for b in blocks("resource", root) if b.kind == kind]


def variable_default(module: str, name: str) -> Any:
    """Return the default of a module's variable."""
    for block in blocks("variable", MODULES / module):
        if block.name == name:
            return block.body.get("default")
    raise KeyError(f"{module} has no variable {name}")
