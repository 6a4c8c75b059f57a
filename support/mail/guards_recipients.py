"""Send-guard checks on the envelope: who is in To, Cc and Bcc."""

from __future__ import annotations

from support.mail.guards_model import Finding
from support.mail.guards_scan import DraftScan, make_finding


def check_recipients_on_ticket(scan: DraftScan) -> list[Finding]:
    """Flag To/Cc addresses that are neither the donor nor an addressed party of the ticket."""
    findings: list[Finding] = []
    for header, address in scan.recipients("to", "cc"):
        verdict = scan.verdict(address)
        if not verdict.allowed:
            findings.append(
                make_finding(
                    "recipient_not_on_ticket",
                    f"宛先 {address} はこの問い合わせの寄附者・関係者ではありません。"
                    f"{verdict.reason}",
                    header,
                    address,
                )
            )
    return findings


def check_domain_typos(scan: DraftScan) -> list[Finding]:
    """Flag To/Cc/Bcc domains that are near, but not equal to, a common mail provider."""
    findings: list[Finding] = []
    for header, address in scan.recipients("to", "cc", "bcc"):
        domain = address.rsplit("@", 1)[-1]
        provider = scan.directory.provider_typo(domain)
        if provider is not None:
            findings.append(
                make_finding(
                    "recipient_domain_typo",
                    f"宛先 {address} のドメイン「{domain}」は「{provider}」の"
                    "入力ミスの可能性があります",
                    header,
                    address,
                )
            )
    return findings


def check_visible_recipients(scan: DraftScan) -> list[Finding]:
    """Flag To/Cc that show the personal addresses of two or more different people."""
    people: dict[str, str] = {}
    for _, address in scan.recipients("to", "cc"):
        person = scan.verdict(address).person
        if person is not None:
            people.setdefault(person, address)
    if len(people) < 2:
        return []
    return [
        make_finding(
            "visible_recipients",
            f"To/Cc に {len(people)} 人分の個人アドレスが互いに見える形で入っています。"
            "個別に送るか Bcc にしてください",
            "to/cc",
            ", ".join(people.values()),
        )
    ]
