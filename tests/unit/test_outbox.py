"""Confirmation e-mails: sent over real SMTP, kept and retried when sending fails."""
from datetime import datetime, timedelta

from buzon import outbox
from buzon.cases.models import OutboxMessage
from buzon.cases.store import CaseStore
from buzon.db import session_factory
from tests.unit.test_case_store import draft


class Clock:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now


def pending(engine, number):
    with session_factory(engine)() as session:
        return [m for m in session.query(OutboxMessage).all() if m.case.number == number]


def test_confirmation_email_reaches_a_real_smtp_server(engine, cipher, smtp_server):
    host, port, mailbox = smtp_server
    clock = Clock(datetime(2026, 11, 23, 15, 0))
    registration = CaseStore(engine, cipher, now=clock).register(draft(email="lector@example.com"))
    box = outbox.Outbox(engine, cipher, outbox.SmtpTransport(host, port), "IESS <buzon@iess.gob.ec>", now=clock)
    report = box.deliver_due(limit=1000)
    assert report.sent >= 1
    [message] = [m for m in mailbox.messages if registration.number in m["Subject"]]
    assert message["To"] == "lector@example.com"
    body = message.get_content()
    assert registration.tracking_key in body and registration.area_name in body
    assert "10:00 (hora de Ecuador)" in body
    [row] = pending(engine, registration.number)
    assert row.status == "sent" and row.sent_at == clock.now


def test_a_failed_send_keeps_the_email_queued_and_retries_it_later(engine, cipher, smtp_server):
    host, port, mailbox = smtp_server
    clock = Clock(datetime(2026, 11, 24, 9, 0))
    registration = CaseStore(engine, cipher, now=clock).register(draft())
    closed_port = outbox.SmtpTransport("127.0.0.1", 9, timeout=2)  # nothing listens on port 9
    outbox.Outbox(engine, cipher, closed_port, "x@iess.gob.ec", now=clock).deliver_due(limit=1000)
    [row] = pending(engine, registration.number)
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error and "@" not in row.last_error
    assert row.next_attempt_at == clock.now + timedelta(seconds=30)

    working = outbox.Outbox(engine, cipher, outbox.SmtpTransport(host, port), "x@iess.gob.ec", now=clock)
    working.deliver_due(limit=1000)
    assert not [m for m in mailbox.messages if registration.number in m["Subject"]], "not due yet"
    clock.now += timedelta(seconds=31)
    working.deliver_due(limit=1000)
    assert [m for m in mailbox.messages if registration.number in m["Subject"]]
    [row] = pending(engine, registration.number)
    assert row.status == "sent" and row.attempts == 2


def test_without_smtp_the_email_is_written_as_an_eml_file(engine, cipher, tmp_path):
    clock = Clock(datetime(2026, 11, 25, 9, 0))
    registration = CaseStore(engine, cipher, now=clock).register(draft())
    box = outbox.Outbox(engine, cipher, outbox.DirectoryTransport(tmp_path), "x@iess.gob.ec", now=clock)
    box.deliver_due(limit=1000)
    texts = [p.read_text() for p in tmp_path.glob("*.eml")]
    assert any(registration.number in t for t in texts)


def test_retry_delay_doubles_up_to_an_hour():
    delays = [outbox.retry_delay(n).total_seconds() for n in (1, 2, 3, 10, 50)]
    assert delays == [30, 60, 120, 3600, 3600]


def test_a_message_claimed_by_one_sender_is_not_sent_by_another(engine, cipher, smtp_server):
    host, port, mailbox = smtp_server
    clock = Clock(datetime(2026, 11, 26, 9, 0))
    registration = CaseStore(engine, cipher, now=clock).register(draft())
    box = outbox.Outbox(engine, cipher, outbox.SmtpTransport(host, port), "x@iess.gob.ec", now=clock)
    [row] = pending(engine, registration.number)
    with session_factory(engine).begin() as session:
        assert box._claim(session, row.id, clock.now)
    box.deliver_due(limit=1000)
    assert not [m for m in mailbox.messages if registration.number in m["Subject"]]


def test_an_unreadable_message_does_not_stop_the_others(engine, cipher, smtp_server):
    from cryptography.fernet import Fernet

    from buzon.crypto import FieldCipher

    host, port, mailbox = smtp_server
    clock = Clock(datetime(2026, 11, 27, 9, 0))
    other_key = FieldCipher(Fernet.generate_key().decode())  # e.g. queued before a key change
    unreadable = CaseStore(engine, other_key, now=clock).register(draft())
    readable = CaseStore(engine, cipher, now=clock).register(draft())
    box = outbox.Outbox(engine, cipher, outbox.SmtpTransport(host, port), "x@iess.gob.ec", now=clock)
    report = box.deliver_due(limit=1000)
    assert report.failed >= 1
    assert [m for m in mailbox.messages if readable.number in m["Subject"]]
    [row] = pending(engine, unreadable.number)
    assert row.status == "pending" and row.last_error == "InvalidToken"
