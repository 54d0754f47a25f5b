"""The reports page in Debian's headless Chromium, on the real console server, for
a seeded set of cases; its CSV, downloaded by the browser, checked against the
database with SQL of its own."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections import Counter
from datetime import datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from buzon import crypto, db
from buzon.audit import AuditLog
from buzon.cases.store import CaseStore
from buzon.staff.accounts import AccountStore
from buzon.staff.desk import CaseDesk
from tests import synthetic
from tests.e2e.console_server import Console
from tests.unit.test_case_store import draft
from tests.web.test_console_browser import browser, heading_says, sign_in  # noqa: F401

pytestmark = pytest.mark.e2e

# (category, canton, how many): Guayaquil and Quito are big cells; Olmedo (Manabí),
# with two cases, must not be shown as 2, nor Quito's 6 (it would give Olmedo's by
# subtraction from the total).
SEEDED = [
    ("queja_turnos", ("09", "0901"), 8),
    ("queja_tiempo_espera", ("09", "0901"), 4),
    ("queja_maltrato", ("17", "1701"), 6),
    ("queja_medicamentos", ("13", "1318"), 2),
]


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("reports")
    key = Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    db.migrate(url)
    cipher = crypto.FieldCipher(key)
    engine = db.make_engine(url)
    server = Console(
        tmp_path,
        {"DATABASE_URL": url, "CASE_ENCRYPTION_KEY": key, "BUZON_VAR_DIR": str(tmp_path / "var")},
    ).start()
    server.supervisor = server.staff("supervisora.salud@iess.gob.ec", "supervisor", "salud")
    store = CaseStore(engine, cipher)
    numbers = []
    for category, (province, canton), count in SEEDED:
        for _ in range(count):
            numbers.append(
                store.register(
                    draft(
                        cedula=synthetic.cedula(f"171{uuid.uuid4().int % 10**6:06d}"),
                        category=category,
                        province_code=province,
                        canton_code=canton,
                        consent_at=datetime.utcnow(),
                    )
                ).number
            )
    supervisor = AccountStore(engine, cipher).by_email(server.supervisor.email).staff
    desk = CaseDesk(engine, cipher, AuditLog(engine, cipher))
    for number in numbers[:7]:  # seven answered, the same day: on time
        desk.change_status(supervisor, number, "in_review")
        desk.change_status(supervisor, number, "resolved", message="Resuelto.")
    server.engine = engine
    yield server
    server.stop()


def database_counts(engine) -> dict[str, Counter]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT kind, category, canton_code FROM cases")).all()
    return {
        "kind": Counter(r.kind for r in rows),
        "category": Counter(r.category for r in rows),
        "canton": Counter(r.canton_code for r in rows),
    }


def test_the_reports_page_draws_the_charts_and_the_csv_matches_the_database(
    console,
    browser,  # noqa: F811
):
    from selenium.webdriver.common.by import By

    sign_in(browser, console, console.supervisor)
    browser.find_element(By.LINK_TEXT, "Reportes").click()
    heading_says(browser, "Reportes")

    charts = browser.find_elements(By.CSS_SELECTOR, "figure.chart svg[role='img']")
    assert len(charts) >= 6
    category = browser.find_element(By.CSS_SELECTOR, "figure[aria-labelledby='category-title']")
    bars = category.find_elements(By.CSS_SELECTOR, "rect.bar")
    assert (
        len(bars) == 2
    )  # turnos 8, maltrato 6; tiempo de espera 4 and medicamentos 2: "<5", no bar
    widths = sorted(float(bar.get_attribute("width")) for bar in bars)
    assert widths[-1] == 560.0 and widths[0] > 0
    assert bars[0].rect["width"] > 0  # drawn, not only in the markup
    table = category.find_element(By.TAG_NAME, "table").text
    assert "problemas con turnos o citas 8" in table.lower()
    canton = browser.find_element(By.CSS_SELECTOR, "figure[aria-labelledby='canton-title']").text
    assert "<5" in canton and " 2\n" not in canton + "\n"
    assert browser.find_element(By.ID, "fig-total").text == "20"
    assert browser.find_element(By.ID, "fig-resolved").text == "7"
    assert browser.find_element(By.ID, "fig-on-time").text == "100.0 %"

    browser.find_element(By.PARTIAL_LINK_TEXT, "Descargar CSV").click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(browser.downloads.glob("*.csv")):
        time.sleep(0.2)
    [saved] = list(browser.downloads.glob("*.csv"))
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["section", "key", "label", "value"]
    exported = {(r[0], r[1]): r[3] for r in rows[1:]}

    counts = database_counts(console.engine)
    assert exported[("total", "")] == str(sum(counts["kind"].values()))
    for section in ("kind", "category", "canton"):
        shown = {key: value for (s, key), value in exported.items() if s == section}
        assert set(shown) == set(counts[section]), section
        for key, value in shown.items():
            real = counts[section][key]
            if value == "<5":
                assert 0 < real < 5
            elif value == "x":  # hidden so that a "<5" cannot be worked out
                assert [v for v in shown.values() if v == "<5"] == ["<5"]
            else:
                assert int(value) == real >= 5, (section, key)
    assert exported[("canton", "1318")] == "<5"  # Olmedo's two
    assert exported[("canton", "1701")] == "x"  # Quito's six would give them away
    assert exported[("measure", "on_time_share")] == "1.0"
