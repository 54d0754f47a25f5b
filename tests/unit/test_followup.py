"""Follow-up without a server: deadlines in Ecuadorian business days, notices queued
with each change (e-mail, and WhatsApp inside or outside the 24-hour window), the
citizen's answers, ratings and reopenings behind a look-up grant, the daily
digest sent once, and the reports with small cells suppressed."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select, text

from buzon import outbox
from buzon.audit import AuditLog
from buzon.cases import deadlines
from buzon.cases.followup import Followup, NoGrant
from buzon.cases.models import Case
from buzon.cases.store import CaseStore
from buzon.db import session_factory
from buzon.evidence import EvidenceStore
from buzon.outbox import OutboxMessage
from buzon.staff import reports
from buzon.staff.accounts import AccountStore
from buzon.staff.desk import CaseDesk, InboxFilter
from buzon.staff.digest import Digest
from buzon.validation import Invalid
from buzon.whatsapp_cloud import GraphClient, NoticeSender
from buzon.whatsapp_window import ContactWindow
from tests import synthetic, synthetic_files
from tests.unit.test_case_store import draft

# --- deadlines -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, days, expected",
    [
        (date(2026, 11, 27), 1, date(2026, 11, 30)),  # Friday -> Monday
        (date(2026, 2, 13), 1, date(2026, 2, 18)),  # over Carnaval (Mon 16, Tue 17 Feb)
        (date(2026, 10, 8), 1, date(2026, 10, 12)),  # Independencia de Guayaquil, Fri 9 Oct
        (date(2026, 12, 24), 1, date(2026, 12, 28)),  # Christmas Day, Friday
        (date(2026, 12, 30), 2, date(2027, 1, 4)),  # over New Year's Day
        (date(2027, 10, 7), 1, date(2027, 10, 11)),  # Guayaquil observed on Friday 8 Oct 2027
    ],
)
def test_business_days_skip_weekends_and_ecuadorian_holidays(start, days, expected):
    assert deadlines.add_business_days(start, days) == expected


def test_a_queja_is_answered_in_30_business_days_and_a_denuncia_in_3_months():
    registered = datetime(2026, 12, 1, 15, 0)  # 10:00 in Ecuador
    first = deadlines.due("first_action", "queja", registered)
    assert first == datetime(2026, 12, 11, 4, 59, 59)  # 23:59:59 of Thu 10 Dec in Ecuador
    assert deadlines.due("resolution", "queja", registered).date() == date(2027, 1, 15)
    assert deadlines.due("resolution", "denuncia", registered).date() == date(2027, 3, 2)
    assert deadlines.add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)


def test_the_next_deadline_is_the_first_action_then_the_resolution():
    registered = datetime(2026, 12, 1, 15, 0)
    now = datetime(2026, 12, 14, 15, 0)
    late = deadlines.next_due("queja", "registered", registered, None, now)
    assert late.step == "first_action" and late.overdue
    later = deadlines.next_due("queja", "in_review", registered, datetime(2026, 12, 2), now)
    assert later.step == "resolution" and not later.overdue and not later.soon
    assert deadlines.next_due("queja", "resolved", registered, None, now) is None


# --- the world of a case -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def staff(engine, cipher):
    accounts = AccountStore(engine, cipher)

    def make(role, areas=()):
        email = f"{role}.{uuid.uuid4().hex[:6]}@iess.gob.ec"
        return accounts.save(email, role, list(areas), "una clave larga y segura").account.staff

    return {
        "analyst": make("analista", ["salud"]),
        "supervisor": make("supervisor", ["salud"]),
        "investigator": make("investigador"),
    }


def register(engine, cipher, **changes):
    cedula = synthetic.cedula(f"171{uuid.uuid4().int % 10**6:06d}")
    return CaseStore(engine, cipher).register(
        draft(cedula=cedula, consent_at=datetime.utcnow(), **changes)
    )


def notices_of(engine, number):
    with session_factory(engine)() as session:
        case_id = session.execute(select(Case.id).where(Case.number == number)).scalar_one()
        return (
            session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.case_id == case_id)
                .order_by(OutboxMessage.id)
            )
            .scalars()
            .all()
        )


def desk(engine, cipher):
    return CaseDesk(engine, cipher, AuditLog(engine, cipher))


def test_a_question_is_sent_to_the_citizen_and_their_answer_comes_back(engine, cipher, staff):
    registration = register(engine, cipher)
    number = registration.number
    the_desk, followup = desk(engine, cipher), Followup(engine, cipher)
    the_desk.ask_citizen(staff["analyst"], number, "¿En qué fecha fue la cita?")
    [confirmation, question] = notices_of(engine, number)
    assert question.channel == "email" and "¿En qué fecha fue la cita?" in cipher.decrypt(
        question.body_enc
    )
    assert "la cita" not in question.subject  # subject: number and status only

    with pytest.raises(NoGrant):  # no look-up in this conversation yet
        followup.write("conv-a", number, "Fue el 3 de noviembre en la mañana")
    assert followup.look_up(number, "AAAA-BBBB-CCCC", "conv-a") is None
    seen = followup.look_up(number, registration.tracking_key, "conv-a")
    assert seen.question_pending and seen.latest_message == "¿En qué fecha fue la cita?"
    files = EvidenceStore(engine, cipher)
    files.add("conv-a", "answer-1", "queja", "turno.png", synthetic_files.png())
    assert followup.write("conv-a", number, "Fue el 3 de noviembre en la mañana", "answer-1") == 1
    with pytest.raises(NoGrant):  # another conversation holding only the number
        followup.write("conv-b", number, "Quiero cambiar lo que dijo")

    view = the_desk.open(staff["supervisor"], number)
    assert view.line.status == "in_review"
    assert [e.kind for e in view.timeline] == ["status", "question", "citizen_message", "status"]
    assert view.timeline[2].message == "Fue el 3 de noviembre en la mañana"
    assert len(view.evidence) == 1


def test_the_assigned_person_sees_the_citizens_news_until_they_open_it(engine, cipher, staff):
    registration = register(engine, cipher)
    number, the_desk = registration.number, desk(engine, cipher)
    the_desk.assign(staff["analyst"], number, staff["analyst"].id, staff["analyst"])
    followup = Followup(engine, cipher)
    followup.look_up(number, registration.tracking_key, "conv-news")
    followup.write("conv-news", number, "Agrego que el médico no llegó")

    def news():
        lines = the_desk.inbox(staff["analyst"], InboxFilter(number=number)).lines
        return lines[0].has_news

    assert news()
    the_desk.open(staff["supervisor"], number)  # not the assigned person
    assert news()
    the_desk.open(staff["analyst"], number)
    assert not news()


def test_status_changes_tell_the_citizen_and_resolution_opens_rating_and_reopening(
    engine, cipher, staff
):
    registration = register(engine, cipher)
    number, the_desk, followup = registration.number, desk(engine, cipher), Followup(engine, cipher)
    the_desk.change_status(staff["analyst"], number, "in_review")
    the_desk.change_status(
        staff["analyst"], number, "resolved", message="Le dimos turno para el lunes 7"
    )
    bodies = [cipher.decrypt(m.body_enc) for m in notices_of(engine, number)[1:]]
    assert "en análisis" in bodies[0] and "Le dimos turno para el lunes 7" in bodies[1]

    seen = followup.look_up(number, registration.tracking_key, "conv-rate")
    assert seen.status == "resolved" and seen.may_rate and seen.may_reopen
    assert seen.latest_message == "Le dimos turno para el lunes 7"
    followup.rate("conv-rate", number, 4, "Bien, pero tardó")
    with pytest.raises(Invalid):
        followup.rate("conv-rate", number, 5)
    followup.ask_reopen("conv-rate", number, "El turno no existe en el sistema")
    assert followup.current("conv-rate", number).status == "in_review"

    later = Followup(engine, cipher, now=lambda: datetime.utcnow() + timedelta(days=31))
    the_desk.change_status(staff["analyst"], number, "resolved", message="Ahora sí")
    later.look_up(number, registration.tracking_key, "conv-late")
    with pytest.raises(Invalid):
        later.ask_reopen("conv-late", number, "Sigue sin funcionar")


def test_a_whatsapp_case_gets_text_inside_the_window_and_the_template_outside(engine, cipher):
    sent = []

    class Graph(BaseHTTPRequestHandler):
        def do_POST(self):
            sent.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"messages": [{"id": "wamid.x"}]}')

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Graph)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    clock = {"now": datetime(2026, 12, 1, 15, 0)}
    window = ContactWindow(engine, cipher, now=lambda: clock["now"])
    client = GraphClient(f"http://127.0.0.1:{server.server_port}/v21.0", "TOKEN", "111")
    sender = NoticeSender(client, window, "case_update", "es")
    wa_id = f"5939{uuid.uuid4().int % 10**8:08d}"
    try:
        window.saw(wa_id)
        clock["now"] += timedelta(hours=23)
        sender.send(
            wa_id, "IESS: su caso IESS-Q-2026-000001 está en análisis.", "IESS-Q-2026-000001"
        )
        clock["now"] += timedelta(hours=2)  # 25 hours after the citizen last wrote
        sender.send(wa_id, "IESS: su caso fue resuelto.", "IESS-Q-2026-000001")
    finally:
        server.shutdown()
    assert sent[0]["type"] == "text" and "en análisis" in sent[0]["text"]["body"]
    assert sent[1]["type"] == "template" and sent[1]["template"]["name"] == "case_update"
    assert sent[1]["template"]["components"][0]["parameters"] == [
        {"type": "text", "text": "IESS-Q-2026-000001"}
    ]


def test_a_whatsapp_case_queues_its_notices_for_the_worker(engine, cipher, staff):
    registration = register(engine, cipher)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE cases SET whatsapp_id_enc = :w WHERE number = :n"),
            {"w": cipher.encrypt("593991112233"), "n": registration.number},
        )
    desk(engine, cipher).ask_citizen(staff["analyst"], registration.number, "¿Qué día fue?")
    channels = [m.channel for m in notices_of(engine, registration.number)]
    assert channels == ["email", "email", "whatsapp"]

    class Recorder:
        def __init__(self):
            self.sent = []

        def send(self, wa_id, text_, number):
            self.sent.append((wa_id, text_, number))

    recorder = Recorder()
    box = outbox.Outbox(
        engine, cipher, outbox.DirectoryTransport(engine_dir(), cipher), "x@y.ec", whatsapp=recorder
    )
    box.deliver_due(limit=100_000)
    assert ("593991112233", recorder.sent[-1][1], registration.number) == recorder.sent[-1]
    assert "¿Qué día fue?" in recorder.sent[-1][1]


def test_a_case_without_email_is_told_only_by_whatsapp(engine, cipher, staff):
    registration = register(
        engine, cipher, email=None, channel="whatsapp", whatsapp_id="593991112244"
    )
    the_desk = desk(engine, cipher)
    the_desk.ask_citizen(staff["analyst"], registration.number, "¿Qué día fue?")
    [question] = notices_of(engine, registration.number)  # no confirmation e-mail either
    assert question.channel == "whatsapp"
    assert cipher.decrypt(question.recipient_enc) == "593991112244"
    seen = the_desk.open(staff["analyst"], registration.number)
    assert seen.identity is not None and seen.identity.email is None


def engine_dir():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp())


# --- the digest and the reports -------------------------------------------------------------------


def test_the_digest_goes_once_a_day_to_each_areas_staff(engine, cipher, staff):
    registration = register(engine, cipher)
    with engine.begin() as connection:  # registered three weeks ago: the first action is late
        connection.execute(
            text("UPDATE cases SET created_at = :t WHERE number = :n"),
            {"t": datetime.utcnow() - timedelta(days=21), "n": registration.number},
        )
    digest = Digest(engine, cipher, AccountStore(engine, cipher))
    first = digest.send()
    assert first >= 2  # the analyst and the supervisor of salud
    assert digest.send() == 0  # the same day again: nothing
    with session_factory(engine)() as session:
        bodies = [
            cipher.decrypt(m.body_enc)
            for m in session.execute(
                select(OutboxMessage).where(OutboxMessage.case_id.is_(None))
            ).scalars()
        ]
    assert any(registration.number in body and "Atrasados" in body for body in bodies)
    assert not any(synthetic.cedula("171") in body for body in bodies)
    tomorrow = Digest(
        engine,
        cipher,
        AccountStore(engine, cipher),
        now=lambda: datetime.utcnow() + timedelta(days=1),
    )
    assert tomorrow.send() >= 2


def test_reports_count_what_each_role_may_see_and_suppress_small_cells(engine, cipher, staff):
    for _ in range(6):
        register(engine, cipher)
    register(engine, cipher, kind="denuncia", category="denuncia_coima")
    analyst = reports.summary(engine, staff["analyst"])
    assert {bar.key for bar in analyst.by_kind} == {"queja"}
    assert {bar.key for bar in analyst.by_area} <= {"salud"}
    investigator = reports.summary(engine, staff["investigator"])
    assert {bar.key for bar in investigator.by_kind} == {"denuncia"}
    rows = reports.csv_rows(investigator)
    assert ["section", "key", "label", "value"] == rows[0]
    counts = [row[3] for row in rows if row[0] in ("kind", "category", "canton")]
    assert all(value in ("<5", "x") or int(value) >= 5 for value in counts)
    assert [row for row in rows if row[0] == "canton" and row[1] == "0901"]
    assert reports.csv_rows(reports.Summary(by_canton=[reports.Bar("1", "X", 3)]))[2][3] == "<5"


def test_the_worker_sends_the_digest_after_seven_in_ecuador_and_once(engine, cipher, staff):
    registration = register(engine, cipher)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE cases SET created_at = :t WHERE number = :n"),
            {"t": datetime.utcnow() - timedelta(days=21), "n": registration.number},
        )
    day = date.today() + timedelta(days=40)  # a day no other test sent a digest for
    clock = {"now": datetime(day.year, day.month, day.day, 11, 0)}  # 06:00 in Ecuador
    digest = Digest(engine, cipher, AccountStore(engine, cipher), now=lambda: clock["now"])
    assert digest.send_if_due() == 0  # before seven
    clock["now"] = clock["now"].replace(hour=12, minute=5)  # 07:05
    assert digest.send_if_due() >= 2
    assert digest.send_if_due() == 0
    clock["now"] = clock["now"] + timedelta(days=1)
    assert digest.send_if_due() >= 2  # the next morning


def test_the_citizen_sees_why_a_case_was_archived_but_never_a_note(engine, cipher, staff):
    registration = register(engine, cipher)
    number, the_desk, followup = registration.number, desk(engine, cipher), Followup(engine, cipher)
    the_desk.add_note(staff["analyst"], number, "Nota interna: la ciudadana ya llamó tres veces")
    assert followup.look_up(number, registration.tracking_key, "conv-arch").latest_message is None
    the_desk.change_status(staff["analyst"], number, "in_review")
    the_desk.change_status(
        staff["analyst"], number, "archived", reason="El turno ya fue atendido el día 5"
    )
    seen = followup.look_up(number, registration.tracking_key, "conv-arch")
    assert seen.latest_message == "El turno ya fue atendido el día 5"
    assert not (seen.may_write or seen.may_rate or seen.may_reopen)


def test_the_retention_job_forgets_expired_grants_and_closed_windows(engine, cipher):
    registration = register(engine, cipher)
    Followup(engine, cipher).look_up(registration.number, registration.tracking_key, "conv-old")
    wa_id = f"5939{uuid.uuid4().int % 10**8:08d}"
    ContactWindow(engine, cipher).saw(wa_id)
    tomorrow = lambda: datetime.utcnow() + timedelta(days=1, minutes=1)  # noqa: E731
    assert Followup(engine, cipher, now=tomorrow).forget_expired() >= 1
    with pytest.raises(NoGrant):
        Followup(engine, cipher).current("conv-old", registration.number)
    window = ContactWindow(engine, cipher, now=tomorrow)
    assert window.forget_closed() >= 1
    assert not ContactWindow(engine, cipher).is_open(wa_id)


def test_nobody_asks_the_citizen_on_a_closed_case(engine, cipher, staff):
    number, the_desk = register(engine, cipher).number, desk(engine, cipher)
    the_desk.change_status(staff["analyst"], number, "in_review")
    the_desk.change_status(staff["analyst"], number, "resolved", message="Listo")
    with pytest.raises(Invalid) as refused:
        the_desk.ask_citizen(staff["analyst"], number, "¿Algo más?")
    assert refused.value.reason == "status_change"
    assert not the_desk.open(staff["analyst"], number).may_ask
