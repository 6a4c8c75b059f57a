"""`support ivr ...`: try a call flow with a script, write the static fallback TwiML."""

from __future__ import annotations

import json
import secrets
import sys
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr

# A fictitious caller for tried-out flows (the demo world's numbers are fictitious too).
DEFAULT_CALLER = "+819000000000"
_LOCAL_BASE = "https://ivr.localhost"


@click.group()
def ivr() -> None:
    """Phone IVR (Twilio)."""


def _at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.UsageError(f"--at {value!r}: give an ISO date and time") from exc
    if at.tzinfo is None:
        raise click.UsageError("--at: give a time zone, e.g. 2026-12-08T10:00+09:00")
    return at


@ivr.command("call")
@click.option("--number", default=None, help="The number dialled; default: the general line.")
@click.option("--script", "script", required=True, type=click.File("r", encoding="utf-8"))
@click.option("--from", "caller", default=DEFAULT_CALLER, show_default=True)
@click.option("--at", "at", default=None, help="Pretend the call happens then (ISO, with zone).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per step.")
def ivr_call(number: str | None, script: Any, caller: str, at: str | None, as_json: bool) -> None:
    """Play a scripted call through the real webhooks in-process, signed as Twilio signs."""
    with warnings.catch_warnings():
        # Starlette's notice about httpx is for test suites, not for this command's user.
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from support.app import Adapters, build_adapters, create_app, default_ivr_ports
    from support.cli import _migrate, settings_from_env
    from support.ivr.script import ScriptedCall, parse_script, play
    from support.ivr.setup import IvrSetup

    settings = settings_from_env()
    actions = parse_script(script)
    fixed = _at(at)
    setup = IvrSetup.from_settings(settings)
    dialled = number or setup.general_number()
    if not dialled:
        raise click.UsageError("no general number in SUPPORT_IVR_NUMBERS: give --number")
    # Without a configured token the run signs with a throwaway one: the same checks apply.
    token = settings.twilio_auth_token.get_secret_value() or secrets.token_hex(16)
    base = settings.public_base_url or _LOCAL_BASE
    settings = settings.model_copy(
        update={"twilio_auth_token": SecretStr(token), "public_base_url": base}
    )
    _migrate(settings)
    search = build_adapters(settings).search
    ports = default_ivr_ports(search)
    if fixed is not None:
        ports.clock = lambda: fixed
    app = create_app(settings, adapters=Adapters(search=search, ivr=ports))
    with TestClient(app, base_url=base, raise_server_exceptions=False) as http:
        call = ScriptedCall(http, base_url=base, token=token, to_number=dialled, from_number=caller)
        steps = play(call, actions)
    for step in steps:
        if as_json:
            click.echo(json.dumps(step, ensure_ascii=False))
            continue
        click.echo(f"> {json.dumps(step['request'], ensure_ascii=False)}")
        for text in step.get("say", ()):
            click.echo(f"  「{text}」")
        for key in ("gather", "record", "enqueue", "dial"):
            if step.get(key):
                shown = dict(step[key])
                if shown.get("hints"):
                    shown["hints"] = f"{len(shown['hints'])} FAQ words"
                click.echo(f"  [{key}] {json.dumps(shown, ensure_ascii=False)}")


@ivr.command("fallback-twiml")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False))
def ivr_fallback(out: Path) -> None:
    """Write the static TwiML Twilio's fallback URL serves when the service is down."""
    from support.cli import settings_from_env
    from support.ivr.setup import IvrSetup
    from support.ivr.twiml import render_fallback

    document = render_fallback(IvrSetup.from_settings(settings_from_env()))
    if str(out) == "-":
        sys.stdout.write(document + "\n")
        return
    try:
        out.write_text(document + "\n", encoding="utf-8")
    except OSError as exc:
        raise click.UsageError(f"cannot write {out}: {exc.strerror}") from exc
    click.echo(f"{out}: fallback TwiML ({len(document.encode())} bytes)")
