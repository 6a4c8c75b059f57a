"""TwiML rendering of flow replies with the twilio library (Japanese voice and recognition)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree  # parses only our own TwiML (describe)  # nosec B405

from twilio.twiml.voice_response import Dial, VoiceResponse

from support.ivr import prompts
from support.ivr.flow import Reply
from support.ivr.setup import IvrSetup

LANGUAGE = "ja-JP"
# Relative URLs: Twilio resolves them against the document's own (public) URL.
STEP_URL = "/ivr/step"
OPERATOR_URL = "/ivr/operator"
QUEUE_WAIT_URL = "/ivr/queue-wait"
# Seconds of one wait-message loop while queued for an operator.
_WAIT_PAUSE = 20


def _say(node: Any, text: str, voice: str) -> None:
    node.say(text, voice=voice, language=LANGUAGE)


def render(reply: Reply, setup: IvrSetup, hints: Sequence[str] = ()) -> str:
    """Return the TwiML document for one reply."""
    response = VoiceResponse()
    for text in reply.say:
        _say(response, text, setup.voice)
    if reply.gather is not None:
        g = reply.gather
        modes = [m for m, on in (("dtmf", g.digits), ("speech", g.speech)) if on]
        gather = response.gather(
            input=" ".join(modes),
            action=STEP_URL,
            method="POST",
            timeout=g.timeout,
            num_digits=g.num_digits,
            finish_on_key=g.finish_on_key if g.finish_on_key is not None else "",
            language=LANGUAGE,
            hints=", ".join(hints) if g.speech and hints else None,
            speech_timeout="auto" if g.speech else None,
            action_on_empty_result=True,
        )
        for text in reply.prompt:
            _say(gather, text, setup.voice)
    else:
        for text in reply.prompt:
            _say(response, text, setup.voice)
    if reply.record is not None:
        response.record(
            action=STEP_URL,
            method="POST",
            max_length=reply.record.max_seconds,
            timeout=5,
            finish_on_key="#",
            play_beep=True,
            trim="trim-silence",
        )
    if reply.operator:
        if setup.operator_mode == "dial":
            dial = Dial(action=OPERATOR_URL, method="POST", timeout=25, answer_on_bridge=True)
            dial.number(setup.operator_number)
            response.append(dial)
        else:
            response.enqueue(
                setup.operator_queue,
                action=OPERATOR_URL,
                method="POST",
                wait_url=QUEUE_WAIT_URL,
                wait_url_method="POST",
            )
    if reply.hangup:
        response.hangup()
    return str(response)


def render_queue_wait(queue_seconds: int, setup: IvrSetup) -> str:
    """Return the hold loop: a wait message, or leaving the queue once waited long enough."""
    response = VoiceResponse()
    if queue_seconds >= setup.operator_wait_seconds:
        response.leave()
    else:
        _say(response, prompts.OPERATOR_WAIT, setup.voice)
        response.pause(length=_WAIT_PAUSE)
    return str(response)


def render_fallback(setup: IvrSetup) -> str:
    """Return the static document Twilio's fallback URL serves when the service is down."""
    response = VoiceResponse()
    for text in setup.fallback_lines():
        _say(response, text, setup.voice)
    response.hangup()
    return str(response)


def render_refusal() -> str:
    """Return a document that ends the call (for a call we cannot serve)."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def describe(document: str) -> dict[str, Any]:
    """Return what a TwiML document does, verbatim: texts said, gathers, recording, queueing."""
    # Our own output or a test's: a trusted document, parsed without entity expansion tricks.
    root = ElementTree.fromstring(document)  # noqa: S314  # nosec B314
    if root.tag != "Response":
        raise ValueError(f"not TwiML: root element {root.tag}")
    said: list[str] = []
    found: dict[str, Any] = {
        "say": said,
        "gather": None,
        "record": None,
        "enqueue": None,
        "dial": None,
        "leave": False,
        "hangup": False,
    }
    for node in root:
        if node.tag == "Say":
            said.append(node.text or "")
        elif node.tag == "Gather":
            said.extend(child.text or "" for child in node if child.tag == "Say")
            found["gather"] = {
                "input": node.get("input", "dtmf").split(),
                "language": node.get("language"),
                "num_digits": int(node.get("numDigits", "0")) or None,
                "finish_on_key": node.get("finishOnKey"),
                "hints": [h.strip() for h in node.get("hints", "").split(",") if h.strip()],
                "action": node.get("action"),
            }
        elif node.tag == "Record":
            found["record"] = {
                "max_length": int(node.get("maxLength", "3600")),
                "action": node.get("action"),
            }
        elif node.tag == "Enqueue":
            found["enqueue"] = {"queue": node.text, "wait_url": node.get("waitUrl")}
        elif node.tag == "Dial":
            numbers = [child.text for child in node if child.tag == "Number"]
            found["dial"] = {"numbers": numbers, "action": node.get("action")}
        elif node.tag == "Leave":
            found["leave"] = True
        elif node.tag == "Hangup":
            found["hangup"] = True
    return found
