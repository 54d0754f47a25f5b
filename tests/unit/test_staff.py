"""The staff side's rules without a server: every role × action × case, the workflow,
accounts and their second factor, the case desk (visibility, identity, reveals,
changes, disarmed evidence) and the audit chain."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta

import pikepdf
import pytest
from PIL import Image
from sqlalchemy import text

from buzon.audit import AuditLog
from buzon.cases import workflow
from buzon.cases.store import CaseStore
from buzon.evidence import EvidenceStore
from buzon.staff import desk as desk_module
from buzon.staff.accounts import AccountStore, SignInRefused
from buzon.staff.desk import CaseDesk, Forbidden, InboxFilter, NotFound, describe
from buzon.staff.permissions import Action, CaseScope, Role, Staff, allowed
from buzon.validation import Invalid
from tests import synthetic
from tests.unit.test_case_store import draft

# --- the rules, as the issue states them ------------------------------------------------

QUEJA_HERE = CaseScope("queja", "salud", None)
QUEJA_ELSEWHERE = CaseScope("queja", "pensiones", None)
DENUNCIA = CaseScope("denuncia", "denuncias", None)
A = Action
# role -> case -> the actions allowed (anything else is refused)
EXPECTED = {
    Role.ANALYST: {
        "queja_here": {
            A.VIEW_CASE,
            A.VIEW_IDENTITY,
            A.CHANGE_STATUS,
            A.ADD_NOTE,
            A.ASSIGN,
            A.RECATEGORISE,
            A.DOWNLOAD_EVIDENCE,
            A.DOWNLOAD_ORIGINAL,
        },
        "queja_elsewhere": set(),
        "denuncia": set(),
        None: {A.VIEW_REPORTS},
    },
    Role.INVESTIGATOR: {
        "queja_here": set(),
        "queja_elsewhere": set(),
        "denuncia": {
            A.VIEW_CASE,
            A.CHANGE_STATUS,
            A.ADD_NOTE,
            A.ASSIGN,
            A.RECATEGORISE,
            A.DOWNLOAD_EVIDENCE,
            A.REQUEST_REVEAL,
        },
        None: {A.VIEW_REPORTS},
    },
    Role.SUPERVISOR: {
        "queja_here": {
            A.VIEW_CASE,
            A.VIEW_IDENTITY,
            A.CHANGE_STATUS,
            A.ADD_NOTE,
            A.ASSIGN,
            A.REOPEN,
            A.MOVE_AREA,
            A.RECATEGORISE,
            A.DOWNLOAD_EVIDENCE,
            A.DOWNLOAD_ORIGINAL,
        },
        "queja_elsewhere": set(),
        "denuncia": {
            A.VIEW_CASE,
            A.CHANGE_STATUS,
            A.ADD_NOTE,
            A.ASSIGN,
            A.REOPEN,
            A.MOVE_AREA,
            A.RECATEGORISE,
            A.DOWNLOAD_EVIDENCE,
        },
        None: {A.VIEW_REPORTS},
    },
    Role.CUSTODIAN: {
        "queja_here": set(),
        "queja_elsewhere": set(),
        "denuncia": set(),
        None: {A.DECIDE_REVEAL},
    },
    Role.ADMINISTRATOR: {
        "queja_here": set(),
        "queja_elsewhere": set(),
        "denuncia": set(),
        None: {A.MANAGE_ACCOUNTS},
    },
    Role.AUDITOR: {
        "queja_here": set(),
        "queja_elsewhere": set(),
        "denuncia": set(),
        None: {A.READ_AUDIT},
    },
}
CASES = {
    "queja_here": QUEJA_HERE,
    "queja_elsewhere": QUEJA_ELSEWHERE,
    "denuncia": DENUNCIA,
    None: None,
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("action", list(Action))
def test_every_role_action_and_case(role, case, action):
    # A supervisor of salud and denuncias; everyone else of salud.
    areas = frozenset({"salud", "denuncias"} if role is Role.SUPERVISOR else {"salud"})
    staff = Staff(7, role, areas)
    expected = action in EXPECTED[role][case]
    assert allowed(staff, action, CASES[case]) is expected


def test_a_denunciantes_identity_needs_a_reveal_for_that_very_investigator():
    investigator = Staff(7, Role.INVESTIGATOR, frozenset())
    assert not allowed(investigator, A.VIEW_IDENTITY, DENUNCIA)
    assert allowed(investigator, A.VIEW_IDENTITY, DENUNCIA, revealed_to={7})
    assert not allowed(investigator, A.VIEW_IDENTITY, DENUNCIA, revealed_to={8})
    supervisor = Staff(9, Role.SUPERVISOR, frozenset({"denuncias"}))
    assert not allowed(supervisor, A.VIEW_IDENTITY, DENUNCIA)
    assert not allowed(supervisor, A.DOWNLOAD_ORIGINAL, DENUNCIA)


def test_the_roles_that_see_identities_need_a_second_factor():
    assert {r for r in Role if r.needs_second_factor} == set(Role) - {Role.AUDITOR}


@pytest.mark.parametrize(
    "current, new, reopening, reason, ok",
    [
        ("registered", "in_review", False, "", True),
        ("registered", "resolved", False, "", False),
        ("in_review", "information_requested", False, "", True),
        ("information_requested", "in_review", False, "", True),
        ("in_review", "resolved", False, "", True),
        ("in_review", "archived", False, "", False),  # no procede: needs a reason
        ("in_review", "archived", False, "duplicado", True),
        ("resolved", "in_review", False, "otra vez", False),  # only a reopening
        ("resolved", "in_review", True, "", False),  # a reopening needs a reason
        ("resolved", "in_review", True, "respuesta incompleta", True),
        ("archived", "resolved", True, "x", False),
    ],
)
def test_the_workflow(current, new, reopening, reason, ok):
    if ok:
        workflow.check_change(current, new, reopening, reason)
    else:
        with pytest.raises(Invalid):
            workflow.check_change(current, new, reopening, reason)


# --- accounts ----------------------------------------------------------------------------


class Clock:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now


def email() -> str:
    return f"persona.{uuid.uuid4().hex[:8]}@iess.gob.ec"


@pytest.fixture()
def accounts(engine, cipher):
    return AccountStore(engine, cipher)


def test_an_account_signs_in_with_password_and_code_once(accounts):
    saved = accounts.save(email(), "analista", ["salud"], "una clave larga y segura")
    assert saved.totp_uri.startswith("otpauth://totp/")
    account = saved.account
    code = accounts.totp_now(account.id)
    signed = accounts.sign_in(account.email, "una clave larga y segura", code)
    assert accounts.session_account(signed.token).id == account.id
    with pytest.raises(SignInRefused):  # the same code again
        accounts.sign_in(account.email, "una clave larga y segura", code)
    with pytest.raises(SignInRefused):  # no code
        accounts.sign_in(account.email, "una clave larga y segura", None)
    accounts.sign_out(signed.token)
    assert accounts.session_account(signed.token) is None


def test_an_auditor_needs_no_second_factor_and_a_short_password_is_refused(accounts):
    saved = accounts.save(email(), "auditor", [], "otra clave bien larga")
    assert saved.totp_uri is None
    assert accounts.sign_in(saved.account.email, "otra clave bien larga", None).token
    with pytest.raises(Invalid):
        accounts.save(email(), "auditor", [], "corta")
    with pytest.raises(Invalid):
        accounts.save(email(), "analista", [], "una clave larga y segura")  # no area
    with pytest.raises(Invalid):
        accounts.save(email(), "analista", ["luna"], "una clave larga y segura")


def test_five_failures_lock_the_account_even_for_the_right_password(engine, cipher):
    clock = Clock(datetime(2026, 12, 1, 9, 0))
    accounts = AccountStore(engine, cipher, now=clock)
    account = accounts.save(email(), "auditor", [], "la clave correcta aqui").account
    for _ in range(5):
        with pytest.raises(SignInRefused):
            accounts.sign_in(account.email, "no es la clave", None)
    with pytest.raises(SignInRefused):
        accounts.sign_in(account.email, "la clave correcta aqui", None)
    clock.now += timedelta(minutes=16)
    assert accounts.sign_in(account.email, "la clave correcta aqui", None).token


def test_sessions_end_when_idle_or_revoked(engine, cipher):
    clock = Clock(datetime(2026, 12, 1, 9, 0))
    accounts = AccountStore(engine, cipher, now=clock)
    account = accounts.save(email(), "auditor", [], "la clave correcta aqui").account
    first = accounts.sign_in(account.email, "la clave correcta aqui", None).token
    api = accounts.sign_in(account.email, "la clave correcta aqui", None, kind="api").token
    assert accounts.session_account(api, kind="browser") is None  # a token is of one kind
    clock.now += timedelta(minutes=31)
    assert accounts.session_account(first) is None
    second = accounts.sign_in(account.email, "la clave correcta aqui", None).token
    assert accounts.revoke_all(account.id) >= 2
    assert accounts.session_account(second) is None
    assert accounts.session_account(api, kind="api") is None


# --- the case desk -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def people(engine, cipher):
    """Accounts of every role (argon2 is slow on purpose: made once per database)."""
    accounts = AccountStore(engine, cipher)

    def staff(role, areas=()):
        return accounts.save(email(), role, list(areas), "una clave larga y segura").account.staff

    return {
        "analyst": staff("analista", ["salud"]),
        "other_analyst": staff("analista", ["pensiones"]),
        "investigator": staff("investigador"),
        "other_investigator": staff("investigador"),
        "custodian": staff("custodio"),
        "supervisor": staff("supervisor", ["salud", "denuncias"]),
        "admin": staff("administrador"),
        "auditor": staff("auditor"),
    }


@pytest.fixture()
def world(engine, cipher, people):
    """A queja in salud, one in pensiones and a denuncia with two files."""
    now = datetime.utcnow()
    accounts = AccountStore(engine, cipher)
    desk = CaseDesk(engine, cipher, AuditLog(engine, cipher))
    store = CaseStore(engine, cipher)
    cedula = synthetic.cedula(f"171{uuid.uuid4().int % 10**6:06d}")
    queja = store.register(draft(cedula=cedula, consent_at=now))
    pension = store.register(
        draft(
            cedula=cedula,
            consent_at=now,
            category="queja_administrativa",
            description="Mi pensión de jubilación no llega desde agosto.",
        )
    )
    conversation = f"conv-{uuid.uuid4().hex}"
    files = EvidenceStore(engine, cipher)
    files.add(conversation, "r1", "denuncia", "foto.jpg", jpeg_with_exif())
    files.add(conversation, "r1", "denuncia", "acta.pdf", pdf_with_javascript())
    denuncia = store.register(
        draft(
            kind="denuncia",
            category="denuncia_coima",
            cedula=cedula,
            consent_at=now,
            conversation_id=conversation,
            registration_id="r1",
            description="El guardia pidió 20 dólares para el turno.",
        )
    )
    return {
        "desk": desk,
        "accounts": accounts,
        "people": people,
        "cedula": cedula,
        "queja": queja.number,
        "pension": pension.number,
        "denuncia": denuncia.number,
        "engine": engine,
        "cipher": cipher,
    }


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (4, 4), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0110] = "Telefono de la denunciante"  # camera model
    exif[0x010F] = "Marca"
    output = io.BytesIO()
    image.save(output, format="JPEG", exif=exif.tobytes())
    return output.getvalue()


def pdf_with_javascript() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert('x')")
    pdf.docinfo["/Author"] = "Nombre de la denunciante"
    output = io.BytesIO()
    pdf.save(output)
    return output.getvalue()


def test_an_analyst_sees_only_the_quejas_of_their_area(world):
    desk, people = world["desk"], world["people"]
    numbers = [line.number for line in desk.inbox(people["analyst"], per_page=1000).lines]
    assert world["queja"] in numbers
    assert world["pension"] not in numbers and world["denuncia"] not in numbers
    for number in (world["pension"], world["denuncia"]):
        with pytest.raises(NotFound):
            desk.open(people["analyst"], number)
    view = desk.open(people["analyst"], world["queja"])
    assert view.identity.cedula == world["cedula"] and view.pseudonym is None


def test_an_investigator_sees_denuncias_with_a_pseudonym_and_no_identity(world):
    desk, people = world["desk"], world["people"]
    investigator = people["investigator"]
    with pytest.raises(NotFound):
        desk.open(investigator, world["queja"])
    view = desk.open(investigator, world["denuncia"])
    assert view.identity is None and view.pseudonym.startswith("D-")
    answer = str(describe(view))
    for secret in (world["cedula"], "987654321", "ciudadana@example.com", "9 de Octubre"):
        assert secret not in answer
    with pytest.raises(Forbidden):
        desk.evidence_file(investigator, world["denuncia"], view.evidence[0].id, original=True)


def test_a_reveal_approved_by_a_custodian_shows_the_identity_to_the_requester_only(world):
    desk, people = world["desk"], world["people"]
    investigator, custodian = people["investigator"], people["custodian"]
    request = desk.request_reveal(investigator, world["denuncia"], "Hay que citarla como testigo")
    with pytest.raises(Forbidden):
        desk.decide_reveal(investigator, request, approve=True)
    assert [r.id for r in desk.reveal_requests(custodian)][-1] == request
    desk.decide_reveal(custodian, request, approve=True)
    assert desk.open(investigator, world["denuncia"]).identity.cedula == world["cedula"]
    assert desk.open(people["other_investigator"], world["denuncia"]).identity is None
    later = CaseDesk(
        world["engine"],
        world["cipher"],
        desk.audit,
        now=lambda: datetime.utcnow() + desk_module.REVEAL_LIFETIME + timedelta(1),
    )
    assert later.open(investigator, world["denuncia"]).identity is None  # it expired
    with pytest.raises(Invalid):
        desk.decide_reveal(custodian, request, approve=False, reason="tarde")


def test_status_changes_follow_the_workflow_and_reopening_is_for_supervisors(world):
    desk, people = world["desk"], world["people"]
    analyst, number = people["analyst"], world["queja"]
    with pytest.raises(Invalid):
        desk.change_status(analyst, number, "resolved")
    desk.change_status(analyst, number, "in_review")
    desk.add_note(analyst, number, "Llamé al hospital")
    desk.change_status(analyst, number, "resolved", message="Se le asignó turno para el lunes")
    with pytest.raises(Forbidden):
        desk.change_status(analyst, number, "in_review", reason="no quedó bien")
    desk.change_status(people["supervisor"], number, "in_review", reason="respuesta incompleta")
    timeline = desk.open(analyst, number).timeline
    assert [e.kind for e in timeline] == ["status", "note", "status", "reopened"]
    assert timeline[1].note == "Llamé al hospital" and timeline[2].message.startswith("Se le")
    assert timeline[3].actor == people["supervisor"].id


def test_a_queja_that_is_a_denuncia_moves_to_the_denuncias_team_and_leaves_the_analyst(world):
    desk, people = world["desk"], world["people"]
    desk.recategorise(people["analyst"], world["queja"], "denuncia_coima", "pidieron plata")
    with pytest.raises(NotFound):
        desk.open(people["analyst"], world["queja"])
    view = desk.open(people["investigator"], world["queja"])
    assert view.line.kind == "denuncia" and view.identity is None


def test_a_supervisor_refers_a_queja_to_another_area(world):
    desk, people = world["desk"], world["people"]
    desk.move_area(people["supervisor"], world["queja"], "pensiones", "es de pensiones")
    with pytest.raises(NotFound):
        desk.open(people["analyst"], world["queja"])
    view = desk.open(people["other_analyst"], world["queja"])
    assert view.line.status == "referred" and view.line.area == "pensiones"


def test_evidence_is_given_disarmed_and_the_original_only_on_purpose(world):
    desk, people = world["desk"], world["people"]
    supervisor = people["supervisor"]
    view = desk.open(people["investigator"], world["denuncia"])
    photo, document = view.evidence
    name, kind, safe_photo = desk.evidence_file(people["investigator"], world["denuncia"], photo.id)
    assert (name, kind) == ("foto.jpg", "jpg")
    assert b"Telefono de la denunciante" not in safe_photo
    assert not Image.open(io.BytesIO(safe_photo)).getexif()
    _, _, safe_pdf = desk.evidence_file(people["investigator"], world["denuncia"], document.id)
    with pikepdf.open(io.BytesIO(safe_pdf)) as pdf:
        assert "/OpenAction" not in pdf.Root and "/Author" not in pdf.docinfo
    with pytest.raises(Forbidden):  # a denunciante's original: nobody without a reveal
        desk.evidence_file(supervisor, world["denuncia"], photo.id, original=True)
    with pytest.raises(NotFound):  # a file of another case
        desk.evidence_file(people["analyst"], world["queja"], photo.id)


def test_every_view_of_identity_and_download_is_audited_and_the_chain_holds(world):
    desk, people = world["desk"], world["people"]
    desk.open(people["analyst"], world["queja"])
    entries = desk.audit.entries(target=world["queja"])
    assert {"view_case", "view_identity"} <= {e.action for e in entries}
    assert all(world["cedula"] not in str(e.details) for e in entries)
    assert desk.audit.verify() is None


def test_an_edited_or_removed_audit_row_is_detected(world):
    desk, people, engine = world["desk"], world["people"], world["engine"]
    desk.open(people["analyst"], world["queja"])
    desk.open(people["analyst"], world["queja"])
    [last, before] = desk.audit.entries(limit=2)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET actor = 'otro' WHERE id = :i"), {"i": before.id}
        )
    assert desk.audit.verify() == before.id
    with engine.begin() as connection:  # put it back
        connection.execute(
            text("UPDATE audit_log SET actor = :a WHERE id = :i"),
            {"a": before.actor, "i": before.id},
        )
    assert desk.audit.verify() is None
    with engine.begin() as connection:  # then cut the tail
        connection.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": last.id})
    assert desk.audit.verify() == 0
    with engine.begin() as connection:  # the other tests of the session keep a whole chain
        connection.execute(
            text("UPDATE audit_head SET last_id = :i, last_hash = :h"),
            {
                "i": before.id,
                "h": connection.execute(
                    text("SELECT entry_hash FROM audit_log WHERE id = :i"), {"i": before.id}
                ).scalar(),
            },
        )
    assert desk.audit.verify() is None


def test_the_inbox_filters_and_pages(world):
    desk, supervisor = world["desk"], world["people"]["supervisor"]
    everything = desk.inbox(supervisor, per_page=1000)
    assert world["queja"] in [line.number for line in everything.lines]
    only = desk.inbox(supervisor, InboxFilter(number=world["queja"].lower()))
    assert [line.number for line in only.lines] == [world["queja"]]
    denuncias = desk.inbox(supervisor, InboxFilter(kind="denuncia"), per_page=1000)
    assert {line.kind for line in denuncias.lines} == {"denuncia"}
    first = desk.inbox(supervisor, per_page=1)
    assert first.total == everything.total and first.pages == everything.total
    created = [line.created_at for line in everything.lines]
    assert created == sorted(created)  # oldest first
    assert desk.inbox(world["people"]["admin"]).total == 0
