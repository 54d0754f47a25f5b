"""Evidence: identified by content, limited by kind, stored encrypted and linked to the case."""
import pytest

from buzon.cases.store import CaseStore
from buzon.evidence import MAX_FILES, EvidenceStore, sniff
from buzon.validation import Invalid
from tests import synthetic_files
from tests.unit.test_case_store import draft


@pytest.fixture()
def files(engine, cipher, tmp_path):
    return EvidenceStore(engine, cipher, tmp_path / "evidence")


@pytest.mark.parametrize("content, kind", [
    (synthetic_files.png(), "png"), (synthetic_files.jpeg(), "jpg"), (synthetic_files.pdf(), "pdf"),
])
def test_pdf_jpeg_and_png_are_recognised_by_their_bytes(content, kind):
    assert sniff(content) == kind


@pytest.mark.parametrize("content, reason", [
    (b"MZ\x90\x00\x03" + b"\x00" * 100, "evidence_type"),          # a Windows program renamed .png
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "evidence_type"),     # a Linux program
    (b"Esto es texto, no un PDF\n", "evidence_type"),              # a text file called .pdf
    (b"%PDF-1.4\n" + b"A" * 200, "evidence_damaged"),              # starts like a PDF, is none
    (synthetic_files.png()[:-12], "evidence_damaged"),             # a cut PNG
    (b"", "evidence_empty"),
])
def test_anything_else_is_refused_with_the_reason(content, reason):
    with pytest.raises(Invalid) as refused:
        sniff(content)
    assert refused.value.reason == reason


def test_a_queja_takes_up_to_1_mb_and_a_denuncia_up_to_20_mb(files):
    two_mb = synthetic_files.png(padding=2 * 1024 * 1024)
    with pytest.raises(Invalid) as refused:
        files.add("conv-size", "queja", "foto.png", two_mb)
    assert refused.value.reason == "evidence_too_large" and refused.value.details == {"limit_mb": 1}
    assert files.add("conv-size", "denuncia", "foto.png", two_mb).size == len(two_mb)


def test_a_stored_file_is_encrypted_named_by_its_hash_and_read_back(files, tmp_path):
    content = synthetic_files.pdf()
    stored = files.add("conv-store", "queja", "../../etc/receta.pdf", content)
    on_disk = (tmp_path / "evidence" / stored.sha256[:2] / stored.sha256).read_bytes()
    assert b"%PDF" not in on_disk
    assert files.read(stored.sha256) == content
    assert stored.name == "receta.pdf"  # no path from the citizen's side reaches the disk


def test_at_most_max_files_per_conversation(files):
    for number in range(MAX_FILES):
        files.add("conv-many", "queja", f"f{number}.png", synthetic_files.png(width=number + 1))
    with pytest.raises(Invalid) as refused:
        files.add("conv-many", "queja", "one-more.png", synthetic_files.png(width=9))
    assert refused.value.reason == "evidence_too_many"


def test_registration_links_the_conversations_files_to_the_case(files, engine, cipher):
    files.add("conv-case", "denuncia", "foto.png", synthetic_files.png())
    files.add("conv-case", "denuncia", "factura.pdf", synthetic_files.pdf())
    registration = CaseStore(engine, cipher).register(
        draft(kind="denuncia", category="denuncia_cobro_indebido", conversation_id="conv-case"))
    assert files.pending("conv-case") == []
    assert CaseStore(engine, cipher).reveal(registration.number)["evidence"] == "2 archivo(s)"
