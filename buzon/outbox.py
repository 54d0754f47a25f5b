"""Confirmation e-mails: queued with the case, sent over SMTP, retried until sent.

The message is stored (encrypted) in the same transaction as the case, so a
failed send never loses either. :func:`deliver_due` sends what is due; a failure
leaves the message queued with a growing delay. With no SMTP server configured
the message is written as an ``.eml`` file under ``var/mail`` instead.

Run ``python -m buzon.outbox`` to keep delivering (``--once`` for one pass).
"""
from __future__ import annotations

import argparse
import logging
import smtplib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Callable, Optional, Protocol

from sqlalchemy import select, update

from buzon import crypto, datafiles, settings as settings_module
from buzon.cases import routing
from buzon.cases.models import OutboxMessage
from buzon.clock import ecuador_time_text, utcnow
from buzon.db import make_engine, session_factory

logger = logging.getLogger(__name__)

PENDING, SENT = "pending", "sent"
LEASE = timedelta(minutes=2)
MAX_DELAY = timedelta(hours=1)


def compose_confirmation(kind: str, category: str, registration, registered_at: datetime):
    """Subject and body of the confirmation e-mail for a new case."""
    template = datafiles.load("confirmation_email.yml")
    values = {
        "kind_label": template["kind_labels"][kind],
        "kind_note": template["kind_notes"][kind],
        "category_label": routing.label_of(category),
        "number": registration.number,
        "tracking_key": registration.tracking_key,
        "area_name": registration.area_name,
        "registered_at": ecuador_time_text(registered_at) + " (hora de Ecuador)",
    }
    return template["subject"].format(**values), template["body"].format(**values)


def enqueue(session, cipher: crypto.FieldCipher, case, recipient, subject, body, now) -> OutboxMessage:
    """Queue an e-mail for ``case`` inside the caller's transaction."""
    message = OutboxMessage(
        case=case,
        recipient_enc=cipher.encrypt(recipient),
        subject=subject,
        body_enc=cipher.encrypt(body),
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(message)
    return message


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


@dataclass
class SmtpTransport:
    host: str
    port: int
    user: Optional[str] = None
    password: Optional[str] = None
    starttls: bool = False
    timeout: float = 15.0

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)


@dataclass
class DirectoryTransport:
    """Writes each message as an ``.eml`` file: the embedded mode's mailbox."""

    folder: Path

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").split("@")[0]
        path = self.folder / f"{name}.eml"
        path.write_bytes(bytes(message))
        path.chmod(0o600)


def transport_for(settings: settings_module.Settings) -> Transport:
    if settings.smtp_host:
        return SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_user,
            settings.smtp_password,
            settings.smtp_starttls,
        )
    return DirectoryTransport(settings.mail_dir)


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … doubling after each failure, at most one hour."""
    doublings = min(max(attempts - 1, 0), 12)  # 2**12 * 30 s is past the cap already
    return min(timedelta(seconds=30 * 2**doublings), MAX_DELAY)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0


class Outbox:
    def __init__(self, engine, cipher, transport: Transport, sender: str,
                 now: Callable[[], datetime] = utcnow):
        self.cipher = cipher
        self.transport = transport
        self.sender = sender
        self.now = now
        self._session = session_factory(engine)

    @classmethod
    def from_settings(cls, settings: settings_module.Settings) -> "Outbox":
        key = crypto.master_key(settings.encryption_key, settings.dev_key_file)
        return cls(make_engine(settings.database_url), crypto.FieldCipher(key),
                   transport_for(settings), settings.smtp_from)

    def _claim(self, session, message_id: int, now: datetime) -> bool:
        """Take a message for one sender only, for a lease; True when ours."""
        claimed = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == PENDING,
                   OutboxMessage.next_attempt_at <= now)
            .values(next_attempt_at=now + LEASE)
        )
        return claimed.rowcount == 1

    def deliver_due(self, limit: int = 20) -> DeliveryReport:
        """Send every queued message that is due; failures are rescheduled."""
        report = DeliveryReport()
        now = self.now()
        with self._session() as session:
            due = session.execute(
                select(OutboxMessage.id)
                .where(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.id)
                .limit(limit)
            ).scalars().all()
        for message_id in due:
            with self._session.begin() as session:
                if not self._claim(session, message_id, now):
                    continue
            if self._send(message_id):
                report.sent += 1
            else:
                report.failed += 1
        return report

    def _compose(self, message_id: int) -> EmailMessage:
        with self._session() as session:
            row = session.get(OutboxMessage, message_id)
            email = EmailMessage()
            email["From"] = self.sender
            email["To"] = self.cipher.decrypt(row.recipient_enc)
            email["Subject"] = row.subject
            email["Message-ID"] = make_msgid(idstring=f"caso{row.case_id}m{row.id}", domain="iess.gob.ec")
            email.set_content(self.cipher.decrypt(row.body_enc))
        return email

    def _send(self, message_id: int) -> bool:
        try:  # a message that cannot even be read (a wrong key) must not stop the others
            self.transport.send(self._compose(message_id))
        except Exception as error:  # any failure: keep it queued, say only what kind
            with self._session.begin() as session:
                row = session.get(OutboxMessage, message_id)
                row.attempts += 1
                row.last_error = type(error).__name__[:200]
                row.next_attempt_at = self.now() + retry_delay(row.attempts)
            logger.warning("e-mail %s not sent (%s); retry later", message_id, type(error).__name__)
            return False
        with self._session.begin() as session:
            row = session.get(OutboxMessage, message_id)
            row.status = SENT
            row.attempts += 1
            row.sent_at = self.now()
            row.last_error = None
        logger.info("e-mail %s sent", message_id)
        return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Send queued confirmation e-mails.")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between passes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s outbox %(levelname)s %(message)s")
    box = Outbox.from_settings(settings_module.load())
    while True:
        try:
            report = box.deliver_due()
            if report.sent or report.failed:
                logger.info("sent %d, failed %d", report.sent, report.failed)
        except Exception:  # the database may be briefly unavailable: try again
            logger.exception("delivery pass failed")
        if args.once:
            return
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
