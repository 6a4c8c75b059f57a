"""A worker process for the crash test: the real job runner and SMTP adapter, killable on cue.

Run as `python -m tests.mail.outbound_worker --url URL --smtp-port P [--die-at N --phase X]`.
It runs due jobs until none is left, then exits 0. With `--die-at N` it SIGKILLs itself during
its N-th send, at `--phase`: `connect` (attempt committed, nothing sent), `data` (DATA about to
begin: fate unknown from then on) or `accepted` (the server took the mail, not yet recorded).
"""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable

from support.adapters.ports import MailSender, OutgoingMail
from support.adapters.smtp import SmtpMailSender
from support.config import Settings
from support.db import make_engine, make_session_factory
from support.worker import build_runner


class DyingSender:
    """Wrap a sender and kill this process at one moment of one send."""

    def __init__(self, inner: MailSender, die_at: int, phase: str) -> None:
        self.inner = inner
        self.die_at = die_at
        self.phase = phase
        self.count = 0

    def _maybe_die(self, phase: str) -> None:
        if self.count == self.die_at and self.phase == phase:
            os.kill(os.getpid(), signal.SIGKILL)

    def send(self, mail: OutgoingMail, *, before_data: Callable[[], None] | None = None) -> None:
        """Send, dying where told."""
        self.count += 1
        self._maybe_die("connect")

        def hook() -> None:
            if before_data is not None:
                before_data()
            self._maybe_die("data")

        self.inner.send(mail, before_data=hook)
        self._maybe_die("accepted")


def main() -> None:
    """Run due jobs until none is left."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--die-at", type=int, default=0)
    parser.add_argument("--phase", default="data")
    args = parser.parse_args()
    settings = Settings(database_url=args.url, mail_from="support@furusato-desk.example.jp")
    sender: MailSender = SmtpMailSender("127.0.0.1", args.smtp_port, security="none", timeout=10)
    if args.die_at:
        sender = DyingSender(sender, args.die_at, args.phase)
    engine = make_engine(args.url)
    runner = build_runner(make_session_factory(engine), settings, sender)
    runner.run_until_idle()
    engine.dispose()


if __name__ == "__main__":
    main()
