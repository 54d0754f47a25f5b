"""The case store on SQLite and PostgreSQL: numbering, encryption, routing, look-ups."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from sqlalchemy import text

from buzon.cases.models import Case
from buzon.cases.store import CaseDraft, CaseStore
from buzon.db import session_factory
from buzon.outbox import OutboxMessage
from buzon.validation import Invalid
from tests import synthetic

CEDULA = synthetic.cedula("092668785")


def draft(**changes):
    values = dict(
        kind="queja",
        category="queja_turnos",
        cedula=CEDULA,
        phone="+593987654321",
        email="ciudadana@example.com",
        province_code="09",
        canton_code="0901",
        address="Av. 9 de Octubre 100 y Malecón",
        description="Llevo tres meses sin conseguir turno para cardiología.",
        channel="rest",
        consent_version="2026-11-v1",
        consent_at=datetime(2026, 11, 23, 10, 0),
    )
    values.update(changes)
    return CaseDraft(**values)


@pytest.fixture()
def store(engine, cipher):
    return CaseStore(engine, cipher, now=lambda: datetime(2026, 11, 23, 15, 30))


def test_registration_numbers_each_kind_apart_and_in_sequence(store):
    first = store.register(draft())
    second = store.register(draft())
    denuncia = store.register(draft(kind="denuncia", category="denuncia_coima"))
    q1, q2 = int(first.number[-6:]), int(second.number[-6:])
    assert first.number.startswith("IESS-Q-2026-") and q2 == q1 + 1
    assert denuncia.number.startswith("IESS-D-2026-")


def test_personal_data_is_encrypted_at_rest(store, engine):
    registration = store.register(draft())
    with engine.connect() as connection:
        row = (
            connection.execute(
                text("SELECT * FROM cases WHERE number = :n"), {"n": registration.number}
            )
            .mappings()
            .one()
        )
        mail = (
            connection.execute(text("SELECT * FROM outbox WHERE case_id = :i"), {"i": row["id"]})
            .mappings()
            .one()
        )
    dump = " ".join(str(v) for v in list(row.values()) + list(mail.values()))
    for secret in (
        CEDULA,
        "987654321",
        "ciudadana@example.com",
        "9 de Octubre",
        "cardiología",
        registration.tracking_key,
    ):
        assert secret not in dump
    revealed = store.reveal(registration.number)
    assert revealed["cedula"] == CEDULA
    assert revealed["email"] == "ciudadana@example.com"
    assert revealed["address"] == "Av. 9 de Octubre 100 y Malecón"


def test_denuncias_go_to_the_specialised_team_and_quejas_to_their_area(store):
    assert store.register(
        draft(kind="denuncia", category="denuncia_venta_medicamentos")
    ).area_name == ("Equipo especializado de gestión de denuncias")
    assert "Salud" in store.register(draft()).area_name
    pension = store.register(
        draft(
            category="queja_administrativa",
            description="Mi pensión de jubilación no se acredita desde agosto.",
        )
    )
    assert pension.area_name == "Dirección del Sistema de Pensiones"


def test_a_category_of_the_other_kind_is_refused(store):
    with pytest.raises(Invalid):
        store.register(draft(kind="queja", category="denuncia_coima"))


@pytest.mark.parametrize(
    "forged, reason",
    [
        ({"cedula": "' OR 1=1 --"}, "cedula_not_digits"),
        ({"cedula": "1712345670"}, "cedula_check_digit"),
        ({"phone": "+34612345678"}, "phone_foreign"),
        ({"email": "atacante@@example"}, "email_invalid"),
        ({"province_code": "99", "canton_code": "9901"}, "province_unknown"),
        ({"province_code": "17", "canton_code": "0901"}, "canton_not_in_province"),
        ({"address": "x"}, "address_too_short"),
        ({"description": "hola"}, "description_too_short"),
        ({"consent_version": "forjado"}, "consent"),
        ({"consent_at": datetime(2027, 1, 1)}, "consent"),  # from the future
        ({"consent_at": datetime(2020, 1, 1)}, "consent"),  # not of this registration
        ({"channel": "telepatia"}, "channel_unknown"),
        ({"kind": "reclamo"}, "kind_unknown"),
    ],
)
def test_registration_validates_every_field_again_and_stores_nothing_refused(store, forged, reason):
    cedula = synthetic.cedula("171199887")
    values = {"cedula": cedula, **forged}
    with pytest.raises(Invalid) as refused:
        store.register(draft(**values))
    assert refused.value.reason == reason
    assert store.numbers_for_cedula(cedula) == []


def test_registration_stores_the_values_normalised_again(store):
    registration = store.register(
        draft(
            phone="098 765 4321",
            email="Ciudadana@Example.COM",
            address="  Av. 9 de Octubre   100 y Malecón ",
        )
    )
    revealed = store.reveal(registration.number)
    assert revealed["phone"] == "+593987654321"
    assert revealed["address"] == "Av. 9 de Octubre 100 y Malecón"


def test_status_needs_the_right_number_and_key(store):
    registration = store.register(draft())
    found = store.status(registration.number.lower(), registration.tracking_key.replace("-", " "))
    assert found.number == registration.number and found.status == "registered"
    assert found.area_name == registration.area_name
    assert store.status(registration.number, "AAAA-BBBB-CCCC") is None
    assert store.status("IESS-Q-2026-999999", registration.tracking_key) is None
    assert store.status("cualquier cosa", "") is None


def test_cases_of_a_citizen_are_found_by_cedula(store):
    other = synthetic.cedula("010203040")
    mine = store.register(draft(cedula=other))
    assert mine.number in store.numbers_for_cedula(other)
    assert mine.number not in store.numbers_for_cedula(CEDULA)


def test_registration_queues_the_confirmation_email_in_the_same_transaction(store, engine, cipher):
    registration = store.register(draft())
    with session_factory(engine)() as session:
        case = session.query(Case).filter_by(number=registration.number).one()
        [mail] = session.query(OutboxMessage).filter_by(case_id=case.id).all()
        assert mail.status == "pending"
        assert registration.number in mail.subject
        body = cipher.decrypt(mail.body_enc)
    assert registration.tracking_key in body and registration.area_name in body


def test_concurrent_registrations_never_share_a_number(engine, cipher):
    store = CaseStore(engine, cipher, now=lambda: datetime(2031, 1, 2, 8, 0))
    early = draft(consent_at=datetime(2031, 1, 2, 7, 50))
    with ThreadPoolExecutor(max_workers=6) as pool:
        numbers = list(pool.map(lambda _: store.register(early).number, range(24)))
    assert len(set(numbers)) == 24
    assert sorted(int(n[-6:]) for n in numbers) == list(range(1, 25))


def test_a_registration_confirmed_twice_is_stored_once(store):
    from buzon.cases.store import AlreadyRegistered

    once = draft(conversation_id="conv-twice", registration_id="reg-1")
    first = store.register(once)
    with pytest.raises(AlreadyRegistered) as again:
        store.register(once)
    assert again.value.number == first.number
    assert store.numbers_for_cedula(CEDULA).count(first.number) == 1
    following = store.register(once._replace(registration_id="reg-2"))  # a new registration
    assert int(following.number[-6:]) == int(first.number[-6:]) + 1  # no number used up


def test_the_same_registration_confirmed_at_the_same_moment_is_stored_once(store):
    from buzon.cases.store import AlreadyRegistered

    once = draft(conversation_id="conv-race", registration_id="reg-race")

    def attempt(_):
        try:
            return store.register(once).number
        except AlreadyRegistered as done:
            return f"already {done.number}"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attempt, range(4)))
    registered = [o for o in outcomes if not o.startswith("already")]
    assert len(registered) == 1
    assert all(o == f"already {registered[0]}" for o in outcomes if o not in registered)


def test_every_new_key_is_found_inside_a_sentence_however_it_is_typed():
    """A key is told from words by having letters and digits: every key has both."""
    from buzon.cases import numbering

    for _ in range(3000):
        key = numbering.new_tracking_key()
        for typed in (key.lower().replace("-", " "), key.replace("-", "."), key):
            assert numbering.find_in(f"IESS-Q-2026-000123 clave {typed}")[1] == key
