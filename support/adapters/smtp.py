"""SMTP sending with aiosmtplib: STARTTLS, implicit TLS or plain (loopback only), with auth."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Literal

import aiosmtplib

from support.adapters.ports import OutgoingMail, SendError

log = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "none"]


class SmtpMailSender:
    """Send each message in its own SMTP session (simple, and safe across worker crashes)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        security: Security = "starttls",
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.security = security
        self.timeout = timeout
        self.tls_context = tls_context

    async def _send(self, mail: OutgoingMail) -> None:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.security == "ssl",
            start_tls=self.security == "starttls",
            tls_context=self.tls_context,
            username=self.username,
            password=self.password,
        )
        await client.connect()
        try:
            await client.sendmail(mail.envelope_from, list(mail.recipients), mail.data)
        finally:
            try:
                await client.quit()
            except aiosmtplib.SMTPException:
                client.close()

    def send(self, mail: OutgoingMail) -> None:
        """Send one message; map SMTP failures to transient or permanent SendErrors."""
        try:
            asyncio.run(self._send(mail))
        except aiosmtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.code < 600
            raise SendError(f"SMTP {exc.code}", permanent=permanent) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise SendError("all recipients refused", permanent=True) from exc
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            # The DATA may have been accepted just before the line dropped.
            raise SendError(type(exc).__name__, permanent=False, reached_server=True) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SendError(type(exc).__name__, permanent=False) from exc
        log.info(
            "mail sent", extra={"message_id": mail.message_id, "recipients": len(mail.recipients)}
        )
