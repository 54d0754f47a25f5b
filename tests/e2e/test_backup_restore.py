"""Backup and restore drill, with the real PostgreSQL client tools (docs/deployment.md).

Two fresh databases, as in production: the case database (cases, evidence, outbox)
and the tracker database (the encrypted conversation history). Cases with evidence
are registered through the real stores and a conversation is saved through the real
tracker store; then both databases are dumped with ``pg_dump -Fc``, dropped, created
again with ``createdb`` and restored with ``pg_restore``. Everything must come back
(every case, every evidence byte, the numbering, the conversation), the dumps must
hold no personal datum in clear, and the restore read with another key must give
nothing readable.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet, InvalidToken
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import select, text

from buzon import consent, crypto, db, keys, wiring
from buzon.cases.models import Case
from buzon.cases.store import CaseDraft, CaseStore
from buzon.clock import utcnow
from buzon.evidence import Evidence, EvidenceStore
from persistence import keys as conversation_keys
from persistence.encrypted_tracker_store import EncryptedSQLTrackerStore
from tests import synthetic, synthetic_files

pytestmark = pytest.mark.e2e

ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BASE_URL = ADMIN_URL.rsplit("/", 1)[0]
DOMAIN = Domain.from_yaml("""
slots:
  cedula:
    type: text
    mappings:
    - type: custom
  description:
    type: text
    mappings:
    - type: custom
""")

# What the citizens gave: each value is unusual enough that finding it in a dump
# can only mean it was stored in clear; so is one word of each story and address.
QUEJA = dict(
    kind="queja",
    category="queja_turnos",
    cedula=synthetic.cedula("091357924"),
    phone="+593987651234",
    email="respaldo.quejosa@example.com",
    province_code="09",
    canton_code="0901",
    address="Calle Zafiro 4417 y Pasaje Turquesa",
    description="Tres meses esperando turno de reumatologia en el hospital Xylofono.",
    channel="socketio",
)
DENUNCIA = dict(
    kind="denuncia",
    category="denuncia_coima",
    cedula=synthetic.cedula("171246803"),
    phone="+593998761122",
    email="respaldo.denunciante@example.org",
    province_code="17",
    canton_code="1701",
    address="Avenida Obsidiana N88-12 junto al mercado",
    description="El funcionario Quetzalcoatl Mendoza pidio ochenta dolares por el turno.",
    channel="rest",
)
BY_WHATSAPP = dict(
    kind="queja",
    category="queja_turnos",
    cedula=synthetic.cedula("060864213"),
    phone="+593961234570",
    email=None,
    province_code="06",
    canton_code="0601",
    address="Barrio Lapislazuli casa 9",
    description="Nadie contesta en el call center desde hace semanas, caso Wolframio.",
    channel="whatsapp",
    whatsapp_id="593961234570",
)
SENSITIVE = [
    value
    for fields in (QUEJA, DENUNCIA, BY_WHATSAPP)
    for value in (
        fields["cedula"],
        fields["phone"],
        fields["phone"][4:],  # the national digits, however formatted
        fields["email"],
        fields["address"],
        fields["description"],
        fields.get("whatsapp_id"),
    )
    if value
] + ["Xylofono", "Quetzalcoatl", "Wolframio", "Zafiro", "Obsidiana", "Lapislazuli"]
CHAT_CEDULA = synthetic.cedula("171357246")
TYPED_IN_CHAT = f"mi cedula es {CHAT_CEDULA} y me llamo Eustaquia Vilcabamba"


def _psql_admin(statement: str) -> None:
    subprocess.run(
        ["psql", "--no-psqlrc", "-q", "-v", "ON_ERROR_STOP=1", ADMIN_URL, "-c", statement],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _drop(name: str) -> None:
    _psql_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    _psql_admin(f'DROP DATABASE IF EXISTS "{name}"')


def _exists(name: str) -> bool:
    found = subprocess.run(
        [
            "psql",
            "--no-psqlrc",
            "-tA",
            ADMIN_URL,
            "-c",
            f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return found.stdout.strip() == "1"


def _run(*command: str) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, timeout=60)
    assert done.returncode == 0, f"{command[0]} failed: {done.stderr.decode()[-2000:]}"
    return done


@pytest.fixture()
def databases():
    """Names for this drill's databases; every one that exists at the end is dropped."""
    try:
        _psql_admin("SELECT 1")
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL and its client tools are required in CI: {error}")
        pytest.skip(f"PostgreSQL or psql not available: {error}")
    prefix = f"buzon_backup_{uuid.uuid4().hex[:8]}"
    names = {
        role: f"{prefix}_{role}"
        for role in ("cases", "tracker", "cases_restored", "tracker_restored")
    }
    yield names
    for name in names.values():
        _drop(name)


@pytest.fixture()
def key_env(monkeypatch, tmp_path):
    """Points this process's wiring at a key (the tracker store reads it from there)."""

    def use(key: str, database_url: str) -> crypto.FieldCipher:
        monkeypatch.setenv("CASE_ENCRYPTION_KEY", key)
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("BUZON_PROFILE", "production")
        monkeypatch.setenv("BUZON_VAR_DIR", str(tmp_path / "var"))
        wiring.reset()
        return wiring.current().cipher

    yield use
    wiring.reset()


def _tracker_store(database: str) -> EncryptedSQLTrackerStore:
    where = urlsplit(BASE_URL)
    return EncryptedSQLTrackerStore(
        domain=DOMAIN,
        dialect="postgresql",
        host=where.hostname,
        port=where.port or 5432,
        db=database,
        username=where.username,
        password=where.password,
    )


def _register(store: CaseStore, files: EvidenceStore, fields: dict, attachments: dict) -> tuple:
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    for name, content in attachments.items():
        files.add(conversation, "r1", fields["kind"], name, content)
    registration = store.register(
        CaseDraft(
            **fields,
            consent_version=consent.current().version,
            consent_at=utcnow() - timedelta(minutes=2),
            conversation_id=conversation,
            registration_id="r1",
        )
    )
    return registration, attachments


def _evidence_of(engine, files: EvidenceStore, number: str) -> dict[str, bytes]:
    """The case's files, decrypted: {name: content}."""
    with db.session_factory(engine)() as session:
        rows = session.execute(
            select(Evidence.id, Evidence.name_enc)
            .join(Case, Case.id == Evidence.case_id)
            .where(Case.number == number)
            .order_by(Evidence.id)
        ).all()
    return {files.cipher.decrypt(row.name_enc): files.read(row.id) for row in rows}


def _dump(url: str, path: Path) -> bytes:
    _run("pg_dump", "--format=custom", f"--dbname={url}", f"--file={path}")
    return path.read_bytes()


def _restore(dump: Path, name: str) -> str:
    _run("createdb", f"--maintenance-db={ADMIN_URL}", name)
    url = f"{BASE_URL}/{name}"
    _run("pg_restore", "--exit-on-error", "--no-owner", f"--dbname={url}", str(dump))
    return url


def test_dumped_databases_restore_whole_and_stay_unreadable_without_the_key(
    databases, key_env, tmp_path
):
    cases_url = f"{BASE_URL}/{databases['cases']}"
    for role in ("cases", "tracker"):
        _run("createdb", f"--maintenance-db={ADMIN_URL}", databases[role])
    db.migrate(cases_url)
    key = Fernet.generate_key().decode()
    cipher = key_env(key, cases_url)

    # Before: three cases with their files, and a conversation, in the real stores.
    engine = db.make_engine(cases_url)
    store, files = CaseStore(engine, cipher), EvidenceStore(engine, cipher)
    registered = [
        _register(
            store,
            files,
            QUEJA,
            {"receta.pdf": synthetic_files.pdf(), "turno.png": synthetic_files.png()},
        ),
        _register(
            store,
            files,
            DENUNCIA,
            {
                "foto.jpg": synthetic_files.jpeg(),
                "grande.png": synthetic_files.png(width=3, padding=1_500_000),
            },
        ),
        _register(store, files, BY_WHATSAPP, {}),
    ]
    before = {reg.number: store.reveal(reg.number) for reg, _ in registered}
    assert [before[reg.number]["evidence_count"] for reg, _ in registered] == [2, 2, 0]
    assert _evidence_of(engine, files, registered[0][0].number) == registered[0][1]
    engine.dispose()

    tracker = _tracker_store(databases["tracker"])
    conversation = DialogueStateTracker("respaldo-conversacion", DOMAIN.slots)
    for event in (
        ActionExecuted("action_listen"),
        UserUttered(TYPED_IN_CHAT, {"name": "inform", "confidence": 0.9}),
        SlotSet("cedula", CHAT_CEDULA),
        BotUttered("Gracias, ¿cuál es su número de celular?"),
    ):
        conversation.update(event)
    asyncio.run(tracker.save(conversation))
    tracker.engine.dispose()

    # Backup: pg_dump -Fc of both databases, then the databases are gone.
    cases_dump, tracker_dump = tmp_path / "cases.dump", tmp_path / "tracker.dump"
    dumped = _dump(cases_url, cases_dump) + _dump(
        f"{BASE_URL}/{databases['tracker']}", tracker_dump
    )
    for role in ("cases", "tracker"):
        _drop(databases[role])
        assert not _exists(databases[role])

    # The dumps hold nothing personal in clear: neither in their (compressed) bytes nor
    # in the SQL they expand to, where a value in clear would have to appear.
    as_sql = "".join(
        _run("pg_restore", "--file=-", str(dump)).stdout.decode("utf-8", "replace")
        for dump in (cases_dump, tracker_dump)
    )
    assert registered[0][0].number in as_sql and "inform" in as_sql  # (the search works)
    for secret in [*SENSITIVE, TYPED_IN_CHAT, CHAT_CEDULA, "Vilcabamba"]:
        assert secret.encode() not in dumped, secret
        assert secret not in as_sql, secret
    for reg, attachments in registered:
        assert reg.tracking_key not in as_sql
        for content in attachments.values():
            assert content.hex() not in as_sql  # bytea is dumped as hex
    assert b"%PDF" not in dumped and b"JFIF" not in dumped

    # Restore: createdb + pg_restore into new databases; the schema needs no migration.
    restored_url = _restore(cases_dump, databases["cases_restored"])
    _restore(tracker_dump, databases["tracker_restored"])
    db.migrate(restored_url)  # already at head: a no-op, not a failure
    engine = db.make_engine(restored_url)
    store, files = CaseStore(engine, cipher), EvidenceStore(engine, cipher)
    try:
        for reg, attachments in registered:
            assert store.reveal(reg.number) == before[reg.number]
            assert store.status(reg.number, reg.tracking_key) is not None  # keyed hash too
            assert _evidence_of(engine, files, reg.number) == attachments
        assert before[registered[0][0].number]["cedula"] == QUEJA["cedula"]
        assert before[registered[1][0].number]["description"] == DENUNCIA["description"]
        assert before[registered[2][0].number]["whatsapp_id"] == BY_WHATSAPP["whatsapp_id"]
        assert store.numbers_for_cedula(DENUNCIA["cedula"]) == [registered[1][0].number]

        # The numbering goes on where it was: no number is given twice.
        last_queja = max(int(reg.number[-6:]) for reg, _ in registered if "-Q-" in reg.number)
        last_denuncia = int(registered[1][0].number[-6:])
        after_queja, _ = _register(store, files, QUEJA, {"nuevo.png": synthetic_files.png()})
        after_denuncia, _ = _register(store, files, DENUNCIA, {})
        assert int(after_queja.number[-6:]) == last_queja + 1
        assert int(after_denuncia.number[-6:]) == last_denuncia + 1
        assert store.reveal(after_queja.number)["evidence_count"] == 1
        assert store.numbers_for_cedula(QUEJA["cedula"]) == [
            registered[0][0].number,
            after_queja.number,
        ]
        assert set(keys.status(engine, cipher)) == {cipher.key_ids[0]}
    finally:
        engine.dispose()

    tracker = _tracker_store(databases["tracker_restored"])
    try:
        back = asyncio.run(tracker.retrieve("respaldo-conversacion"))
        assert back is not None and back.latest_message.text == TYPED_IN_CHAT
        assert back.get_slot("cedula") == CHAT_CEDULA
        assert [
            e.get("text") for e in back.as_dialogue().as_dict()["events"] if e["event"] == "bot"
        ] == ["Gracias, ¿cuál es su número de celular?"]
        assert dict(conversation_keys.status(tracker.engine, cipher)) == {cipher.key_ids[0]: 4}
    finally:
        tracker.engine.dispose()

    # The same restore read with another key: nothing readable, and it says so.
    other = key_env(Fernet.generate_key().decode(), restored_url)
    engine = db.make_engine(restored_url)
    try:
        wrong = CaseStore(engine, other)
        for reg, _ in registered:
            with pytest.raises(InvalidToken) as refused:
                wrong.reveal(reg.number)
            assert str(refused.value) == ""  # the error carries no value
            assert wrong.status(reg.number, reg.tracking_key) is None
        assert wrong.numbers_for_cedula(QUEJA["cedula"]) == []
        with engine.connect() as connection:
            first_file = connection.execute(text("SELECT min(id) FROM evidence")).scalar_one()
        with pytest.raises(InvalidToken):
            EvidenceStore(engine, other).read(first_file)
        unreadable = keys.status(engine, other)
        assert set(unreadable) == {None} and unreadable[None] > 0  # key-status: UNKNOWN
    finally:
        engine.dispose()
    tracker = _tracker_store(databases["tracker_restored"])
    try:
        with pytest.raises(InvalidToken):
            asyncio.run(tracker.retrieve("respaldo-conversacion"))
        assert dict(conversation_keys.status(tracker.engine, other)) == {None: 4}
    finally:
        tracker.engine.dispose()
