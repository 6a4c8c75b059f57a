"""Incident mails: the immediate notice to the municipality and escalations, each at most once."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.adapters.ports import MailSender, OutgoingMail
from support.db import utcnow
from support.lifecycle.incidents import items_and_events, policy_contact
from support.lifecycle.models import Incident, IncidentNotice
from support.tickets.models import Municipality
from support.tickets.policy import MunicipalityPolicy
from support.tickets.report_mail import ReportMailSettings, build_mail, send_once

log = logging.getLogger(__name__)
JST = ZoneInfo("Asia/Tokyo")
KIND_LABELS = {"misdirected_mail": "メール誤送信", "other": "その他"}
_SUBJECTS = {
    "notice": "【至急】個人情報の漏えい等事故のご報告 (事故番号 {id})",
    "escalation_prelim": "【期限超過】漏えい等事故 {id} の速報が未提出です",
    "escalation_final": "【期限超過】漏えい等事故 {id} の確報が未提出です",
}


def _jst(value: Any) -> str:
    return str(value.astimezone(JST).strftime("%Y年%m月%d日 %H:%M")) if value else "—"


def _body(session: Session, incident: Incident, kind: str, desk: str) -> str:
    items, _events = items_and_events(session, incident)
    name = session.get_one(Municipality, incident.municipality_id).name
    kinds = Counter(i for item in items for i in item.data_items if not i.startswith("添付"))
    lines = [
        f"{name} ご担当者様",
        "",
        f"{desk}です。" if kind == "notice" else f"{desk}の事故管理システムからのお知らせです。",
    ]
    if kind == "notice":
        lines += [
            "貴自治体から取扱いを委託された個人情報について、漏えい等の事故が発生しました"
            "(またはそのおそれがあります)。第一報としてご報告します。",
        ]
    else:
        report = "速報" if kind.endswith("prelim") else "確報"
        lines += [f"下記の事故の{report}が提出期限を過ぎています。至急ご確認ください。"]
    lines += [
        "",
        f"事故番号: {incident.id}",
        f"種別: {KIND_LABELS.get(incident.kind, incident.kind)}",
        f"件名: {incident.title}",
        f"発生日時: {_jst(incident.occurred_at)}",
        f"発覚日時: {_jst(incident.discovered_at)}",
        f"影響を受けた寄附者: {len(items)} 名",
        "漏えいした項目: " + ("、".join(f"{k}({n}名)" for k, n in kinds.items()) or "調査中"),
        f"速報の期限: {_jst(incident.prelim_due_at)}",
        f"確報の期限: {_jst(incident.final_due_at)}",
        "",
        "寄附者の氏名等は本メールに記載していません。詳細はシステムの事故報告書(PDF)を"
        "ご確認ください。",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class IncidentMailer:
    """The job handler that sends incident mails; built by the worker with its adapters."""

    policies: Mapping[str, MunicipalityPolicy]
    sender: MailSender | None
    mail: ReportMailSettings

    def send(self, session: Session, payload: dict[str, Any]) -> None:
        """Send one incident mail at most once (the row's status is committed before SMTP)."""
        incident = session.get(Incident, int(payload["incident_id"]))
        kind = str(payload.get("kind", "notice"))
        if incident is None or kind not in _SUBJECTS:
            return
        row = session.scalar(
            select(IncidentNotice).where(
                IncidentNotice.incident_id == incident.id, IncidentNotice.kind == kind
            )
        )
        if row is None or row.status == "pending":
            recipients = policy_contact(self.policies, incident.municipality_id)
            if kind != "notice":
                recipients = [self.mail.from_addr, *recipients]
            if not recipients:
                log.warning("no contact for incident", extra={"incident_id": incident.id})
                return
            domain = self.mail.from_addr.rpartition("@")[2] or "localhost"
            body = _body(session, incident, kind, self.mail.desk_name)
            if row is None:
                row = IncidentNotice(incident_id=incident.id, kind=kind)
                session.add(row)
            row.recipient = ", ".join(recipients)
            row.subject = _SUBJECTS[kind].format(id=incident.id)
            row.body = body
            row.message_id = f"incident-{incident.id}-{kind}@{domain}"
            row.status = "queued"
            session.flush()
        if self.sender is None:
            log.warning("no SMTP server configured; incident mail not sent")
            return
        recipients = [a.strip() for a in row.recipient.split(",") if a.strip()]
        notice = row

        def set_status(status: str, error: str | None) -> None:
            notice.status = status
            notice.error = error
            if status == "sent":
                notice.sent_at = utcnow()

        outcome = send_once(
            session=session,
            status=row.status,
            set_status=set_status,
            mail=OutgoingMail(
                envelope_from=self.mail.from_addr,
                recipients=recipients,
                data=build_mail(
                    settings=self.mail,
                    to=recipients,
                    subject=row.subject,
                    body=row.body,
                    message_id=row.message_id,
                ),
                message_id=row.message_id,
            ),
            sender=self.sender,
        )
        log.info("incident mail", extra={"incident_id": incident.id, "outcome": outcome})
