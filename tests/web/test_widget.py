"""End to end in a real browser: the citizens' page, the chat widget and the
evidence upload.

The real action server and Rasa server (embedded profile: SQLite) serve the page
(``channels.web.WebPageInput``) and the socket.io channel; a headless Chromium
from Debian's packages (``chromium``, ``chromium-driver``), driven by Selenium,
opens the page on a phone-sized screen and files a queja by clicking the
widget's buttons and typing, attaches files with «Adjuntar evidencia», and
reads the case back from the database. It also saves ``docs/widget.png``.

Nothing is downloaded: the browser is /usr/bin/chromium and the driver
/usr/bin/chromedriver. Without them (or without ``web/node_modules``, installed
by ``npm ci`` in ``web/``) the tests fail in CI and are skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import text

from buzon import crypto, db
from buzon.cases.store import CaseStore
from channels import web
from tests import synthetic, synthetic_files
from tests.e2e.servers import EMBEDDED_ENDPOINTS, ROOT, Bot

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
BUNDLE = ROOT / "web" / "node_modules" / "rasa-webchat" / "lib" / "index.js"
SCREENSHOT = ROOT / "docs" / "widget.png"
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=390,844",
]

CEDULA = synthetic.cedula("091122334")
PHONE_TYPED = "099 765 4321"
EMAIL = "ciudadana.web@example.com"
ADDRESS = "Av. Nicolás Lapentti Km 3 Mz 5 Villa 9"
STORY = "fui tres veces al dispensario y el guardia no me dejo entrar a pedir el turno para mi mama"
WAIT = 60  # seconds for one bot reply on a busy 2-core machine

CREDENTIALS = """\
channels.rest.RestInput:
channels.web.SocketIOInput:
  user_message_evt: user_uttered
  bot_message_evt: bot_uttered
  session_persistence: true
channels.web.WebPageInput:
"""


def _require(condition: bool, reason: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    _require(BUNDLE.is_file(), "rasa-webchat is not installed: run `npm ci` in web/")
    tmp_path = tmp_path_factory.mktemp("web")
    key = Fernet.generate_key().decode()
    env = {
        "BUZON_VAR_DIR": str(tmp_path / "var"),
        "CASE_ENCRYPTION_KEY": key,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cases.db'}",
    }
    credentials = tmp_path / "credentials.yml"
    credentials.write_text(CREDENTIALS)
    server = Bot(
        tmp_path, env, EMBEDDED_ENDPOINTS % (tmp_path / "tracker.db"), credentials=credentials
    )
    db.migrate(env["DATABASE_URL"])
    server.cipher = crypto.FieldCipher(key)
    server.store = CaseStore(db.make_engine(env["DATABASE_URL"]), server.cipher)
    server.page_url = f"http://127.0.0.1:{server.rasa_port}/webhooks/web/"
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def browser():
    _require(
        Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file(),
        "Debian's chromium and chromium-driver are needed "
        "(apt-get install chromium chromium-driver)",
    )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # A phone's viewport exactly (a headless window cannot be narrower than 500 px).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


class Chat:
    """The page as a citizen uses it: reads the bot, clicks buttons, types, attaches files."""

    def __init__(self, driver, files_dir: Path):
        from selenium.webdriver.common.by import By

        self.driver = driver
        self.by = By
        self.files_dir = files_dir
        self.seen = 0  # bot messages already read

    def _wait(self, condition, what: str, seconds: float = WAIT):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = condition()
            if found:
                return found
            time.sleep(0.25)
        raise AssertionError(f"waited {seconds}s for {what}; the chat shows:\n{self.transcript()}")

    def bot_texts(self) -> list:
        # Read in one script: the widget re-renders messages while they arrive.
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll("
            "'.rw-conversation-container .rw-response'))"
            ".map(function (m) { return m.innerText; })"
        )

    def transcript(self) -> str:
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll("
            "'.rw-conversation-container .rw-response, .rw-conversation-container .rw-client'))"
            ".map(function (m) { return (m.classList.contains('rw-response') ? 'BOT: ' : 'YO:  ')"
            " + m.innerText; }).join('\\n')"
        )

    def expect(self, *fragments: str) -> str:
        """Wait for new bot messages that together contain every fragment; their text."""

        def arrived():
            texts = self.bot_texts()
            fresh = "\n".join(texts[self.seen :])
            if all(fragment in fresh for fragment in fragments):
                self.seen = len(texts)
                return fresh
            return None

        return self._wait(arrived, f"a reply with {fragments!r}")

    def click(self, title: str) -> None:
        """Click the visible button (quick reply) of the latest bot message with this title."""
        from selenium.common.exceptions import StaleElementReferenceException

        def clicked():
            try:
                for element in reversed(
                    self.driver.find_elements(self.by.CSS_SELECTOR, ".rw-reply")
                ):
                    if element.text.strip() == title and element.is_displayed():
                        self.driver.execute_script(
                            "arguments[0].scrollIntoView({block: 'center'})", element
                        )
                        element.click()
                        return True
            except StaleElementReferenceException:
                pass  # re-rendered meanwhile: look again
            return False

        self._wait(clicked, f"the button «{title}»")

    def say(self, message: str) -> None:
        from selenium.webdriver.common.keys import Keys

        box = self.driver.find_element(self.by.CSS_SELECTOR, ".rw-new-message")
        box.click()
        box.send_keys(message)
        box.send_keys(Keys.ENTER)

    def attach(self, name: str, content: bytes) -> str:
        """Choose a file with «Adjuntar evidencia»; the status shown next to it."""
        path = self.files_dir / name
        path.write_bytes(content)
        status = self.driver.find_element(self.by.ID, "evidence-status")
        self.driver.execute_script("arguments[0].textContent = ''", status)
        self.driver.find_element(self.by.ID, "evidence-file").send_keys(str(path))

        def settled():
            shown = status.text.strip()
            return shown if shown and not shown.startswith("Enviando") else None

        return self._wait(settled, f"the upload of {name}")


def test_page_is_an_iess_service_on_a_phone(bot, browser):
    page = requests.get(bot.page_url, timeout=30)
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    bundle = requests.get(bot.page_url + "static/webchat.js", timeout=30)
    assert bundle.status_code == 200 and b"fonts.googleapis.com" not in bundle.content
    assert requests.get(bot.page_url + "static/../index.html", timeout=30).status_code == 404

    browser.get(bot.page_url)
    assert browser.title == "Buzón de Quejas y Denuncias del IESS"
    body = browser.find_element("tag name", "body").text
    assert "¿Qué es una queja?" in body and "¿Qué es una denuncia?" in body
    assert "confidencial" in body and "gestiondenuncias@iess.gob.ec" in body
    chat = Chat(browser, Path(tempfile.mkdtemp()))
    greeting = chat.expect("Hola, le saluda el Buzón de Quejas y Denuncias del IESS")
    assert "¿Qué desea hacer?" in greeting
    titles = [b.text for b in browser.find_elements("css selector", ".rw-reply")]
    assert titles == [
        "Registrar queja",
        "Registrar denuncia",
        "Consultar estado",
        "¿Qué puedo reportar?",
    ]
    # The widget is open on a phone, nothing is wider than the screen, the control is there.
    assert browser.find_element("css selector", ".rw-new-message").is_displayed()
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE["width"]
    label = browser.find_element("css selector", "label[for=evidence-file]")
    assert label.text.strip() == "Adjuntar evidencia"
    file_input = browser.find_element("id", "evidence-file")
    assert file_input.get_attribute("type") == "file"
    assert "application/pdf" in file_input.get_attribute("accept")
    # The file input is reached with the keyboard (Tab), not only with the mouse.
    assert browser.execute_script("return arguments[0].tabIndex", file_input) == 0
    assert browser.execute_script(
        "var s = getComputedStyle(arguments[0]); "
        "return s.display !== 'none' && s.visibility !== 'hidden'",
        file_input,
    )
    # The same on the smallest phone we support.
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {**PHONE, "width": 360, "height": 640}
    )
    time.sleep(0.5)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360
    # Its buttons work from the keyboard too.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    from selenium.webdriver.common.keys import Keys

    help_button = browser.find_elements("css selector", ".rw-reply")[-1]
    assert (
        help_button.get_attribute("role") == "button"
        and help_button.get_attribute("tabindex") == "0"
    )
    help_button.send_keys(Keys.ENTER)
    assert "gestiondenuncias@iess.gob.ec" in chat.expect("Una QUEJA es por un mal servicio")
    severe = [
        entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"
    ]
    assert severe == [], severe


def test_the_server_refuses_more_than_20_mb_without_reading_it_all(bot):
    boundary = "----buzonWebTest"
    cookie = requests.get(bot.page_url, timeout=30).cookies["buzon_chat"]
    sender = web.session_id_for(
        cookie, bot.cipher.hash_key("web-session")
    )  # not asking for evidence
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="sender"\r\n\r\n{sender}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="video.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    body = head + synthetic_files.png(padding=21 * 1024 * 1024) + f"\r\n--{boundary}--\r\n".encode()
    answer = requests.post(
        bot.page_url + "upload",
        data=body,
        timeout=120,
        cookies={"buzon_chat": cookie},
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert answer.status_code == 200
    assert answer.json() == {"message": '/inform{"evidence_error": "evidence_not_now"}'}
    malformed = requests.post(bot.page_url + "upload", files={"file": ("a.png", b"x")}, timeout=30)
    assert malformed.status_code == 400


def test_a_citizen_files_a_queja_with_evidence_in_the_widget(bot, browser, tmp_path):
    browser.get(bot.page_url)
    chat = Chat(browser, tmp_path)
    chat.expect("Hola, le saluda")
    session_id = browser.execute_script(
        "return JSON.parse(sessionStorage.getItem('chat_session')).session_id"
    )
    assert len(session_id) == 40  # a nonce and its MAC under this browser's cookie
    assert browser.execute_script("return document.cookie") == ""  # HttpOnly: not for scripts

    chat.click("Registrar queja")
    chat.expect("Protección de Datos Personales")
    chat.click("Acepto")
    chat.expect("cédula")
    chat.say(CEDULA)
    chat.expect("teléfono")
    chat.say(PHONE_TYPED)
    chat.expect("correo")
    chat.say(EMAIL)
    chat.expect("provincia")
    chat.say("duran")
    chat.expect("calle y número")
    chat.say(ADDRESS)
    chat.expect("Cuéntenos qué pasó")
    chat.say(STORY)
    chat.expect("describe mejor su queja")
    chat.click("Problemas con turnos o citas")
    assert "hasta 1 MB" in chat.expect("evidencia")

    chat.click("Sí, tengo")
    chat.expect("Adjuntar evidencia", "Listo")

    # A small PNG is stored; the bot says so in the chat.
    status = chat.attach("receta.png", synthetic_files.png())
    assert "receta.png" in status and "enviado" in status
    chat.expect("Recibimos su archivo «receta.png»", "Puede enviar otro archivo")  # and asks again
    assert "Archivo adjunto: receta.png" in chat.transcript()
    browser.execute_script(
        "arguments[0].scrollIntoView({block: 'start'})", browser.find_element("id", "chat")
    )
    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))

    # A 2 MB PNG is over the 1 MB of a queja.
    status = chat.attach("foto-grande.png", synthetic_files.png(padding=2 * 1024 * 1024))
    assert "no fue aceptado" in status
    chat.expect("pesa más de 1 MB")

    # Text bytes called .pdf are not a PDF.
    status = chat.attach("informe.pdf", b"esto no es un PDF, solo texto\n" * 20)
    assert "no fue aceptado" in status
    chat.expect("solo se aceptan PDF, JPG o PNG")

    chat.click("Listo")
    summary = chat.expect("Revise sus datos", "¿Registramos su caso?")
    assert "Evidencia: 1 archivo" in summary
    for shown in (CEDULA, "+593997654321", EMAIL, "Durán, Guayas", ADDRESS):
        assert shown in summary
    chat.click("Confirmar y registrar")
    done = chat.expect("Número de caso")
    number = next(word for word in done.split() if word.startswith("IESS-Q-"))

    case = bot.store.reveal(number)
    assert case["evidence_count"] == 1
    assert case["channel"] == "socketio" and case["cedula"] == CEDULA
    with bot.store.engine.connect() as connection:
        files = connection.execute(
            text(
                "SELECT e.kind, e.size FROM evidence e JOIN cases c ON c.id = e.case_id "
                "WHERE c.number = :number"
            ),
            {"number": number},
        ).all()
    assert [(kind, size) for kind, size in files] == [("png", len(synthetic_files.png()))]
    logs = bot.all_logs()
    for secret in (CEDULA, "997654321", EMAIL, "receta.png"):
        assert secret not in logs


def test_long_messages_read_as_lists_on_a_phone(bot, browser, tmp_path):
    """The consent's and the summary's bullets each on a line of their own: the widget's
    markdown would run single line breaks together into one paragraph."""
    browser.get(bot.page_url)
    chat = Chat(browser, tmp_path)
    chat.expect("Hola, le saluda")
    chat.click("Registrar queja")
    consent = chat.expect("Protección de Datos Personales")
    bullets = [line for line in consent.splitlines() if line.strip().startswith("•")]
    assert len(bullets) >= 3, consent  # innerText: what the citizen sees, line by line
    width = browser.execute_script(
        "var m = document.querySelectorAll('.rw-conversation-container .rw-response');"
        "return m[m.length - 1].getBoundingClientRect().right;"
    )
    assert width <= PHONE["width"]  # and nothing runs off the phone's screen
