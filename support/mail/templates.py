"""Mail templates: Jinja2 with strict undefined variables and per-municipality variants."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "templates"


@cache
def environment(root: Path = DEFAULT_DIR) -> Environment:
    """Return the template environment for a templates directory."""
    return Environment(
        loader=FileSystemLoader(str(root)),
        undefined=StrictUndefined,
        # Plain-text mail: nothing to escape; HTML templates (if any) escape.
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        keep_trailing_newline=True,
        trim_blocks=False,
    )


def render(
    name: str, context: dict[str, Any], *, municipality: str | None = None, root: Path = DEFAULT_DIR
) -> str:
    """Render mail/<municipality>/<name> when it exists, else mail/<name>."""
    env = environment(root)
    candidates = [f"mail/{municipality}/{name}"] if municipality else []
    template = env.select_template([*candidates, f"mail/{name}"])
    return template.render(**context)
