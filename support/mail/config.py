"""The mailbox configuration ingest needs, built from the settings."""

from __future__ import annotations

from support.config import Settings
from support.mail.ingest import MailboxConfig


def mailbox_config(settings: Settings) -> MailboxConfig:
    """Return our addresses and the municipality each one serves."""
    addresses = {a.lower(): m for a, m in settings.mail_addresses.items()}
    for account in settings.mail_accounts:
        if account.address:
            addresses.setdefault(account.address.lower(), None)
    return MailboxConfig(
        our_addresses=frozenset(addresses),
        municipality_by_address={a: m for a, m in addresses.items() if m},
    )
