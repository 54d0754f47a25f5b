"""The staff console in Debian's headless Chromium, on the real servers.

A citizen registers a queja through the bot (the page's socket.io channel, with a
PNG uploaded as evidence); the analyst of its area signs in with password and
TOTP, finds it in the inbox, opens it, downloads the evidence, moves it to "en
análisis" and resolves it; the citizen's "Consultar estado" then shows it
resolved. An analyst of another area never sees it. Contrast (WCAG AA) of the
console's stylesheet is in test_contrast.py.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from buzon import crypto, db
from tests import synthetic, synthetic_files
from tests.e2e.console_server import PASSWORD, Console
from tests.e2e.servers import EMBEDDED_ENDPOINTS, Bot
from tests.e2e.socket_chat import SocketChat, texts
from tests.web.test_widget import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, _require

pytestmark = pytest.mark.e2e

CEDULA = synthetic.cedula("171654321")
STORY = "en el hospital del sur me hicieron esperar seis horas y nunca me dieron la cita"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("console-browser")
    key = Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    env = {"BUZON_VAR_DIR": str(tmp_path / "var"), "CASE_ENCRYPTION_KEY": key, "DATABASE_URL": url}
    db.migrate(url)
    credentials = tmp_path / "credentials.yml"
    credentials.write_text(
        "channels.web.SocketIOInput:\n  user_message_evt: user_uttered\n"
        "  bot_message_evt: bot_uttered\n  session_persistence: true\n"
        "channels.web.WebPageInput:\n"
    )
    bot = Bot(
        tmp_path,
        env,
        EMBEDDED_ENDPOINTS % (tmp_path / "tracker.db"),
        credentials=credentials,
        api=False,
    )
    console = Console(tmp_path, env)
    bot.start()
    console.start()
    yield bot, console, crypto.FieldCipher(key)
    console.stop()
    bot.stop()


@pytest.fixture()
def browser(tmp_path):
    _require(
        Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file(),
        "Debian's chromium and chromium-driver are needed",
    )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-console-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = [f for f in CHROMIUM_FLAGS if not f.startswith("--window-size")]
    for flag in flags + ["--window-size=1024,900", f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    downloads = tmp_path / "descargas"
    downloads.mkdir()
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.downloads = downloads
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def register_queja_through_the_bot(bot: Bot) -> tuple[str, str]:
    """A citizen on the page's channel: consent, data, story, a PNG, confirmation."""
    import requests

    cookie = SocketChat.page_cookie(bot.url)
    chat = SocketChat(bot.url, cookie, origin=bot.url).connect()
    try:
        chat.say("/register_queja")
        for answer in (
            "/affirm",
            CEDULA,
            "0991112233",
            "ciudadano.consola@example.com",
            "quito",
            "Av. Maldonado S12-34 y Pujilí",
            STORY,
            '/inform{"category":"queja_tiempo_espera"}',
            "/affirm",
        ):
            chat.say(answer)
        upload = requests.post(
            f"{bot.url}/webhooks/web/upload",
            timeout=60,
            cookies={"buzon_chat": cookie},
            data={"sender": chat.session_id},
            files={"file": ("receta.png", synthetic_files.png(), "image/png")},
        )
        chat.say(upload.json()["message"])
        assert "Revise sus datos" in texts(chat.say("/affirm"))  # "Listo": the summary
        done = texts(chat.say("/affirm"))
    finally:
        chat.close()
    number = re.search(r"IESS-Q-\d{4}-\d{6}", done).group(0)
    key = done.split("Clave de seguimiento: ")[1].split()[0]
    return number, key


def check_status(bot: Bot, number: str, key: str) -> str:
    chat = SocketChat(bot.url, SocketChat.page_cookie(bot.url), origin=bot.url).connect()
    try:
        chat.say("/check_status")
        chat.say(number)
        return texts(chat.say(key))
    finally:
        chat.close()


def sign_in(driver, console: Console, member) -> None:
    by = __import__("selenium.webdriver.common.by", fromlist=["By"]).By
    driver.get(f"{console.url}/login")
    driver.find_element(by.ID, "email").send_keys(member.email)
    driver.find_element(by.ID, "password").send_keys(PASSWORD)
    driver.find_element(by.ID, "totp").send_keys(member.code())
    driver.find_element(by.CSS_SELECTOR, "form.form button").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(lambda d: not d.current_url.endswith("/login"))


def heading_says(driver, words: str, seconds: float = 30) -> None:
    """Wait for the page the form led to (the old page's elements go stale meanwhile)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(d):
        try:
            return words in d.find_element(By.TAG_NAME, "h1").text
        except StaleElementReferenceException:
            return False
        except WebDriverException as error:
            # Chromium's way of saying stale when the page changes between finding the
            # heading and reading it (seen once in CI)
            if "does not belong to the document" in str(error):
                return False
            raise

    WebDriverWait(driver, seconds).until(shown)


def test_an_analyst_handles_a_queja_registered_through_the_bot(servers, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    bot, console, _cipher = servers
    number, key = register_queja_through_the_bot(bot)
    analyst = console.staff("analista.salud@iess.gob.ec", "analista", "salud")
    outsider = console.staff("analista.pensiones@iess.gob.ec", "analista", "pensiones")

    sign_in(browser, console, outsider)
    assert browser.current_url.rstrip("/") == console.url, browser.page_source[-800:]
    assert number not in browser.page_source
    browser.get(f"{console.url}/cases/{number}")
    heading_says(browser, "No encontrado")
    browser.find_element(By.CSS_SELECTOR, ".who button").click()  # sign out

    sign_in(browser, console, analyst)
    assert number in browser.page_source
    browser.find_element(By.LINK_TEXT, number).click()
    heading_says(browser, number)
    page = browser.page_source
    assert CEDULA in page and STORY in page and "receta.png" in page

    browser.find_element(By.PARTIAL_LINK_TEXT, "Descargar copia segura").click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(browser.downloads.glob("*.png")):
        time.sleep(0.2)
    [saved] = list(browser.downloads.glob("*.png"))
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    Select(browser.find_element(By.ID, "status")).select_by_value("in_review")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/status'] button").click()
    heading_says(browser, "En análisis")
    Select(browser.find_element(By.ID, "status")).select_by_value("resolved")
    browser.find_element(By.ID, "message").send_keys("Se le asignó una cita para el lunes.")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/status'] button").click()
    heading_says(browser, "Resuelto")
    assert "Se le asignó una cita para el lunes." in browser.page_source

    assert "Resuelto" in check_status(bot, number, key)
