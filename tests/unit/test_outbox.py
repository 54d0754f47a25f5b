"""Confirmation e-mails: sent over real SMTP (TLS verified), kept and retried when
sending fails, given up as dead letters, sent once even when a send is slow, and
forgotten once delivered."""

import datetime as dt
import ssl
import threading
import time
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from buzon import outbox
from buzon.cases.models import Case
from buzon.cases.store import CaseStore
from buzon.db import session_factory
from tests.unit.test_case_store import draft


class Clock:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now


def plain(host, port, **more):
    """SMTP without TLS: only the tests' local aiosmtpd server speaks it."""
    return outbox.SmtpTransport(host, port, security="none", **more)


def messages_of(engine, number):
    with session_factory(engine)() as session:
        case_id = session.query(Case.id).filter(Case.number == number).scalar()
        return session.query(outbox.OutboxMessage).filter_by(case_id=case_id).all()


def received(mailbox, number):
    return [m for m in mailbox.messages if number in m["Subject"]]


def register(engine, cipher, clock, **changes):
    consent_at = clock.now - timedelta(minutes=5)
    return CaseStore(engine, cipher, now=clock).register(draft(consent_at=consent_at, **changes))


def test_confirmation_email_reaches_a_real_smtp_server(engine, cipher, smtp_server):
    host, port, mailbox = smtp_server
    clock = Clock(datetime(2026, 11, 23, 15, 0))
    registration = register(engine, cipher, clock, email="lector@example.com")
    box = outbox.Outbox(engine, cipher, plain(host, port), "IESS <buzon@iess.gob.ec>", now=clock)
    report = box.deliver_due(limit=1000)
    assert report.sent >= 1
    [message] = received(mailbox, registration.number)
    assert message["To"] == "lector@example.com"
    body = message.get_content()
    assert registration.tracking_key in body and registration.area_name in body
    assert "10:00 (hora de Ecuador)" in body
    [row] = messages_of(engine, registration.number)
    assert row.status == "sent" and row.sent_at == clock.now


def test_once_sent_neither_recipient_nor_body_is_kept(engine, cipher, smtp_server):
    host, port, _mailbox = smtp_server
    clock = Clock(datetime(2026, 11, 23, 16, 0))
    registration = register(engine, cipher, clock)
    outbox.Outbox(engine, cipher, plain(host, port), "x@iess.gob.ec", now=clock).deliver_due(1000)
    [row] = messages_of(engine, registration.number)
    assert row.status == "sent"
    assert row.recipient_enc is None and row.body_enc is None
    assert registration.number in row.subject


def test_a_failed_send_keeps_the_email_queued_and_retries_it_later(engine, cipher, smtp_server):
    host, port, mailbox = smtp_server
    clock = Clock(datetime(2026, 11, 24, 9, 0))
    registration = register(engine, cipher, clock)
    closed_port = plain("127.0.0.1", 9, timeout=2)  # nothing listens on port 9
    outbox.Outbox(engine, cipher, closed_port, "x@iess.gob.ec", now=clock).deliver_due(limit=1000)
    [row] = messages_of(engine, registration.number)
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error and "@" not in row.last_error
    assert row.next_attempt_at == clock.now + timedelta(seconds=30)

    working = outbox.Outbox(engine, cipher, plain(host, port), "x@iess.gob.ec", now=clock)
    working.deliver_due(limit=1000)
    assert not received(mailbox, registration.number), "not due yet"
    clock.now += timedelta(seconds=31)
    working.deliver_due(limit=1000)
    assert received(mailbox, registration.number)
    [row] = messages_of(engine, registration.number)
    assert row.status == "sent" and row.attempts == 2


def test_after_the_last_try_the_email_is_a_dead_letter_until_requeued(engine, cipher, smtp_server):
    host, port, mailbox = smtp_server
    clock = Clock(datetime(2026, 11, 24, 12, 0))
    registration = register(engine, cipher, clock)
    failing = outbox.Outbox(
        engine, cipher, plain("127.0.0.1", 9, timeout=2), "x@iess.gob.ec", now=clock, max_attempts=3
    )
    for _ in range(3):
        failing.deliver_due(limit=1000)
        clock.now += timedelta(hours=2)
    [row] = messages_of(engine, registration.number)
    assert row.status == "dead" and row.attempts == 3
    assert [registration.number in letter.subject for letter in failing.dead_letters()].count(
        True
    ) == 1
    clock.now += timedelta(days=1)
    failing.deliver_due(limit=1000)
    assert messages_of(engine, registration.number)[0].attempts == 3, "a dead letter is not retried"

    working = outbox.Outbox(engine, cipher, plain(host, port), "x@iess.gob.ec", now=clock)
    assert working.retry_dead() >= 1
    working.deliver_due(limit=1000)
    assert received(mailbox, registration.number)
    assert not [
        letter for letter in working.dead_letters() if registration.number in letter.subject
    ]


class SlowTransport:
    """Sends through ``inner`` after ``seconds``: a slow SMTP server."""

    def __init__(self, inner, seconds):
        self.inner, self.seconds = inner, seconds
        self.started = threading.Event()

    def send(self, message):
        self.started.set()
        time.sleep(self.seconds)
        self.inner.send(message)


def test_a_send_slower_than_the_lease_is_not_sent_twice(engine, cipher, smtp_server):
    host, port, mailbox = smtp_server
    registration = register(engine, cipher, Clock(outbox.utcnow()))
    lease = timedelta(seconds=0.6)
    slow = SlowTransport(plain(host, port), seconds=2.5)
    first = outbox.Outbox(engine, cipher, slow, "x@iess.gob.ec", lease=lease)
    second = outbox.Outbox(engine, cipher, plain(host, port), "x@iess.gob.ec", lease=lease)
    worker = threading.Thread(target=first.deliver_due, kwargs={"limit": 1000})
    worker.start()
    assert slow.started.wait(10)
    for _ in range(4):  # well past the lease, while the first send is still running
        time.sleep(0.5)
        second.deliver_due(limit=1000)
    worker.join(20)
    assert len(received(mailbox, registration.number)) == 1
    assert messages_of(engine, registration.number)[0].status == "sent"


def test_a_worker_that_died_mid_send_loses_its_claim_when_the_lease_ends(
    engine, cipher, smtp_server
):
    host, port, mailbox = smtp_server
    clock = Clock(datetime(2026, 11, 26, 9, 0))
    registration = register(engine, cipher, clock)
    box = outbox.Outbox(engine, cipher, plain(host, port), "x@iess.gob.ec", now=clock)
    [row] = messages_of(engine, registration.number)
    assert box._claim(row.id, clock.now)  # claimed, then the worker died
    box.deliver_due(limit=1000)
    assert not received(mailbox, registration.number), "claimed by another worker"
    clock.now += outbox.LEASE + timedelta(seconds=1)
    box.deliver_due(limit=1000)
    assert len(received(mailbox, registration.number)) == 1


def test_an_unreadable_message_does_not_stop_the_others(engine, cipher, smtp_server):
    from cryptography.fernet import Fernet

    from buzon.crypto import FieldCipher

    host, port, mailbox = smtp_server
    clock = Clock(datetime(2026, 11, 27, 9, 0))
    other_key = FieldCipher(Fernet.generate_key().decode())  # e.g. queued before a key change
    unreadable = register(engine, other_key, clock)
    readable = register(engine, cipher, clock)
    box = outbox.Outbox(engine, cipher, plain(host, port), "x@iess.gob.ec", now=clock)
    report = box.deliver_due(limit=1000)
    assert report.failed >= 1
    assert received(mailbox, readable.number)
    [row] = messages_of(engine, unreadable.number)
    assert row.status == "pending" and row.last_error == "InvalidToken"


def test_retry_delay_doubles_up_to_an_hour():
    delays = [outbox.retry_delay(n).total_seconds() for n in (1, 2, 3, 10, 50)]
    assert delays == [30, 60, 120, 3600, 3600]


# --- the embedded mailbox --------------------------------------------------------------


def test_without_smtp_the_email_is_kept_encrypted_read_back_and_purged(engine, cipher, tmp_path):
    clock = Clock(datetime(2026, 11, 25, 9, 0))
    registration = register(engine, cipher, clock)
    transport = outbox.DirectoryTransport(tmp_path / "mail", cipher)
    outbox.Outbox(engine, cipher, transport, "x@iess.gob.ec", now=clock).deliver_due(limit=1000)
    files = list((tmp_path / "mail").iterdir())
    assert files and all(f.stat().st_mode & 0o077 == 0 for f in files)
    raw = b"".join(f.read_bytes() for f in files)
    assert registration.tracking_key.encode() not in raw and registration.number.encode() not in raw
    [mail] = [
        m
        for m in outbox.read_mailbox(tmp_path / "mail", cipher)
        if registration.number in m["Subject"]
    ]
    assert registration.tracking_key in mail.get_content()
    assert outbox.purge_mailbox(tmp_path / "mail", datetime.utcnow() - timedelta(hours=1)) == 0
    assert outbox.purge_mailbox(tmp_path / "mail", datetime.utcnow() + timedelta(minutes=1)) == len(
        files
    )
    assert not list((tmp_path / "mail").iterdir())


# --- TLS ------------------------------------------------------------------------------


def _certificate(folder):
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = dt.datetime.now(dt.timezone.utc)
    import ipaddress

    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.pem", folder / "smtp.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture()
def starttls_server(tmp_path):
    """aiosmtpd that requires STARTTLS and a login, with a self-signed certificate."""
    import socket

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from tests.conftest import _Mailbox

    cert_file, key_file = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = _Mailbox()

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"buzon" and auth_data.password == b"clave-secreta"
        return AuthResult(success=ok)

    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    yield "127.0.0.1", port, mailbox, cert_file
    controller.stop()


def test_starttls_with_a_verified_certificate_and_login(engine, cipher, starttls_server):
    host, port, mailbox, cert_file = starttls_server
    clock = Clock(datetime(2026, 11, 28, 9, 0))
    registration = register(engine, cipher, clock)
    transport = outbox.SmtpTransport(host, port, "buzon", "clave-secreta", ca_file=str(cert_file))
    assert transport.security == "starttls"  # the default
    outbox.Outbox(engine, cipher, transport, "x@iess.gob.ec", now=clock).deliver_due(limit=1000)
    assert received(mailbox, registration.number)


def test_a_certificate_that_cannot_be_verified_stops_the_send(engine, cipher, starttls_server):
    host, port, mailbox, _cert_file = starttls_server
    clock = Clock(datetime(2026, 11, 28, 10, 0))
    registration = register(engine, cipher, clock)
    unverified = outbox.SmtpTransport(host, port, "buzon", "clave-secreta")  # system CAs only
    outbox.Outbox(engine, cipher, unverified, "x@iess.gob.ec", now=clock).deliver_due(limit=1000)
    assert not received(mailbox, registration.number)
    [row] = messages_of(engine, registration.number)
    assert row.status == "pending" and row.last_error == "SSLCertVerificationError"


def test_a_password_is_never_sent_without_tls(engine, cipher, smtp_server):
    host, port, mailbox = smtp_server
    clock = Clock(datetime(2026, 11, 28, 11, 0))
    registration = register(engine, cipher, clock)
    insecure = outbox.SmtpTransport(host, port, "buzon", "clave-secreta", security="none")
    outbox.Outbox(engine, cipher, insecure, "x@iess.gob.ec", now=clock).deliver_due(limit=1000)
    assert not received(mailbox, registration.number)
    assert messages_of(engine, registration.number)[0].last_error == "InsecureLogin"


def test_a_server_without_starttls_is_refused_by_default(engine, cipher, smtp_server):
    host, port, mailbox = smtp_server
    clock = Clock(datetime(2026, 11, 28, 12, 0))
    registration = register(engine, cipher, clock)
    outbox.Outbox(
        engine, cipher, outbox.SmtpTransport(host, port), "x@iess.gob.ec", now=clock
    ).deliver_due(limit=1000)
    assert not received(mailbox, registration.number)
    assert messages_of(engine, registration.number)[0].last_error == "SMTPNotSupportedError"
