"""The staff console over HTTP, a real server (``python -m console``): the role
boundaries through the pages and the API, a protected denunciante, CSRF, lockout,
sign-out, the OpenAPI document and the headers. Cases are registered by the
case store, as the bot registers them; accounts are made by the operator command."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
import requests
from cryptography.fernet import Fernet

from buzon import crypto, db
from buzon.cases.store import CaseStore
from buzon.evidence import EvidenceStore
from tests import synthetic, synthetic_files
from tests.e2e.console_server import PASSWORD, Console, csrf_of
from tests.unit.test_case_store import draft

pytestmark = pytest.mark.e2e

CEDULA = synthetic.cedula("171234987")
PHONE, EMAIL, ADDRESS = "+593987650001", "protegida@example.com", "Calle Reservada 77 y Olmos"
SECRETS = (CEDULA, "987650001", EMAIL, "Reservada")


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("console")
    key = Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    db.migrate(url)
    cipher = crypto.FieldCipher(key)
    engine = db.make_engine(url)
    store = CaseStore(engine, cipher)
    now = datetime.utcnow()
    people = dict(cedula=CEDULA, phone=PHONE, email=EMAIL, address=ADDRESS, consent_at=now)
    server = Console(
        tmp_path,
        {"DATABASE_URL": url, "CASE_ENCRYPTION_KEY": key, "BUZON_VAR_DIR": str(tmp_path / "var")},
    )
    server.cases = {
        "salud": store.register(draft(**people)).number,
        "pensiones": store.register(
            draft(
                **{**people, "category": "queja_administrativa"},
                description="Mi pensión de jubilación no llega.",
            )
        ).number,
    }
    server.cases["sin_correo"] = store.register(
        draft(
            **{**people, "email": None},
            channel="whatsapp",
            whatsapp_id="593987650001",
            description="No me dan turno para traumatología desde agosto.",
        )
    ).number
    EvidenceStore(engine, cipher).add(
        "conv-console", "r1", "denuncia", "foto.png", synthetic_files.png()
    )
    server.cases["denuncia"] = store.register(
        draft(
            kind="denuncia",
            category="denuncia_coima",
            conversation_id="conv-console",
            registration_id="r1",
            description="El jefe de farmacia cobra por los turnos.",
            **people,
        )
    ).number
    server.start()
    yield server
    server.stop()


def member(console, role, *areas):
    return console.staff(f"{role}.{uuid.uuid4().hex[:6]}@iess.gob.ec", role, *areas)


def test_an_analyst_never_sees_another_areas_cases(console):
    token = console.token(member(console, "analista", "salud"))
    listed = console.api(token, "GET", "/cases", params={"per_page": 200}).json()
    numbers = [case["number"] for case in listed["cases"]]
    assert console.cases["salud"] in numbers
    assert console.cases["pensiones"] not in numbers and console.cases["denuncia"] not in numbers
    for other in ("pensiones", "denuncia"):
        assert console.api(token, "GET", f"/cases/{console.cases[other]}").status_code == 404
        assert (
            console.api(
                token, "POST", f"/cases/{console.cases[other]}/notes", json={"text": "x"}
            ).status_code
            == 404
        )
    mine = console.api(token, "GET", f"/cases/{console.cases['salud']}").json()
    assert mine["identity"]["cedula"] == CEDULA  # an analyst works with the contact data
    assert console.api(token, "GET", "/cases/IESS-Q-2099-000001").status_code == 404


def test_a_case_without_email_shows_the_whatsapp_choice_not_a_blank(console):
    analyst = member(console, "analista", "salud")
    number = console.cases["sin_correo"]
    seen = console.api(console.token(analyst), "GET", f"/cases/{number}").json()
    assert seen["identity"]["email"] is None and seen["identity"]["phone"] == PHONE
    page = console.browser_session(analyst).get(f"{console.url}/cases/{number}", timeout=30)
    assert page.status_code == 200
    contact = page.text.split('id="h-persona"')[1].split("</section>")[0]
    assert "WhatsApp" in contact and "None" not in contact


def test_an_investigator_never_sees_the_denunciante_until_a_custodian_approves(console):
    investigator, other = member(console, "investigador"), member(console, "investigador")
    custodian = member(console, "custodio")
    token = console.token(investigator)
    number = console.cases["denuncia"]
    answer = console.api(token, "GET", f"/cases/{number}")
    assert answer.status_code == 200 and answer.json()["denunciante"].startswith("D-")
    page = console.browser_session(investigator).get(f"{console.url}/cases/{number}", timeout=30)
    for text in (answer.text, page.text):
        for secret in SECRETS:
            assert secret not in text
    file_id = answer.json()["evidence"][0]["id"]
    original = console.api(
        token, "GET", f"/cases/{number}/evidence/{file_id}", params={"original": "true"}
    )
    assert original.status_code == 403
    copy = console.api(token, "GET", f"/cases/{number}/evidence/{file_id}")
    assert copy.status_code == 200 and copy.headers["content-disposition"].startswith("attachment")

    request_id = console.api(
        token, "POST", f"/cases/{number}/reveal-requests", json={"reason": "Citarla como testigo"}
    ).json()["id"]
    assert (
        console.api(
            token, "POST", f"/reveal-requests/{request_id}/decision", json={"approve": True}
        ).status_code
        == 403
    )  # not their own
    custodian_token = console.token(custodian)
    assert console.api(custodian_token, "GET", f"/cases/{number}").status_code == 404
    assert (
        console.api(
            custodian_token,
            "POST",
            f"/reveal-requests/{request_id}/decision",
            json={"approve": True},
        ).status_code
        == 204
    )
    revealed = console.api(token, "GET", f"/cases/{number}").json()
    assert revealed["identity"]["cedula"] == CEDULA
    assert console.api(console.token(other), "GET", f"/cases/{number}").json()["identity"] is None


def test_a_change_without_the_csrf_token_is_refused(console):
    analyst = member(console, "analista", "salud")
    session = console.browser_session(analyst)
    number = console.cases["salud"]
    page = session.get(f"{console.url}/cases/{number}", timeout=30)
    assert page.status_code == 200
    for data in ({"note": "sin token"}, {"note": "token falso", "csrf": "0" * 32}):
        assert (
            session.post(
                f"{console.url}/cases/{number}/note", data=data, timeout=30, allow_redirects=False
            ).status_code
            == 403
        )
    forged_origin = session.post(
        f"{console.url}/cases/{number}/note",
        timeout=30,
        data={"note": "otro sitio", "csrf": csrf_of(page.text)},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert forged_origin.status_code == 403
    done = session.post(
        f"{console.url}/cases/{number}/note",
        allow_redirects=False,
        timeout=30,
        data={"note": "Llamé a la ciudadana", "csrf": csrf_of(page.text)},
    )
    assert done.status_code == 303
    timeline = session.get(f"{console.url}/cases/{number}", timeout=30).text
    assert "Llamé a la ciudadana" in timeline and "sin token" not in timeline


def test_five_failures_lock_the_account(console):
    analyst = member(console, "analista", "salud")
    code = analyst.code()  # a wrong password never gets as far as the code
    for _ in range(5):
        assert (
            requests.post(
                f"{console.url}/api/v1/session",
                timeout=30,
                json={"email": analyst.email, "password": "no es", "totp": code},
            ).status_code
            == 401
        )
    assert (
        requests.post(
            f"{console.url}/api/v1/session",
            timeout=30,
            json={"email": analyst.email, "password": PASSWORD, "totp": code},
        ).status_code
        == 401
    )


def test_signing_out_ends_the_session(console):
    analyst = member(console, "analista", "salud")
    session = console.browser_session(analyst)
    home = session.get(f"{console.url}/", timeout=30)
    assert home.status_code == 200
    session.post(f"{console.url}/logout", data={"csrf": csrf_of(home.text)}, timeout=30)
    stolen = requests.get(
        f"{console.url}/", cookies={"buzon_staff": "x"}, timeout=30, allow_redirects=False
    )
    assert stolen.status_code == 303
    again = session.get(f"{console.url}/", allow_redirects=False, timeout=30)
    assert again.status_code == 303 and again.headers["location"] == "/login"
    token = console.token(analyst)
    assert console.api(token, "DELETE", "/session").status_code == 204
    assert console.api(token, "GET", "/cases").status_code == 401


def test_roles_without_cases_see_none_and_the_auditor_reads_the_log(console):
    admin, auditor = member(console, "administrador"), member(console, "auditor")
    admin_token, auditor_token = console.token(admin), console.token(auditor)
    assert console.api(admin_token, "GET", "/cases").json()["total"] == 0
    assert console.api(admin_token, "GET", f"/cases/{console.cases['salud']}").status_code == 404
    assert console.api(admin_token, "GET", "/audit").status_code == 403
    assert console.api(auditor_token, "GET", "/accounts").status_code == 403
    log = console.api(auditor_token, "GET", "/audit").json()
    assert {"login", "view_case"} <= {entry["action"] for entry in log}
    assert not [s for s in SECRETS if s in json.dumps(log, ensure_ascii=False)]
    assert console.api(admin_token, "GET", "/accounts").status_code == 200


def test_the_api_is_described_and_pages_send_strict_headers(console):
    spec = requests.get(f"{console.url}/api/v1/openapi.json", timeout=30).json()
    for path in (
        "/api/v1/session",
        "/api/v1/cases",
        "/api/v1/cases/{number}",
        "/api/v1/cases/{number}/status",
        "/api/v1/reveal-requests/{request_id}/decision",
        "/api/v1/cases/{number}/questions",
        "/api/v1/reports/summary",
    ):
        assert path in spec["paths"], path
    assert not [p for p in spec["paths"] if not p.startswith("/api/v1/")]
    login = requests.get(f"{console.url}/login", timeout=30)
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    assert login.headers["cache-control"] == "no-store"
    assert requests.get(f"{console.url}/api/v1/cases", timeout=30).status_code == 401


def test_an_investigator_asks_the_denunciante_without_learning_where_it_goes(console):
    token = console.token(member(console, "investigador"))
    number = console.cases["denuncia"]
    empty = console.api(token, "POST", f"/cases/{number}/questions", json={"text": "  "})
    assert empty.status_code == 422 and empty.json()["detail"]["reason"] == "question_required"
    asked = console.api(
        token, "POST", f"/cases/{number}/questions", json={"text": "¿Qué día le pidieron dinero?"}
    )
    assert asked.status_code == 204
    case = console.api(token, "GET", f"/cases/{number}")
    assert case.json()["status"] == "information_requested"
    assert case.json()["timeline"][-1]["message_to_citizen"] == "¿Qué día le pidieron dinero?"
    assert case.json()["due"]["step"] == "resolution"
    for secret in SECRETS:
        assert secret not in asked.text + case.text
    # an analyst cannot ask on a denuncia they do not see (a closed case: test_followup.py)
    analyst = console.token(member(console, "analista", "salud"))
    assert (
        console.api(analyst, "POST", f"/cases/{number}/questions", json={"text": "¿Hola?"})
    ).status_code == 404


def test_reports_count_only_what_each_role_sees(console):
    investigator = console.api(
        console.token(member(console, "investigador")), "GET", "/reports/summary"
    )
    assert investigator.status_code == 200
    kinds = [cell["key"] for cell in investigator.json()["sections"]["kind"]]
    assert kinds == ["denuncia"]
    assert investigator.json()["total"] == {"count": None, "shown": "<5"}  # one denuncia
    analyst = console.api(
        console.token(member(console, "analista", "pensiones")), "GET", "/reports/summary"
    )
    assert [cell["key"] for cell in analyst.json()["sections"]["area"]] == ["pensiones"]
    for role in ("custodio", "administrador", "auditor"):
        token = console.token(member(console, role))
        assert console.api(token, "GET", "/reports/summary").status_code == 403
    assert requests.get(f"{console.url}/api/v1/reports/summary", timeout=30).status_code == 401
    page = console.browser_session(member(console, "custodio")).get(
        f"{console.url}/reports.csv", timeout=30, allow_redirects=False
    )
    assert page.status_code == 403
    exported = console.browser_session(member(console, "analista", "salud")).get(
        f"{console.url}/reports.csv", timeout=30
    )
    assert exported.headers["content-disposition"].startswith("attachment")
    assert exported.content.startswith(b"\xef\xbb\xbfsection,key,label,value")
    for secret in SECRETS:
        assert secret not in exported.text


def test_the_overdue_queue_lists_only_late_cases(console):
    token = console.token(member(console, "analista", "salud"))
    everything = console.api(token, "GET", "/cases").json()
    late = console.api(token, "GET", "/cases", params={"overdue": "true"}).json()
    assert everything["total"] >= 1 and late["total"] == 0  # registered today: nothing late
    assert all(line["due"]["overdue"] is False for line in everything["cases"] if line["due"])
    page = console.browser_session(member(console, "analista", "salud")).get(
        f"{console.url}/?overdue=1", timeout=30
    )
    assert "Casos atrasados" in page.text and "No hay casos con estos filtros." in page.text
