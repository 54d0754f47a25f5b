"""The e-mail outbox: queued with the case, sent over SMTP, retried until sent.

The message is stored (encrypted) in the same transaction as the case, so a
failed send never loses either. :meth:`Outbox.deliver_due` sends what is due:

- a worker *claims* a message for a lease and renews the lease while its send
  is running, so a slow SMTP server never lets a second worker send it again;
  a worker that died mid-send loses its claim when the lease runs out;
- a failure leaves the message queued with a growing delay; after
  ``max_attempts`` it becomes a *dead letter*, logged and listed by
  ``python -m buzon.outbox_worker --dead-letters`` until an operator re-queues it
  (``--retry-dead``);
- once sent, only what is needed afterwards is kept: the subject (the case
  number), times and counts. Recipient and body (the tracking key) are erased.

SMTP uses STARTTLS by default, or SMTPS, with the server's certificate
verified; a password is never sent over a connection without TLS. With no SMTP
server configured (the embedded profile) each message is written under
``var/mail`` encrypted with the case key; ``python -m buzon.outbox_worker --read-mail``
shows them.

``python -m buzon.outbox_worker`` keeps delivering (``--once`` for one pass).
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from buzon import crypto
from buzon import settings as settings_module
from buzon.clock import utcnow
from buzon.db import Base, session_factory

logger = logging.getLogger(__name__)

PENDING, SENDING, SENT, DEAD = "pending", "sending", "sent", "dead"
EMAIL, WHATSAPP = "email", "whatsapp"
LEASE = timedelta(minutes=2)
MAX_DELAY = timedelta(hours=1)
MAIL_SUFFIX = ".eml.enc"


class OutboxMessage(Base):
    """An e-mail waiting to be sent, being sent, sent or given up (transactional outbox).

    Recipient and body are erased once the message is sent.
    """

    __tablename__ = "outbox"

    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id"), index=True)  # none for a digest
    # "email" (recipient: an address) or "whatsapp" (recipient: the WhatsApp number)
    channel = Column(String(16), nullable=False, default="email")
    recipient_enc = Column(Text)
    subject = Column(String(200), nullable=False)
    body_enc = Column(Text)
    status = Column(String(16), nullable=False, index=True)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime(), nullable=False)
    lease_until = Column(DateTime())
    claim_token = Column(String(32))
    last_error = Column(String(200))
    created_at = Column(DateTime(), nullable=False)
    sent_at = Column(DateTime())


def enqueue(
    session: Session,
    cipher: crypto.FieldCipher,
    case_id: int | None,
    recipient: str,
    subject: str,
    body: str,
    now: datetime,
    channel: str = EMAIL,
) -> OutboxMessage:
    """Queue an e-mail (or a notice on ``channel``) about case ``case_id`` inside the
    caller's transaction."""
    message = OutboxMessage(
        case_id=case_id,
        channel=channel,
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


def enqueue_whatsapp(
    session: Session,
    cipher: crypto.FieldCipher,
    case_id: int,
    wa_id: str,
    case_number: str,
    text: str,
    now: datetime,
) -> OutboxMessage:
    """Queue a WhatsApp notice; ``case_number`` fills the template outside the window."""
    return enqueue(session, cipher, case_id, wa_id, case_number, text, now, channel=WHATSAPP)


class WhatsAppSender(Protocol):
    def send(self, wa_id: str, text: str, case_number: str) -> None: ...


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class WhatsAppNotConfigured(RuntimeError):
    """A WhatsApp notice with no Graph API credentials to send it."""


class InsecureLogin(RuntimeError):
    """Refused: a password would cross the network without TLS."""


@dataclass
class SmtpTransport:
    """SMTP with STARTTLS (default), SMTPS (``security="ssl"``) or, for a local
    relay without a password only, plain SMTP (``security="none"``)."""

    host: str
    port: int
    user: str | None = None
    password: str | None = None
    security: str = "starttls"
    timeout: float = 20.0
    ca_file: str | None = None
    context: ssl.SSLContext | None = field(default=None, repr=False)

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name verified against the system's CAs (or ``ca_file``)."""
        return self.context or ssl.create_default_context(cafile=self.ca_file)

    def send(self, message: EmailMessage) -> None:
        if self.user and self.security == "none":
            raise InsecureLogin("SMTP_USER is set but SMTP_SECURITY is none")
        if self.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.tls_context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=self.tls_context())  # fails if the server has no TLS
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)


@dataclass
class DirectoryTransport:
    """The embedded profile's mailbox: each message in a file, encrypted with the case key."""

    folder: Path
    cipher: crypto.FieldCipher

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = message["Message-ID"].strip("<>").split("@")[0]
        path = self.folder / f"{name}{MAIL_SUFFIX}"
        path.write_bytes(self.cipher.encrypt_bytes(bytes(message)))
        path.chmod(0o600)


def read_mailbox(folder: Path, cipher: crypto.FieldCipher) -> list[EmailMessage]:
    """The messages a :class:`DirectoryTransport` wrote, oldest first."""
    files = sorted(folder.glob(f"*{MAIL_SUFFIX}"), key=lambda p: p.stat().st_mtime)
    return [
        message_from_bytes(cipher.decrypt_bytes(p.read_bytes()), policy=policy.default)
        for p in files
    ]


def purge_mailbox(folder: Path, older_than: datetime) -> int:
    """Delete the embedded mailbox's files written before ``older_than`` (UTC)."""
    cutoff = (
        older_than.timestamp()
        if older_than.tzinfo
        else (older_than - datetime(1970, 1, 1)).total_seconds()
    )
    gone = 0
    for path in folder.glob(f"*{MAIL_SUFFIX}"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            gone += 1
    return gone


def transport_for(settings: settings_module.Settings, cipher: crypto.FieldCipher) -> Transport:
    if settings.smtp_host:
        return SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_user,
            settings.smtp_password,
            settings.smtp_security,
            settings.smtp_timeout,
            settings.smtp_ca_file,
        )
    return DirectoryTransport(settings.mail_dir, cipher)


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … doubling after each failure, at most one hour."""
    doublings = min(max(attempts - 1, 0), 12)  # 2**12 * 30 s is past the cap already
    return min(timedelta(seconds=30 * 2**doublings), MAX_DELAY)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0


@dataclass(frozen=True)
class DeadLetter:
    id: int
    case_id: int
    subject: str
    attempts: int
    last_error: str | None
    created_at: datetime


class Outbox:
    def __init__(
        self,
        engine: Engine,
        cipher: crypto.FieldCipher,
        transport: Transport,
        sender: str,
        now: Callable[[], datetime] = utcnow,
        max_attempts: int = 12,
        lease: timedelta = LEASE,
        whatsapp: WhatsAppSender | None = None,
    ) -> None:
        self.cipher = cipher
        self.transport = transport
        self.sender = sender
        self.now = now
        self.max_attempts = max_attempts
        self.lease = lease
        self.whatsapp = whatsapp
        self._session = session_factory(engine)

    def _claimable(self, now: datetime) -> Any:
        return or_(
            and_(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now),
            and_(OutboxMessage.status == SENDING, OutboxMessage.lease_until < now),
        )

    def _claim(self, message_id: int, now: datetime) -> str | None:
        """Take a message for this worker only; the claim token, or None if taken."""
        token = secrets.token_hex(16)
        with self._session.begin() as session:
            claimed = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, self._claimable(now))
                .values(status=SENDING, claim_token=token, lease_until=now + self.lease)
            )
        return token if claimed.rowcount == 1 else None

    def _renew(self, message_id: int, token: str) -> None:
        with self._session.begin() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.claim_token == token)
                .values(lease_until=self.now() + self.lease)
            )

    def deliver_due(self, limit: int = 20) -> DeliveryReport:
        """Send every queued message that is due; failures are rescheduled."""
        report = DeliveryReport()
        now = self.now()
        with self._session() as session:
            due = (
                session.execute(
                    select(OutboxMessage.id)
                    .where(self._claimable(now))
                    .order_by(OutboxMessage.id)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
        for message_id in due:
            token = self._claim(message_id, now)
            if token is None:
                continue
            outcome = self._send(message_id, token)
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    def _compose(self, row: OutboxMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = self.cipher.decrypt(row.recipient_enc)
        email["Subject"] = row.subject
        email["Message-ID"] = make_msgid(
            idstring=f"caso{row.case_id}m{row.id}", domain="iess.gob.ec"
        )
        email.set_content(self.cipher.decrypt(row.body_enc))
        return email

    def _send_renewing(self, message_id: int, token: str) -> None:
        """Send in a thread, renewing the claim until the send returns."""
        failure: list[BaseException] = []

        def send() -> None:
            try:
                with self._session() as session:  # read once, decrypted before sending
                    row = session.get(OutboxMessage, message_id)
                    if row.channel == WHATSAPP:
                        notice = (
                            self.cipher.decrypt(row.recipient_enc),
                            self.cipher.decrypt(row.body_enc),
                            row.subject,  # the case number, for the template
                        )
                    else:
                        email = self._compose(row)
                if row.channel == WHATSAPP:
                    if self.whatsapp is None:
                        raise WhatsAppNotConfigured()
                    self.whatsapp.send(*notice)
                    return
                self.transport.send(email)
            except BaseException as error:
                failure.append(error)

        worker = threading.Thread(target=send, name=f"outbox-{message_id}", daemon=True)
        worker.start()
        beat = max(self.lease.total_seconds() / 3, 0.05)
        while True:
            worker.join(beat)
            if not worker.is_alive():
                break
            self._renew(message_id, token)
        if failure:
            raise failure[0]

    def _send(self, message_id: int, token: str) -> str:
        try:  # a message that cannot even be read (a wrong key) must not stop the others
            self._send_renewing(message_id, token)
        except Exception as error:  # any failure: keep it queued, say only what kind
            return self._failed(message_id, token, type(error).__name__)
        with self._session.begin() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.claim_token == token)
                .values(
                    status=SENT,
                    attempts=OutboxMessage.attempts + 1,
                    sent_at=self.now(),
                    last_error=None,
                    claim_token=None,
                    lease_until=None,
                    recipient_enc=None,
                    body_enc=None,
                )
            )
        logger.info("e-mail %s sent", message_id)
        return "sent"

    def _failed(self, message_id: int, token: str, error_name: str) -> str:
        with self._session.begin() as session:
            row = session.get(OutboxMessage, message_id)
            if row.claim_token != token:
                return "failed"
            row.attempts += 1
            row.last_error = error_name[:200]
            row.claim_token = None
            row.lease_until = None
            if row.attempts >= self.max_attempts:
                row.status = DEAD
            else:
                row.status = PENDING
                row.next_attempt_at = self.now() + retry_delay(row.attempts)
            attempts, dead = row.attempts, row.status == DEAD
        if dead:
            logger.error(
                "e-mail %s is a dead letter after %d attempts (%s): "
                "see `python -m buzon.outbox_worker --dead-letters`",
                message_id,
                attempts,
                error_name,
            )
            return "dead"
        logger.warning("e-mail %s not sent (%s); retry later", message_id, error_name)
        return "failed"

    def dead_letters(self) -> list[DeadLetter]:
        with self._session() as session:
            rows = session.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.case_id,
                    OutboxMessage.subject,
                    OutboxMessage.attempts,
                    OutboxMessage.last_error,
                    OutboxMessage.created_at,
                )
                .where(OutboxMessage.status == DEAD)
                .order_by(OutboxMessage.id)
            ).all()
        return [DeadLetter(*row) for row in rows]

    def retry_dead(self) -> int:
        """Queue every dead letter again, from its first attempt."""
        with self._session.begin() as session:
            done = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == DEAD)
                .values(status=PENDING, attempts=0, next_attempt_at=self.now())
            )
        return int(done.rowcount)
