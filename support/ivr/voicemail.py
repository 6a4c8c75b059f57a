"""The voicemail sink that opens a ticket through the tickets domain."""

from __future__ import annotations

from sqlalchemy.orm import Session

from support.calendar import JST
from support.ivr.ports import Voicemail
from support.tickets import caller

_REASONS = {
    "menu": "メニューから伝言を選択",
    "no_input": "入力が確認できず伝言へ案内",
    "unanswered": "よくある質問で解決せず伝言へ案内",
}


def voicemail_subject(voicemail: Voicemail) -> str:
    """Return the ticket subject: the spoken summary, or a plain label when there is none."""
    summary = " ".join(voicemail.summary.split())
    if not summary:
        return "電話のご伝言（折り返し希望）"
    return f"電話のご伝言: {summary[:80]}"


def voicemail_note(voicemail: Voicemail) -> str:
    """Return the internal note staff call back from."""
    due = voicemail.callback_due.astimezone(JST).strftime("%Y-%m-%d %H:%M")
    # The caller's number is kept on the ticket itself (contact phone), not repeated here.
    lines = [
        "自動音声（IVR）で承ったご伝言です。折り返しのお電話をお願いします。",
        f"録音: {voicemail.recording_url or 'なし'}"
        + (f"（{voicemail.recording_seconds}秒）" if voicemail.recording_seconds else ""),
        f"音声認識による要約: {voicemail.summary or '（認識できませんでした）'}",
        f"経緯: {_REASONS.get(voicemail.reason, voicemail.reason or '不明')}",
        f"折り返し期限: {due}（営業時間内）",
        f"通話ID: {voicemail.call_sid}",
    ]
    return "\n".join(lines)


class TicketVoicemailSink:
    """Opens an IVR ticket with the caller's number, the recording and a callback request."""

    def open_ticket(self, *, session: Session, voicemail: Voicemail) -> int:
        """Open the ticket in the caller's transaction; return its id."""
        return caller.open_voicemail_ticket(
            session=session,
            subject=voicemail_subject(voicemail),
            note=voicemail_note(voicemail),
            municipality_id=voicemail.municipality_id,
            order_id=voicemail.order_id,
            caller_number=voicemail.caller_number or None,
            recording_url=voicemail.recording_url or None,
            transcript=voicemail.summary or None,
            callback_due=voicemail.callback_due,
            call_sid=voicemail.call_sid,
        )
