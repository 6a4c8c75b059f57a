"""The call flow as a pure state machine: (state, input, context) -> reply with the next state.

Nothing here touches the database, the clock or Twilio. The shell (`ivr/service.py`) looks
up what an input needs before stepping (the order behind a keyed number, whether the phone
digits match, the FAQ answers to a spoken question) and carries out the effects a reply asks
for (audit, call log, voicemail ticket).
"""

from __future__ import annotations

import dataclasses
import enum
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from support.ivr import prompts
from support.ivr.speech import Era, only_digits, read_date, read_digits

# Consecutive prompts without a usable answer before the caller is offered voicemail.
MAX_REPROMPTS = 2
# Wrong order-number / phone-digit pairs before delivery status is locked for the call.
MAX_WRONG_TRIES = 3
# FAQ candidates read for one question before asking the caller to put it another way.
MAX_CANDIDATES = 3
# Questions asked in one call before the caller is offered voicemail instead.
MAX_QUESTIONS = 3

InputKind = Literal["start", "digits", "speech", "silence", "recorded", "operator"]


class Step(enum.StrEnum):
    """Where the call is: what the last reply asked the caller for."""

    MENU = "menu"
    ORDER_NO = "order_no"
    PHONE_LAST4 = "phone_last4"
    ANYTHING_ELSE = "anything_else"
    QUESTION = "question"
    CONFIRM = "confirm"
    VM_SUMMARY = "vm_summary"
    VM_RECORD = "vm_record"
    OPERATOR = "operator"
    ENDED = "ended"


class Outcome(enum.StrEnum):
    """How a call ended, for the call log."""

    FAQ_ANSWERED = "faq_answered"
    DELIVERY_STATUS = "delivery_status"
    VERIFICATION_FAILED = "verification_failed"
    VOICEMAIL = "voicemail"
    VOICEMAIL_EMPTY = "voicemail_empty"
    OPERATOR = "operator"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class Answer:
    """One FAQ answer short enough to be read aloud."""

    article_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the caller may hear about a verified order: status, dates, carrier; nothing else."""

    order_id: int
    status: str
    shipped_on: date | None
    carrier: str | None
    # Not shipped yet: the municipality's shipping deadline, and whether it has passed.
    ship_by: date | None = None
    late: bool = False


@dataclass(frozen=True, slots=True)
class Input:
    """What the caller did, with what the shell looked up for it."""

    kind: InputKind
    digits: str = ""
    speech: str = ""
    # ORDER_NO: the order behind the keyed number, if any (never told to the caller).
    order_id: int | None = None
    # PHONE_LAST4: the order's delivery facts when the phone digits matched, else None.
    delivery: Delivery | None = None
    # QUESTION: the FAQ answers to the spoken question, best first.
    answers: tuple[Answer, ...] = ()
    recording_url: str = ""
    recording_seconds: int = 0
    # OPERATOR: True when an operator took the call.
    bridged: bool = False


@dataclass(frozen=True, slots=True)
class Context:
    """The facts of the moment that the flow depends on."""

    in_hours: bool
    desk_name: str
    municipality_name: str | None = None
    hours_text: str = ""
    seasonal: tuple[str, ...] = ()
    callback_text: str = ""
    era: Era = "reiwa"


@dataclass(frozen=True, slots=True)
class State:
    """Everything the flow remembers between two webhooks of one call (stored as JSON)."""

    step: Step = Step.MENU
    reprompts: int = 0
    wrong_tries: int = 0
    status_locked: bool = False
    operator_missed: bool = False
    order_id: int | None = None
    # The order a caller was verified for: a later voicemail ticket is linked to it.
    verified_order_id: int | None = None
    candidates: tuple[Answer, ...] = ()
    offered: int = 0
    questions: int = 0
    summary: str = ""
    voicemail_reason: str = ""
    outcome: Outcome | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the state as JSON-ready data."""
        data = dataclasses.asdict(self)
        data["candidates"] = [[a.article_id, a.text] for a in self.candidates]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        """Rebuild a state stored by `to_json`."""
        values = dict(data)
        values["step"] = Step(values.get("step", Step.MENU))
        values["candidates"] = tuple(Answer(a, t) for a, t in values.get("candidates", ()))
        if values.get("outcome") is not None:
            values["outcome"] = Outcome(values["outcome"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Gather:
    """Ask the caller for keys and/or speech."""

    speech: bool = False
    digits: bool = True
    num_digits: int | None = None
    finish_on_key: str | None = None
    timeout: int = 6


@dataclass(frozen=True, slots=True)
class Record:
    """Record a voicemail."""

    max_seconds: int = 120


# Effects: what the shell must do besides answering Twilio.


@dataclass(frozen=True, slots=True)
class VerificationFailed:
    """A wrong order-number / phone-digit pair (logged and audited)."""

    attempt: int
    locked: bool
    order_id: int | None


@dataclass(frozen=True, slots=True)
class DeliveryRead:
    """A verified caller heard an order's status (audited as a read of the donor's order)."""

    order_id: int


@dataclass(frozen=True, slots=True)
class FaqAnswered:
    """The caller said an FAQ answer solved the question."""

    article_id: str


@dataclass(frozen=True, slots=True)
class VoicemailLeft:
    """A voicemail to turn into a ticket with a callback request."""

    summary: str
    recording_url: str
    recording_seconds: int
    reason: str


Effect = VerificationFailed | DeliveryRead | FaqAnswered | VoicemailLeft


@dataclass(frozen=True, slots=True)
class Reply:
    """The next state, what to say (before and inside a gather), and what else happens."""

    state: State
    say: tuple[str, ...] = ()
    prompt: tuple[str, ...] = ()
    gather: Gather | None = None
    record: Record | None = None
    operator: bool = False
    hangup: bool = False
    effects: tuple[Effect, ...] = field(default_factory=tuple)


_YES = ("はい", "解決", "大丈夫", "ありがとう", "わかりました", "分かりました", "オッケー", "ok")
_NO = ("いいえ", "違う", "ちがう", "だめ", "ダメ", "わからない", "分からない", "もう一度", "別")
_FINE = ("問題ない", "問題なし", "申し分ない")
_VOICEMAIL_WORDS = ("伝言", "担当", "オペレーター", "人と")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _menu_prompt(state: State, ctx: Context) -> tuple[str, ...]:
    parts = [] if state.status_locked else [prompts.MENU_STATUS]
    parts += [prompts.MENU_FAQ, prompts.MENU_VOICEMAIL]
    if ctx.in_hours and not state.operator_missed:
        parts.append(prompts.MENU_OPERATOR)
    return ("".join(parts) + prompts.MENU_END,)


def _menu(state: State, ctx: Context, say: Sequence[str] = ()) -> Reply:
    new = dataclasses.replace(state, step=Step.MENU, order_id=None, candidates=(), offered=0)
    return Reply(new, tuple(say), _menu_prompt(new, ctx), Gather(num_digits=1))


def _greeting(ctx: Context) -> list[str]:
    if ctx.municipality_name:
        lines = [prompts.GREETING_MUNICIPALITY.format(municipality=ctx.municipality_name)]
    else:
        lines = [prompts.GREETING.format(desk=ctx.desk_name)]
    if not ctx.in_hours:
        lines.append(prompts.OUT_OF_HOURS.format(hours=ctx.hours_text))
    return lines + list(ctx.seasonal)


def _voicemail(state: State, reason: str, say: Sequence[str] = ()) -> Reply:
    new = dataclasses.replace(
        state, step=Step.VM_SUMMARY, reprompts=0, voicemail_reason=reason, summary=""
    )
    return Reply(
        new,
        (*say, prompts.VOICEMAIL_INTRO),
        (prompts.VOICEMAIL_SUMMARY,),
        Gather(speech=True, digits=False, timeout=5),
    )


def _ask_again(state: State, ctx: Context, say: Sequence[str] = ()) -> Reply:
    """Repeat the current prompt after no or unusable input; voicemail after two repeats."""
    if state.reprompts >= MAX_REPROMPTS:
        return _voicemail(state, "no_input", say)
    again = dataclasses.replace(state, reprompts=state.reprompts + 1)
    reply = _prompt_for(again, ctx)
    return dataclasses.replace(reply, say=(*say, prompts.REPROMPT, *reply.say))


def _prompt_for(state: State, ctx: Context) -> Reply:
    """Return the prompt of the state's step (used to repeat it)."""
    if state.step is Step.ORDER_NO:
        return Reply(state, (), (prompts.ORDER_NO,), Gather(finish_on_key="#", timeout=10))
    if state.step is Step.PHONE_LAST4:
        return Reply(state, (), (prompts.PHONE_LAST4,), Gather(num_digits=4, timeout=10))
    if state.step is Step.QUESTION:
        return Reply(state, (), (prompts.QUESTION,), Gather(speech=True, digits=False))
    if state.step is Step.CONFIRM:
        return Reply(state, (), (prompts.CONFIRM,), Gather(speech=True, num_digits=1))
    if state.step is Step.ANYTHING_ELSE:
        return Reply(state, (), (prompts.ANYTHING_ELSE,), Gather(num_digits=1))
    return Reply(state, (), _menu_prompt(state, ctx), Gather(num_digits=1))


def start(ctx: Context) -> Reply:
    """Answer a new call: greeting, hours, seasonal notices, then the menu."""
    return _menu(State(), ctx, _greeting(ctx))


def step(state: State, inp: Input, ctx: Context) -> Reply:
    """Advance the call by one input."""
    if state.step is Step.ENDED:
        return Reply(state, hangup=True)
    if inp.kind == "start":
        return start(ctx)
    handler = _HANDLERS[state.step]
    return handler(state, inp, ctx)


def _on_menu(state: State, inp: Input, ctx: Context) -> Reply:
    choice = only_digits(inp.digits)[:1] if inp.kind == "digits" else ""
    if choice == "1" and not state.status_locked:
        return _prompt_for(dataclasses.replace(state, step=Step.ORDER_NO, reprompts=0), ctx)
    if choice == "2":
        new = dataclasses.replace(state, step=Step.QUESTION, reprompts=0, questions=0)
        return _prompt_for(new, ctx)
    if choice == "3":
        return _voicemail(state, "menu")
    if choice == "0":
        if ctx.in_hours and not state.operator_missed:
            new = dataclasses.replace(state, step=Step.OPERATOR, reprompts=0)
            return Reply(new, (prompts.OPERATOR_CONNECTING,), operator=True)
        return _menu(dataclasses.replace(state, reprompts=0), ctx, [prompts.OPERATOR_CLOSED])
    if choice == "9":
        return _menu(dataclasses.replace(state, reprompts=0), ctx)
    if choice == "1":
        return _menu(state, ctx, [prompts.STATUS_LOCKED])
    return _ask_again(state, ctx)


def _on_anything_else(state: State, inp: Input, ctx: Context) -> Reply:
    if inp.kind == "digits" and only_digits(inp.digits):
        return _on_menu(dataclasses.replace(state, step=Step.MENU, reprompts=0), inp, ctx)
    ended = dataclasses.replace(state, step=Step.ENDED)
    return Reply(ended, (prompts.GOODBYE,), hangup=True)


def _wrong_try(state: State, ctx: Context, order_id: int | None) -> Reply:
    tries = state.wrong_tries + 1
    locked = tries >= MAX_WRONG_TRIES
    effect = VerificationFailed(attempt=tries, locked=locked, order_id=order_id)
    if locked:
        new = dataclasses.replace(
            state,
            wrong_tries=tries,
            status_locked=True,
            outcome=state.outcome or Outcome.VERIFICATION_FAILED,
        )
        reply = _menu(new, ctx, [prompts.VERIFY_FAILED, prompts.VERIFY_LOCKED])
    else:
        new = dataclasses.replace(
            state, step=Step.ORDER_NO, wrong_tries=tries, order_id=None, reprompts=0
        )
        reply = _prompt_for(new, ctx)
        reply = dataclasses.replace(reply, say=(prompts.VERIFY_FAILED, prompts.VERIFY_AGAIN))
    return dataclasses.replace(reply, effects=(effect,))


def _on_order_no(state: State, inp: Input, ctx: Context) -> Reply:
    digits = only_digits(inp.digits) if inp.kind == "digits" else ""
    if not digits:
        return _ask_again(state, ctx)
    # Whether the number exists is not told: the caller always goes on to the phone digits,
    # so the IVR cannot be used to find out which numbers are real.
    new = dataclasses.replace(state, step=Step.PHONE_LAST4, order_id=inp.order_id, reprompts=0)
    reply = _prompt_for(new, ctx)
    return dataclasses.replace(
        reply, say=(prompts.NUMBER_KEYED.format(digits=read_digits(digits)),)
    )


def _delivery_lines(delivery: Delivery, era: Era) -> list[str]:
    lines = [prompts.STATUS_READ.format(status=delivery.status)]
    if delivery.shipped_on is None and delivery.late:
        lines.append(prompts.STATUS_LATE)
    elif delivery.shipped_on is None and delivery.ship_by is not None:
        lines.append(prompts.STATUS_SHIP_BY.format(date=read_date(delivery.ship_by, era)))
    elif delivery.shipped_on is None:
        lines.append(prompts.STATUS_NOT_SHIPPED)
    elif delivery.carrier:
        shipped = read_date(delivery.shipped_on, era)
        lines.append(prompts.STATUS_SHIPPED.format(date=shipped, carrier=delivery.carrier))
    else:
        lines.append(
            prompts.STATUS_SHIPPED_NO_CARRIER.format(date=read_date(delivery.shipped_on, era))
        )
    return lines


def _on_phone_last4(state: State, inp: Input, ctx: Context) -> Reply:
    digits = only_digits(inp.digits) if inp.kind == "digits" else ""
    if not digits:
        return _ask_again(state, ctx)
    delivery = inp.delivery
    if len(digits) != 4 or delivery is None or delivery.order_id != state.order_id:
        return _wrong_try(state, ctx, state.order_id)
    new = dataclasses.replace(
        state,
        step=Step.ANYTHING_ELSE,
        order_id=None,
        verified_order_id=delivery.order_id,
        reprompts=0,
        outcome=Outcome.DELIVERY_STATUS,
    )
    reply = _prompt_for(new, ctx)
    lines = tuple(_delivery_lines(delivery, ctx.era))
    return dataclasses.replace(reply, say=lines, effects=(DeliveryRead(delivery.order_id),))


def _offer(state: State, ctx: Context, index: int, say: Sequence[str] = ()) -> Reply:
    template = prompts.ANSWER if index == 0 else prompts.ANSWER_NEXT
    new = dataclasses.replace(state, step=Step.CONFIRM, offered=index, reprompts=0)
    reply = _prompt_for(new, ctx)
    return dataclasses.replace(
        reply, say=(*say, template.format(answer=state.candidates[index].text))
    )


def _on_question(state: State, inp: Input, ctx: Context) -> Reply:
    if inp.kind == "digits" and only_digits(inp.digits)[:1] == "3":
        return _voicemail(state, "menu")
    if inp.kind != "speech" or not inp.speech.strip():
        return _ask_again(state, ctx)
    answers = tuple(inp.answers[:MAX_CANDIDATES])
    if not answers:
        if state.reprompts >= MAX_REPROMPTS:
            return _voicemail(state, "unanswered", [prompts.QUESTION_NO_ANSWER.rstrip("、")])
        again = dataclasses.replace(state, reprompts=state.reprompts + 1)
        reply = _prompt_for(again, ctx)
        return dataclasses.replace(
            reply, say=(prompts.QUESTION_NO_ANSWER,), prompt=(prompts.QUESTION_AGAIN,)
        )
    new = dataclasses.replace(state, candidates=answers, questions=state.questions + 1)
    return _offer(new, ctx, 0)


def _confirmation(inp: Input) -> str:
    if inp.kind == "digits":
        return {"1": "yes", "2": "no", "3": "voicemail"}.get(only_digits(inp.digits)[:1], "")
    if inp.kind != "speech":
        return ""
    said = _fold(inp.speech).replace("すみません", "")
    if any(w in said for w in _VOICEMAIL_WORDS):
        return "voicemail"
    # "No" first: 解決しない / 大丈夫じゃない hold a "yes" word too; 問題ない is a yes.
    if any(w in said for w in _NO):
        return "no"
    if any(w in said for w in _FINE):
        return "yes"
    if "ない" in said or "ません" in said:
        return "no"
    if any(w in said for w in _YES):
        return "yes"
    return ""


def _on_confirm(state: State, inp: Input, ctx: Context) -> Reply:
    answer = _confirmation(inp)
    if answer == "yes":
        article = state.candidates[state.offered].article_id
        new = dataclasses.replace(
            state, step=Step.ANYTHING_ELSE, candidates=(), outcome=Outcome.FAQ_ANSWERED
        )
        reply = _prompt_for(new, ctx)
        return dataclasses.replace(reply, say=(prompts.RESOLVED,), effects=(FaqAnswered(article),))
    if answer == "voicemail":
        return _voicemail(state, "menu")
    if answer == "no":
        if state.offered + 1 < len(state.candidates):
            return _offer(state, ctx, state.offered + 1)
        if state.questions >= MAX_QUESTIONS:
            return _voicemail(state, "unanswered", [prompts.QUESTION_NO_ANSWER.rstrip("、")])
        new = dataclasses.replace(state, step=Step.QUESTION, candidates=(), reprompts=0)
        reply = _prompt_for(new, ctx)
        return dataclasses.replace(reply, prompt=(prompts.QUESTION_AGAIN,))
    return _ask_again(state, ctx)


def _on_vm_summary(state: State, inp: Input, ctx: Context) -> Reply:
    summary = inp.speech.strip() if inp.kind == "speech" else ""
    new = dataclasses.replace(state, step=Step.VM_RECORD, summary=summary[:1000])
    return Reply(new, (prompts.VOICEMAIL_RECORD,), record=Record())


def _on_vm_record(state: State, inp: Input, ctx: Context) -> Reply:
    recorded = inp.kind == "recorded" and bool(inp.recording_url) and inp.recording_seconds > 0
    ended = dataclasses.replace(state, step=Step.ENDED)
    if not recorded and not state.summary:
        ended = dataclasses.replace(ended, outcome=Outcome.VOICEMAIL_EMPTY)
        return Reply(ended, (prompts.VOICEMAIL_EMPTY,), hangup=True)
    effect = VoicemailLeft(
        summary=state.summary,
        recording_url=inp.recording_url if recorded else "",
        recording_seconds=inp.recording_seconds if recorded else 0,
        reason=state.voicemail_reason,
    )
    ended = dataclasses.replace(ended, outcome=Outcome.VOICEMAIL)
    done = prompts.VOICEMAIL_DONE.format(callback=ctx.callback_text)
    return Reply(ended, (done, prompts.GOODBYE), hangup=True, effects=(effect,))


def _on_operator(state: State, inp: Input, ctx: Context) -> Reply:
    if inp.kind == "operator" and inp.bridged:
        ended = dataclasses.replace(state, step=Step.ENDED, outcome=Outcome.OPERATOR)
        return Reply(ended, hangup=True)
    missed = dataclasses.replace(state, operator_missed=True, reprompts=0)
    return _menu(missed, ctx, [prompts.OPERATOR_MISSED])


def hangup(state: State) -> Reply:
    """End the call where it stands: a summary already spoken still becomes a voicemail."""
    if state.step is Step.ENDED:
        return Reply(state, hangup=True)
    ended = dataclasses.replace(state, step=Step.ENDED)
    if state.step is Step.VM_RECORD and state.summary:
        effect = VoicemailLeft(state.summary, "", 0, state.voicemail_reason)
        return Reply(
            dataclasses.replace(ended, outcome=Outcome.VOICEMAIL), hangup=True, effects=(effect,)
        )
    return Reply(
        dataclasses.replace(ended, outcome=state.outcome or Outcome.ABANDONED), hangup=True
    )


_HANDLERS = {
    Step.MENU: _on_menu,
    Step.ORDER_NO: _on_order_no,
    Step.PHONE_LAST4: _on_phone_last4,
    Step.ANYTHING_ELSE: _on_anything_else,
    Step.QUESTION: _on_question,
    Step.CONFIRM: _on_confirm,
    Step.VM_SUMMARY: _on_vm_summary,
    Step.VM_RECORD: _on_vm_record,
    Step.OPERATOR: _on_operator,
}
