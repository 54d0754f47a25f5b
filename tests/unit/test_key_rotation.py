"""Key rotation: a new key in front, everything re-encrypted, the older keys dropped,
and every case still readable and findable (its lookups hash with the index key)."""

import asyncio
from datetime import datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from buzon import crypto, keys
from buzon.cases.store import CaseStore
from buzon.evidence import EvidenceStore
from persistence import keys as conversation_keys
from persistence.encrypted_tracker_store import EncryptedSQLTrackerStore
from tests import synthetic, synthetic_files
from tests.unit.test_case_store import draft


def new_key() -> str:
    return Fernet.generate_key().decode()


def test_a_malformed_key_list_is_refused_without_showing_it():
    key = new_key()
    with pytest.raises(crypto.KeyConfigurationError) as refused:
        crypto.FieldCipher(f"{key},{key[:-4]}")
    assert "entry 2" in str(refused.value) and key[:10] not in str(refused.value)
    with pytest.raises(crypto.KeyConfigurationError):
        crypto.FieldCipher(f"{key},{key}")


def test_rotation_moves_every_value_to_the_new_key_and_keeps_the_lookups(engine, tmp_path):
    original, middle, newest = new_key(), new_key(), new_key()
    before = crypto.FieldCipher(f"{middle},{original}")
    cedula = synthetic.cedula("171177441")
    now = datetime(2026, 11, 29, 12, 0)
    registration = CaseStore(engine, before, now=lambda: now).register(
        draft(cedula=cedula, consent_at=now - timedelta(minutes=3))
    )
    files = EvidenceStore(engine, before)
    stored = files.add("rotating", "r1", "queja", "foto.png", synthetic_files.png())

    after = crypto.FieldCipher(f"{newest},{middle},{original}")
    assert keys.status(engine, after)[after.key_ids[0]] == 0
    assert keys.reencrypt(engine, after) > 0
    counts = keys.status(engine, after)
    assert counts[after.key_ids[1]] == 0 and counts[after.key_ids[0]] > 0

    dropped = crypto.FieldCipher(f"{newest},{original}")  # the middle key is gone
    remaining = keys.status(engine, dropped)  # (other tests' rows: None, another key)
    assert remaining[dropped.key_ids[0]] > 0 and remaining[dropped.key_ids[1]] == 0
    store = CaseStore(engine, dropped)
    assert store.reveal(registration.number)["cedula"] == cedula
    assert store.status(registration.number, registration.tracking_key) is not None
    assert registration.number in store.numbers_for_cedula(cedula)
    assert EvidenceStore(engine, dropped).read(stored.id) == synthetic_files.png()


def test_the_conversation_history_is_rotated_too(tmp_path, wired):
    original = new_key()
    wired(CASE_ENCRYPTION_KEY=original)
    domain = Domain.from_yaml(
        "slots:\n  cedula:\n    type: text\n    mappings:\n    - type: custom\n"
    )
    store = EncryptedSQLTrackerStore(domain=domain, dialect="sqlite", db=str(tmp_path / "t.db"))
    tracker = DialogueStateTracker("rotando", domain.slots)
    tracker.update(UserUttered("hola", {"name": "greet"}))
    tracker.update(SlotSet("cedula", "1711774410"))
    asyncio.run(store.save(tracker))

    rotated = wired(CASE_ENCRYPTION_KEY=f"{new_key()},{original}")
    assert conversation_keys.reencrypt(store.engine, rotated.cipher) == 2
    assert dict(conversation_keys.status(store.engine, rotated.cipher)) == {
        rotated.cipher.key_ids[0]: 2
    }
    assert asyncio.run(store.retrieve("rotando")).get_slot("cedula") == "1711774410"


def test_every_encrypted_column_of_every_table_moves_and_survives_dropping_the_old_key(tmp_path):
    """Cases, WhatsApp numbers, timeline notes and messages, reveal reasons, staff
    second factors, outbox, evidence: after reencrypt nothing needs the old key."""
    from sqlalchemy import select

    from buzon import db
    from buzon.audit import AuditLog
    from buzon.staff.accounts import AccountStore
    from buzon.staff.desk import CaseDesk

    url = f"sqlite:///{tmp_path / 'rotation.db'}"
    db.migrate(url)
    engine = db.make_engine(url)
    old, newest, index = new_key(), new_key(), new_key()
    before = crypto.FieldCipher(f"{old},{index}")
    now = datetime.utcnow()
    store = CaseStore(engine, before)
    queja = store.register(
        draft(consent_at=now, channel="whatsapp", whatsapp_id="593991112255", email=None)
    )
    denuncia = store.register(draft(kind="denuncia", category="denuncia_coima", consent_at=now))
    EvidenceStore(engine, before).add("c", "r", "queja", "foto.png", synthetic_files.png())
    accounts = AccountStore(engine, before)

    def member(role, areas=()):
        email = f"{role}@iess.gob.ec"
        return accounts.save(email, role, list(areas), "una clave larga y segura").account.staff

    analyst, investigator, custodian = (
        member("analista", ["salud"]), member("investigador"), member("custodio")
    )  # fmt: skip
    desk = CaseDesk(engine, before, AuditLog(engine, before))
    desk.add_note(analyst, queja.number, "Llamar al hospital")
    desk.ask_citizen(analyst, queja.number, "¿Qué día fue?")
    desk.recategorise(analyst, queja.number, "queja_tiempo_espera", "Es espera, no turno")
    request = desk.request_reveal(investigator, denuncia.number, "Citarla como testigo")
    desk.decide_reveal(custodian, request, approve=False, reason="No corresponde")

    after = crypto.FieldCipher(f"{newest},{old},{index}")
    assert keys.reencrypt(engine, after) > 0
    dropped = crypto.FieldCipher(f"{newest},{index}")  # the old key is gone
    assert keys.status(engine, dropped)[None] == 0  # nothing only the old key reads
    # Every value of every table that any configured key reads, found without the
    # module's own list of columns: each must now be on the newest key.
    from sqlalchemy import LargeBinary, Text

    from buzon import schema

    encrypted_columns = set()
    with engine.connect() as connection:
        for table in schema.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, (Text, LargeBinary)):
                    continue
                for value in connection.execute(select(column).where(column.isnot(None))):
                    token = bytes(value[0]) if isinstance(value[0], memoryview) else value[0]
                    if after.key_id_of(token) is not None:
                        encrypted_columns.add(f"{table.name}.{column.name}")
                        assert dropped.key_id_of(token) == dropped.key_ids[0], column
    listed = keys.ENCRYPTED_TEXT + keys.ENCRYPTED_BYTES
    covered = {f"{c.class_.__tablename__}.{c.key}" for c in listed}
    assert encrypted_columns == covered  # and the test stored something in each
    assert CaseStore(engine, dropped).reveal(queja.number)["whatsapp_id"] == "593991112255"
    assert AccountStore(engine, dropped).totp_now(custodian.id)  # still signs in


def _fernet_token(configured: str, value: bytes) -> bytes:
    """A value as this project encrypted it until 2026-12: Fernet, under the field key
    that HKDF derives from the first configured key."""
    import base64

    raw = crypto.parse_keys(configured)[0]
    return Fernet(base64.urlsafe_b64encode(crypto._derive(raw, "fields"))).encrypt(value)


def test_values_written_with_fernet_are_read_and_reencrypt_moves_them_to_aes_gcm():
    key = new_key()
    cipher = crypto.FieldCipher(key)
    legacy_text = _fernet_token(key, b"0926687856").decode("ascii")
    legacy_file = _fernet_token(key, synthetic_files.png())
    assert cipher.decrypt(legacy_text) == "0926687856"
    assert cipher.decrypt_bytes(legacy_file) == synthetic_files.png()
    # on the newest key already, but in the old format: still moved
    assert cipher.key_id_of(legacy_text) == cipher.key_ids[0]
    assert not cipher.is_current(legacy_text) and not cipher.is_current(legacy_file)
    moved_text, moved_file = keys.rotated(cipher, legacy_text), keys.rotated(cipher, legacy_file)
    assert cipher.is_current(moved_text) and cipher.is_current(moved_file)
    assert cipher.decrypt(moved_text) == "0926687856"
    assert cipher.decrypt_bytes(moved_file) == synthetic_files.png()
    assert keys.rotated(cipher, moved_text) is None
    # make key-status tells them apart, so that an operator sees what reencrypt will move
    kid = cipher.key_ids[0]
    assert cipher.status_of(legacy_text) == f"{kid} (Fernet)"
    assert cipher.status_of(moved_text) == kid and cipher.status_of("no token") is None
    # a file is stored raw, not as base64 (Fernet made it a third larger)
    assert len(moved_file) == len(synthetic_files.png()) + 33


def test_a_token_changed_anywhere_is_refused():
    from cryptography.fernet import InvalidToken

    cipher = crypto.FieldCipher(new_key())
    other = crypto.FieldCipher(new_key())
    sealed = cipher.encrypt_bytes(b"1712345678")
    for position in range(len(sealed)):  # version, key tag, nonce, ciphertext, GCM tag
        changed = bytearray(sealed)
        changed[position] ^= 0x01
        with pytest.raises(InvalidToken):
            cipher.decrypt_bytes(bytes(changed))
    for not_a_token in (b"", sealed[:20], other.encrypt_bytes(b"x"), b'{"event": "user"}'):
        with pytest.raises(InvalidToken):
            cipher.decrypt_bytes(not_a_token)
    for text in ("", '{"event": "user"}', "gAAAAAB", "sAAA", "ñandú", other.encrypt("x")):
        with pytest.raises(InvalidToken):
            cipher.decrypt(text)
        assert cipher.key_id_of(text) is None
        assert not cipher.is_current(text) and keys.rotated(cipher, text) is None
    assert cipher.encrypt("x") != cipher.encrypt("x")  # a nonce of its own each time


def test_two_keys_with_the_same_public_id_are_refused(monkeypatch):
    """A token names its key by the key's 4-byte public id: two keys sharing one (one
    chance in 2**32) would leave one of them unreadable, so the list is refused."""
    first, second = new_key(), new_key()
    monkeypatch.setattr(crypto, "key_id", lambda raw: "0badcafe")
    with pytest.raises(crypto.KeyConfigurationError) as refused:
        crypto.FieldCipher(f"{first},{second}")
    assert first[:10] not in str(refused.value) and second[:10] not in str(refused.value)
