"""SMTP sending with aiosmtplib: STARTTLS, implicit TLS or plain (loopback only), with auth."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Literal

import aiosmtplib

from support.adapters.ports import OutgoingMail, SendError

log = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "none"]


class _DataRefused(aiosmtplib.SMTPResponseException):
    """The server answered the DATA with a refusal code."""


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

    async def _send(
        self, mail: OutgoingMail, before_data: Callable[[], None] | None, data_begun: list[bool]
    ) -> None:
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
            await self._envelope_then_data(client, mail, before_data, data_begun)
        finally:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                # After an accepted DATA a failed QUIT changes nothing: the mail is sent.
                client.close()

    @staticmethod
    async def _envelope_then_data(
        client: aiosmtplib.SMTP,
        mail: OutgoingMail,
        before_data: Callable[[], None] | None,
        data_begun: list[bool],
    ) -> None:
        # The steps of sendmail(), split so that it is known whether DATA had begun: before
        # it nothing can have been delivered, whatever went wrong.
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        await client.mail(mail.envelope_from)
        refused: list[aiosmtplib.SMTPRecipientRefused] = []
        for recipient in mail.recipients:
            try:
                await client.rcpt(recipient)
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused.append(exc)
        if len(refused) == len(mail.recipients):
            await client.rset()
            if any(r.code < 500 for r in refused):
                raise _DataRefused(min(r.code for r in refused), "recipients refused for now")
            raise aiosmtplib.SMTPRecipientsRefused(refused)
        if before_data is not None:
            before_data()
        data_begun.append(True)
        try:
            await client.data(mail.data)
        except aiosmtplib.SMTPResponseException as exc:
            # A refusal of the DATA itself: nothing was delivered, the server said so.
            raise _DataRefused(exc.code, exc.message) from exc

    def send(self, mail: OutgoingMail, *, before_data: Callable[[], None] | None = None) -> None:
        """Send one message; map SMTP failures to transient or permanent SendErrors."""
        data_begun: list[bool] = []
        try:
            asyncio.run(self._send(mail, before_data, data_begun))
        except _DataRefused as exc:
            raise SendError(f"SMTP {exc.code}", permanent=500 <= exc.code < 600) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Our credentials, not the message: retrying once they are fixed sends it.
            raise SendError(f"SMTP authentication failed ({exc.code})", permanent=False) from exc
        except aiosmtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.code < 600
            raise SendError(f"SMTP {exc.code}", permanent=permanent) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise SendError("all recipients refused", permanent=True) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # A dropped line or a timeout once DATA had begun: the server may have the mail.
            raise SendError(
                type(exc).__name__, permanent=False, reached_server=bool(data_begun)
            ) from exc
        log.info(
            "mail sent", extra={"message_id": mail.message_id, "recipients": len(mail.recipients)}
        )
