"""The I/O shell around the call flow: load the call, look up what the input needs, step,
carry out the effects, save. Services flush; the webhook's request scope commits."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.auth.actor import Actor
from support.auth.models import RoleName
from support.calendar import JST
from support.ivr import flow
from support.ivr.models import IvrCall, IvrCallEvent
from support.ivr.ports import IvrPorts, Voicemail
from support.ivr.setup import IvrSetup, normalise_number
from support.ivr.speech import only_digits
from support.tickets import caller, channels

log = logging.getLogger(__name__)

# Twilio's Enqueue/Dial results that mean somebody took the call.
_BRIDGED = frozenset({"bridged", "redirected", "completed", "answered"})
_MAX_SPEECH = 500


def ivr_actor(call_sid: str) -> Actor:
    """Return the actor the IVR reads donors' records as (audited under the call's id)."""
    return Actor(user_id=None, username="ivr", role=RoleName.OPERATOR, request_id=call_sid)


def _municipality_name(
    session: Session, setup: IvrSetup, municipality_id: str | None
) -> str | None:
    if municipality_id is None:
        return None
    # Names change about never; one lookup per app and municipality is plenty.
    names = setup.municipality_names
    if municipality_id not in names:
        name = channels.municipality_name(session=session, municipality_id=municipality_id)
        if name is None:
            return None
        names[municipality_id] = name
    return names[municipality_id]


def _context(session: Session, setup: IvrSetup, call: IvrCall, now: datetime) -> flow.Context:
    name = _municipality_name(session, setup, call.municipality_id)
    local = now.astimezone(JST)
    return flow.Context(
        in_hours=setup.calendar.is_open(now),
        desk_name=setup.desk_name,
        municipality_name=name,
        hours_text=setup.hours_text(),
        seasonal=setup.seasonal_for(local.date(), call.municipality_id),
        callback_text=setup.callback_text(now),
        era=setup.era,
    )


def _event(session: Session, call: IvrCall, kind: str, **detail: object) -> None:
    session.add(IvrCallEvent(call_id=call.id, kind=kind, detail=dict(detail)))


def _find(session: Session, call_sid: str) -> IvrCall | None:
    # FOR UPDATE (PostgreSQL; SQLite has one writer anyway): a webhook Twilio retries while the
    # first attempt still runs waits for it instead of stepping the same state twice.
    query = select(IvrCall).where(IvrCall.call_sid == call_sid).with_for_update()
    return session.scalar(query)


def begin_call(
    *, session: Session, setup: IvrSetup, ports: IvrPorts, params: Mapping[str, str]
) -> tuple[IvrCall, flow.Reply]:
    """Answer a new call (or a retried first webhook): greeting and menu."""
    now = ports.clock()
    call_sid = params.get("CallSid", "")
    call = _find(session, call_sid)
    if call is None:
        dialled = normalise_number(params.get("To", ""))
        municipality = setup.municipality_of(dialled)
        if municipality and _municipality_name(session, setup, municipality) is None:
            log.warning("ivr number serves an unknown municipality", extra={"to": dialled})
            municipality = None
        call = IvrCall(
            call_sid=call_sid,
            to_number=dialled,
            from_number=normalise_number(params.get("From", "")) or None,
            municipality_id=municipality,
            step=flow.Step.MENU.value,
            state={},
            webhooks=0,
            wrong_tries=0,
            in_hours=setup.calendar.is_open(now),
            started_at=now,
        )
        session.add(call)
        session.flush()
    reply = flow.start(_context(session, setup, call, now))
    _save(session, call, reply)
    return call, reply


def _input_for(
    session: Session,
    setup: IvrSetup,
    ports: IvrPorts,
    call: IvrCall,
    state: flow.State,
    params: Mapping[str, str],
) -> flow.Input:
    """Turn Twilio's parameters into a flow input, with the lookups the current step needs."""
    digits = only_digits(params.get("Digits", ""))
    speech = " ".join(params.get("SpeechResult", "").split())[:_MAX_SPEECH]
    if state.step is flow.Step.VM_RECORD and "RecordingUrl" in params:
        seconds = int(only_digits(params.get("RecordingDuration", "")) or 0)
        return flow.Input(
            "recorded", recording_url=params["RecordingUrl"], recording_seconds=seconds
        )
    if state.step is flow.Step.ORDER_NO and digits:
        return flow.Input(
            "digits", digits=digits, order_id=_order_for(session, setup, call, digits)
        )
    if state.step is flow.Step.PHONE_LAST4 and digits:
        delivery = None
        if state.order_id is not None and len(digits) == 4:
            facts = caller.delivery_for_caller(
                session=session,
                actor=ivr_actor(call.call_sid),
                order_id=state.order_id,
                phone_last4=digits,
            )
            if facts is not None:
                ship_by, late = None, False
                if facts.shipped_on is None:
                    today = ports.clock().astimezone(JST).date()
                    ship_by, late = setup.shipping_deadline(
                        facts.municipality_id, facts.ordered_on, today
                    )
                delivery = flow.Delivery(
                    facts.order_id, facts.status, facts.shipped_on, facts.carrier, ship_by, late
                )
        return flow.Input("digits", digits=digits, delivery=delivery)
    if state.step is flow.Step.QUESTION and speech:
        try:
            found = ports.faq.answers(
                session=session,
                question=speech,
                municipality=call.municipality_id,
                top=flow.MAX_CANDIDATES,
            )
        except Exception:  # noqa: BLE001 - a search outage must not silence the call
            # The caller is offered another try and then voicemail, as for an unanswered one.
            log.warning("ivr faq search failed", extra={"call_sid": call.call_sid}, exc_info=True)
            found = []
        return flow.Input("speech", speech=speech, answers=tuple(found))
    if speech:
        return flow.Input("speech", speech=speech)
    if digits:
        return flow.Input("digits", digits=digits)
    return flow.Input("silence")


def _order_for(session: Session, setup: IvrSetup, call: IvrCall, digits: str) -> int | None:
    order_nos, donation_nos = setup.keyed_numbers(digits)
    if not order_nos and not donation_nos:
        return None
    refs = channels.order_refs_by_numbers(
        session=session, order_nos=order_nos, donation_nos=donation_nos
    )
    # A municipality's line answers for that municipality's orders only.
    refs = [r for r in refs if call.municipality_id in (None, r.municipality_id)]
    return refs[0].id if len(refs) == 1 else None


def advance_call(
    *, session: Session, setup: IvrSetup, ports: IvrPorts, params: Mapping[str, str]
) -> tuple[IvrCall, flow.Reply]:
    """Step a call by the caller's input (a Gather or Record action)."""
    call = _find(session, params.get("CallSid", ""))
    if call is None:
        # State lost or a stray request: start over rather than leave the caller in silence.
        return begin_call(session=session, setup=setup, ports=ports, params=params)
    state = flow.State.from_json(call.state)
    if state.step is flow.Step.ENDED and "RecordingUrl" in params:
        _late_recording(session, call, params)
        return call, flow.Reply(state, hangup=True)
    inp = _input_for(session, setup, ports, call, state, params)
    reply = flow.step(state, inp, _context(session, setup, call, ports.clock()))
    _apply(session, setup, ports, call, reply)
    _save(session, call, reply)
    return call, reply


def _late_recording(session: Session, call: IvrCall, params: Mapping[str, str]) -> None:
    """Keep a recording whose Record action came after the hang-up had been recorded."""
    # Twilio may post the status callback before the Record action of a caller who hung up
    # while recording: the ticket then exists already, from the spoken summary alone.
    seconds = int(only_digits(params.get("RecordingDuration", "")) or 0)
    if call.ticket_id is None or seconds <= 0:
        return
    done = session.scalar(
        select(IvrCallEvent.id).where(
            IvrCallEvent.call_id == call.id, IvrCallEvent.kind == "late_recording"
        )
    )
    if done is None:
        caller.add_late_recording(
            session=session,
            ticket_id=call.ticket_id,
            recording_url=params["RecordingUrl"],
            seconds=seconds,
        )
        _event(session, call, "late_recording", ticket_id=call.ticket_id, seconds=seconds)
        session.flush()


def operator_result(
    *, session: Session, setup: IvrSetup, ports: IvrPorts, params: Mapping[str, str]
) -> tuple[IvrCall, flow.Reply]:
    """Continue after Enqueue/Dial: done when an operator took the call, else automated."""
    call = _find(session, params.get("CallSid", ""))
    if call is None:
        return begin_call(session=session, setup=setup, ports=ports, params=params)
    result = (params.get("QueueResult") or params.get("DialCallStatus") or "").lower()
    state = flow.State.from_json(call.state)
    inp = flow.Input("operator", bridged=result in _BRIDGED)
    reply = flow.step(state, inp, _context(session, setup, call, ports.clock()))
    _event(session, call, "operator_result", result=result[:30])
    _save(session, call, reply)
    return call, reply


def end_call(
    *, session: Session, setup: IvrSetup, ports: IvrPorts, params: Mapping[str, str]
) -> IvrCall | None:
    """Record the end of a call from Twilio's status callback (hang-up included)."""
    status = params.get("CallStatus", "")
    call = _find(session, params.get("CallSid", ""))
    if call is None or status not in ("completed", "busy", "failed", "no-answer", "canceled"):
        return call
    if call.ended_at is None:
        state = flow.State.from_json(call.state)
        reply = flow.hangup(state)
        _apply(session, setup, ports, call, reply)
        _save(session, call, reply)
        call.ended_at = ports.clock()
        duration = only_digits(params.get("CallDuration", ""))
        call.duration_seconds = (
            int(duration) if duration else int((call.ended_at - call.started_at).total_seconds())
        )
        _event(
            session, call, "ended", status=status, outcome=call.outcome, at_step=state.step.value
        )
        log.info(
            "ivr call ended",
            extra={
                "call_sid": call.call_sid,
                "outcome": call.outcome,
                "seconds": call.duration_seconds,
            },
        )
    return call


def _save(session: Session, call: IvrCall, reply: flow.Reply) -> None:
    call.state = reply.state.to_json()
    call.step = reply.state.step.value
    call.webhooks = (call.webhooks or 0) + 1
    call.wrong_tries = reply.state.wrong_tries
    if reply.state.outcome is not None:
        call.outcome = reply.state.outcome.value
    # Only what matters lands in the call log (verifications, answers, voicemail, the end):
    # a row per webhook would double the writes of the busiest path.
    session.flush()


def _apply(
    session: Session, setup: IvrSetup, ports: IvrPorts, call: IvrCall, reply: flow.Reply
) -> None:
    """Carry out the effects of a reply in the request's transaction."""
    for effect in reply.effects:
        if isinstance(effect, flow.VerificationFailed):
            _event(
                session,
                call,
                "verification_failed",
                attempt=effect.attempt,
                locked=effect.locked,
                order_id=effect.order_id,
            )
            log.warning(
                "ivr verification failed",
                extra={
                    "call_sid": call.call_sid,
                    "attempt": effect.attempt,
                    "locked": effect.locked,
                },
            )
        elif isinstance(effect, flow.DeliveryRead):
            _event(session, call, "delivery_read", order_id=effect.order_id)
        elif isinstance(effect, flow.FaqAnswered):
            _event(session, call, "faq_answered", article_id=effect.article_id)
        elif isinstance(effect, flow.VoicemailLeft) and call.ticket_id is None:
            now = ports.clock()
            voicemail = Voicemail(
                caller_number=call.from_number or "",
                municipality_id=call.municipality_id,
                order_id=reply.state.verified_order_id,
                summary=effect.summary,
                recording_url=effect.recording_url,
                recording_seconds=effect.recording_seconds,
                reason=effect.reason,
                call_sid=call.call_sid,
                callback_due=setup.callback_due(now),
            )
            call.ticket_id = ports.voicemail.open_ticket(session=session, voicemail=voicemail)
            _event(
                session,
                call,
                "voicemail",
                ticket_id=call.ticket_id,
                reason=effect.reason,
                seconds=effect.recording_seconds,
            )
