"""Errors of approval and sending, each with its HTTP status and Japanese title."""

from __future__ import annotations

from support.errors import SupportError


class DraftNotEditable(SupportError):
    """The draft is being sent or was sent: it cannot change any more."""

    status = 409
    title = "送信中または送信済みの返信は変更できません"
    code = "draft_locked"


class DraftNotSubmittable(SupportError):
    """Only a draft being written (or returned to its author) can be submitted."""

    status = 409
    title = "この返信はすでに承認依頼中か送信手続き中です"
    code = "draft_not_submittable"


class DraftNotAwaitingApproval(SupportError):
    """Approve, reject or override a draft that is not waiting for approval."""

    status = 409
    title = "この返信は承認待ちではありません"
    code = "not_awaiting_approval"


class SelfApproval(SupportError):
    """Nobody approves a draft they wrote or submitted."""

    status = 403
    title = "自分が作成・依頼した返信は承認できません"
    code = "self_approval"


class SupervisorOnly(SupportError):
    """Approving, rejecting and overriding are for supervisors."""

    status = 403
    title = "承認・差し戻し・警告の解除はスーパーバイザーのみが行えます"
    code = "supervisor_only"


class MessageChanged(SupportError):
    """The message is not the one the approver looked at."""

    status = 409
    title = "確認した内容から返信が変更されています。最新の内容を確認してください"
    code = "message_changed"


class OverrideRequired(SupportError):
    """A block finding stands and nobody gave a written reason to send anyway."""

    status = 409
    title = "送信を止める指摘があります。理由を記入して解除しない限り承認できません"
    code = "override_required"


class TooLateToPullBack(SupportError):
    """The mail is no longer waiting: it is being sent or was sent."""

    status = 409
    title = "送信処理が始まっているため取り消せません"
    code = "too_late_to_pull_back"


class NotInDoubt(SupportError):
    """Only a send whose fate is unknown can be resolved."""

    status = 409
    title = "この返信は送信結果の確認待ちではありません"
    code = "not_in_doubt"
