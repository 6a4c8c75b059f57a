"""Twilio voice webhooks: every request signed for our public URL, answered in TwiML."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from support.config import Settings
from support.deps import SessionDep
from support.errors import Forbidden
from support.ivr import flow, service, twiml
from support.ivr.models import IvrCall
from support.ivr.ports import IvrPorts
from support.ivr.setup import IvrSetup
from support.ivr.speech import only_digits

log = logging.getLogger(__name__)
router = APIRouter(prefix="/ivr", tags=["ivr"], include_in_schema=False)
SIGNATURE_HEADER = "X-Twilio-Signature"
TWIML = "text/xml; charset=utf-8"
# Articles change rarely; the hints of a line are read again after this long.
HINTS_TTL_SECONDS = 300.0


@dataclass
class IvrRuntime:
    """What the webhooks share: the configuration, the ports, the speech hints per line."""

    setup: IvrSetup
    ports: IvrPorts
    _hints: dict[str | None, tuple[float, list[str]]] = field(default_factory=dict)

    def hints(self, session: Session, municipality_id: str | None) -> list[str]:
        """Return the FAQ vocabulary of one line, read again after a few minutes."""
        now = time.monotonic()
        cached = self._hints.get(municipality_id)
        if cached is None or now - cached[0] > HINTS_TTL_SECONDS:
            words = self.ports.faq.vocabulary(session=session, municipality=municipality_id)
            cached = (now, list(words))
            self._hints[municipality_id] = cached
        return cached[1]


def public_url(settings: Settings, request: Request) -> str:
    """Return the URL Twilio signed: the configured public base, never the request's Host."""
    url = settings.public_base_url.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url


async def signed_params(request: Request) -> dict[str, str]:
    """Return the webhook's form parameters after checking Twilio's signature (else 403)."""
    settings: Settings = request.app.state.settings
    token = settings.twilio_auth_token.get_secret_value()
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not token or not settings.public_base_url:
        log.error("ivr webhook refused: SUPPORT_TWILIO_AUTH_TOKEN or PUBLIC_BASE_URL unset")
        raise Forbidden("署名を確認できません")
    # Twilio posts application/x-www-form-urlencoded, one value per key.
    try:
        body = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Forbidden("署名を確認できません") from exc
    params = dict(parse_qsl(body, keep_blank_values=True))
    valid = bool(signature) and RequestValidator(token).validate(
        public_url(settings, request), params, signature
    )
    if not valid:
        log.warning("ivr webhook refused: bad signature", extra={"path": request.url.path})
        raise Forbidden("署名を確認できません")
    return params


SignedParams = Annotated[dict[str, str], Depends(signed_params)]


def _runtime(request: Request) -> IvrRuntime:
    runtime: IvrRuntime = request.app.state.ivr
    return runtime


def _twiml(body: str) -> Response:
    return Response(content=body, media_type=TWIML)


Handler = Callable[..., tuple[IvrCall, flow.Reply]]


def _respond(
    handler: Handler, params: Mapping[str, str], session: Session, request: Request
) -> Response:
    runtime = _runtime(request)
    call, reply = handler(session=session, setup=runtime.setup, ports=runtime.ports, params=params)
    hints = (
        runtime.hints(session, call.municipality_id) if reply.gather and reply.gather.speech else []
    )
    return _twiml(twiml.render(reply, runtime.setup, hints))


# Sync handlers: FastAPI runs them in its thread pool, the database calls do not block the loop.
# The signature dependency comes first, so a refused request never opens a session.


@router.post("/voice")
def incoming_call(params: SignedParams, session: SessionDep, request: Request) -> Response:
    """Answer a new call."""
    return _respond(service.begin_call, params, session, request)


@router.post("/step")
def call_step(params: SignedParams, session: SessionDep, request: Request) -> Response:
    """Take the caller's keys, speech or recording and say what comes next."""
    return _respond(service.advance_call, params, session, request)


@router.post("/operator")
def operator_done(params: SignedParams, session: SessionDep, request: Request) -> Response:
    """Continue after the operator queue or dial: end, or back to the automated flow."""
    return _respond(service.operator_result, params, session, request)


@router.post("/queue-wait")
async def queue_wait(params: SignedParams, request: Request) -> Response:
    """Play the hold message; leave the queue once the caller waited long enough."""
    waited = int(only_digits(params.get("QueueTime", "")) or 0)
    return _twiml(twiml.render_queue_wait(waited, _runtime(request).setup))


@router.post("/status")
def call_status(params: SignedParams, session: SessionDep, request: Request) -> Response:
    """Record the end of a call (Twilio's status callback)."""
    runtime = _runtime(request)
    service.end_call(session=session, setup=runtime.setup, ports=runtime.ports, params=params)
    return Response(status_code=204)
