"""Evidence: identified by content, limited by kind, stored encrypted and linked to the case."""

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from buzon.cases.store import CaseStore
from buzon.evidence import MAX_FILES, EvidenceStore, sniff
from buzon.validation import Invalid
from tests import synthetic, synthetic_files
from tests.unit.test_case_store import draft


@pytest.fixture()
def files(engine, cipher):
    return EvidenceStore(engine, cipher)


@pytest.mark.parametrize(
    "content, kind",
    [
        (synthetic_files.png(), "png"),
        (synthetic_files.jpeg(), "jpg"),
        (synthetic_files.pdf(), "pdf"),
    ],
)
def test_pdf_jpeg_and_png_are_recognised_by_their_bytes(content, kind):
    assert sniff(content) == kind


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"MZ\x90\x00\x03" + b"\x00" * 100, "evidence_type"),  # a Windows program renamed .png
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "evidence_type"),  # a Linux program
        (b"Esto es texto, no un PDF\n", "evidence_type"),  # a text file called .pdf
        (b"%PDF-1.4\n" + b"A" * 200, "evidence_damaged"),  # starts like a PDF, is none
        (synthetic_files.png()[:-12], "evidence_damaged"),  # a cut PNG
        (b"", "evidence_empty"),
    ],
)
def test_anything_else_is_refused_with_the_reason(content, reason):
    with pytest.raises(Invalid) as refused:
        sniff(content)
    assert refused.value.reason == reason


def test_a_queja_takes_up_to_1_mb_and_a_denuncia_up_to_20_mb(files):
    two_mb = synthetic_files.png(padding=2 * 1024 * 1024)
    with pytest.raises(Invalid) as refused:
        files.add("conv-size", "r1", "queja", "foto.png", two_mb)
    assert refused.value.reason == "evidence_too_large" and refused.value.details == {"limit_mb": 1}
    assert files.add("conv-size", "r2", "denuncia", "foto.png", two_mb).size == len(two_mb)


def test_a_stored_file_is_encrypted_indexed_by_a_keyed_hash_and_read_back(files, engine):
    content = synthetic_files.pdf()
    stored = files.add("conv-store", "r1", "queja", "../../etc/receta.pdf", content)
    with engine.connect() as connection:
        row = (
            connection.execute(text("SELECT * FROM evidence WHERE id = :i"), {"i": stored.id})
            .mappings()
            .one()
        )
    dump = repr(dict(row))
    assert "%PDF" not in dump and b"%PDF" not in bytes(row["content_enc"])
    assert hashlib.sha256(content).hexdigest() not in dump  # a leaked copy proves nothing
    assert row["content_hmac"] == stored.content_hmac
    assert files.read(stored.id) == content
    assert stored.name == "receta.pdf"  # no path from the citizen's side is kept


def test_at_most_max_files_per_registration(files):
    for number in range(MAX_FILES):
        files.add(
            "conv-many", "r1", "queja", f"f{number}.png", synthetic_files.png(width=number + 1)
        )
    with pytest.raises(Invalid) as refused:
        files.add("conv-many", "r1", "queja", "one-more.png", synthetic_files.png(width=9))
    assert refused.value.reason == "evidence_too_many"


def test_concurrent_uploads_cannot_pass_the_limit(files):
    content = synthetic_files.png()

    def upload(number):
        try:
            files.add("conv-race", "r1", "queja", f"f{number}.png", content)
            return True
        except Invalid:
            return False

    with ThreadPoolExecutor(max_workers=12) as pool:
        kept = sum(pool.map(upload, range(12)))
    assert kept == MAX_FILES
    assert len(files.pending("conv-race", "r1")) == MAX_FILES


def test_without_a_registration_in_progress_nothing_is_stored(files):
    with pytest.raises(Invalid) as refused:
        files.add("conv-none", None, "queja", "foto.png", synthetic_files.png())
    assert refused.value.reason == "evidence_not_now"


def test_registration_links_only_its_own_files_to_the_case(files, engine, cipher):
    files.add("conv-case", "old", "denuncia", "antes.png", synthetic_files.png(width=3))
    files.add("conv-case", "r1", "denuncia", "foto.png", synthetic_files.png())
    files.add("conv-case", "r1", "denuncia", "factura.pdf", synthetic_files.pdf())
    registration = CaseStore(engine, cipher).register(
        draft(
            kind="denuncia",
            category="denuncia_cobro_indebido",
            conversation_id="conv-case",
            registration_id="r1",
            consent_at=datetime.utcnow(),
        )
    )
    assert files.pending("conv-case", "r1") == []
    assert CaseStore(engine, cipher).reveal(registration.number)["evidence_count"] == 2
    assert len(files.pending("conv-case", "old")) == 1  # another registration's file


def test_a_quejas_registration_refuses_files_over_its_limit(files, engine, cipher):
    big = synthetic_files.png(padding=2 * 1024 * 1024)
    files.add("conv-switch", "r1", "denuncia", "grande.png", big)  # sent as a denuncia
    store = CaseStore(engine, cipher)
    cedula = synthetic.cedula("171166554")
    with pytest.raises(Invalid) as refused:  # then registered as a queja
        store.register(
            draft(
                conversation_id="conv-switch",
                registration_id="r1",
                cedula=cedula,
                consent_at=datetime.utcnow(),
            )
        )
    assert refused.value.reason == "evidence_too_large"
    assert store.numbers_for_cedula(cedula) == []


def test_discarded_and_abandoned_files_are_deleted(files):
    files.add("conv-gone", "r1", "queja", "foto.png", synthetic_files.png())
    files.add("conv-kept", "r1", "queja", "foto.png", synthetic_files.png())
    assert files.discard_pending("conv-gone") == 1
    assert files.pending("conv-gone", "r1") == []
    files.add("conv-gone", "r1", "queja", "again.png", synthetic_files.png())  # quota freed too
    assert files.purge_pending(datetime.utcnow() + timedelta(minutes=1)) >= 2
    assert files.pending("conv-kept", "r1") == []
