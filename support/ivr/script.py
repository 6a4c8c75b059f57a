"""Scripted calls: play JSON-lines scripts through the webhooks as Twilio would, signed."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from twilio.request_validator import RequestValidator

from support.errors import BadInput
from support.ivr.router import SIGNATURE_HEADER
from support.ivr.twiml import describe

_KEYS = ("digits", "speech", "silence", "record", "operator", "hangup")
# Steps one script may take: a flow that loops on redirects must not spin forever.
_MAX_STEPS = 200


class Response(Protocol):
    """The part of an HTTP response a scripted call reads."""

    status_code: int
    text: str


class Http(Protocol):
    """An HTTP client (httpx.Client, or Starlette's TestClient for in-process calls)."""

    def post(self, url: str, *, data: Mapping[str, str], headers: Mapping[str, str]) -> Any:
        """Send a form POST."""
        ...


def parse_script(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Read a script: JSON lines, each one of digits/speech/silence/record/operator/hangup."""
    actions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            action = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"line {number}: not JSON ({exc.msg})") from exc
        if not isinstance(action, dict) or len([k for k in _KEYS if k in action]) != 1:
            raise BadInput(f"line {number}: give exactly one of {', '.join(_KEYS)}")
        actions.append(action)
    return actions


class ScriptedCall:
    """One call placed through the webhooks, each request signed with the auth token."""

    def __init__(
        self,
        http: Http,
        *,
        base_url: str,
        token: str,
        to_number: str,
        from_number: str,
        call_sid: str | None = None,
    ) -> None:
        """Prepare a call; nothing is sent before `start`."""
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.validator = RequestValidator(token)
        self.call_sid = call_sid or "CA" + secrets.token_hex(16)
        self.common = {
            "CallSid": self.call_sid,
            "AccountSid": "AC" + "0" * 32,
            "From": from_number,
            "To": to_number,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        self.steps: list[dict[str, Any]] = []
        self.last: dict[str, Any] | None = None
        self.ended = False

    def post(self, path: str, extra: Mapping[str, str]) -> Any:
        """Send one signed webhook and return the raw response."""
        params = {**self.common, **extra}
        signature = self.validator.compute_signature(self.base_url + path, params)
        return self.http.post(
            self.base_url + path, data=params, headers={SIGNATURE_HEADER: signature}
        )

    def _step(self, path: str, extra: Mapping[str, str], action: Mapping[str, Any]) -> None:
        response = self.post(path, {**extra, "CallStatus": "in-progress"})
        if response.status_code != 200:
            raise BadInput(f"{path} answered {response.status_code}: {response.text[:200]}")
        twiml = describe(response.text)
        self.steps.append({"request": {"path": path, **action}, **twiml})
        self.last = twiml
        if twiml["hangup"]:
            self.ended = True

    def start(self) -> None:
        """Ring: the first webhook."""
        self._step("/ivr/voice", {"CallStatus": "ringing"}, {"call": "start"})

    def act(self, action: Mapping[str, Any]) -> None:
        """Play one script line against what the last document asked for."""
        if self.ended or self.last is None:
            raise BadInput("the call has already ended")
        if "hangup" in action:
            self.hang_up()
            return
        last = self.last
        if last["enqueue"] is not None or last["dial"] is not None:
            result = str(action.get("operator", "no-answer"))
            if last["enqueue"] is not None:
                self._step("/ivr/operator", {"QueueResult": result}, {"operator": result})
            else:
                self._step("/ivr/operator", {"DialCallStatus": result}, {"operator": result})
            return
        if last["record"] is not None:
            seconds = int(action.get("record", 0) or 0)
            extra = {"RecordingDuration": str(seconds), "Digits": "#"}
            if seconds > 0:
                extra["RecordingUrl"] = (
                    "https://api.twilio.com/2010-04-01/Accounts/"
                    f"{self.common['AccountSid']}/Recordings/RE{secrets.token_hex(16)}"
                )
            self._step("/ivr/step", extra, {"record": seconds})
            return
        if last["gather"] is None:
            raise BadInput("the last document asked for nothing; the call is over")
        extra = {}
        if "digits" in action:
            extra["Digits"] = str(action["digits"])
        elif "speech" in action:
            extra["SpeechResult"] = str(action["speech"])
            extra["Confidence"] = "0.9"
        self._step("/ivr/step", extra, dict(action))

    def hang_up(self, seconds: int | None = None) -> None:
        """Hang up: Twilio's status callback with the call's duration."""
        if self.ended and self.steps and self.steps[-1]["request"].get("call") == "end":
            return
        duration = str(seconds if seconds is not None else 10 * max(1, len(self.steps)))
        response = self.post("/ivr/status", {"CallStatus": "completed", "CallDuration": duration})
        if response.status_code not in (200, 204):
            raise BadInput(f"/ivr/status answered {response.status_code}")
        self.steps.append({"request": {"path": "/ivr/status", "call": "end"}, "hangup": True})
        self.ended = True


def play(call: ScriptedCall, actions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Play a whole script, then hang up (as the caller would after the last line)."""
    if len(actions) > _MAX_STEPS:
        raise BadInput(f"a script has at most {_MAX_STEPS} lines")
    call.start()
    for action in actions:
        if call.ended:
            break
        call.act(action)
    call.hang_up()
    return call.steps
