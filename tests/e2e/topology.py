"""The production topology for a test: ``scripts/run-production.sh`` itself, on free
ports in a temporary folder, against a PostgreSQL and a Redis of its own (so that a
test may restart them), a real SMTP server it can stop and start (aiosmtpd) and the
fake Graph API; and citizens who talk to it over socket.io through nginx.

- :class:`PrivatePostgres`: ``initdb`` + ``pg_ctl`` in a temporary folder on a free
  port (as the ``postgres`` user when the tests run as root: PostgreSQL refuses
  root), removed at the end.
- :class:`PrivateRedis`: ``redis-server --save ''`` on a free port.
- :class:`SmtpServer`: aiosmtpd on a fixed free port, stopped and started again.
- :class:`Topology`: the start script with every variable it needs (the configured
  mode: nothing generated); ``pid``/``kill`` reach one process through the pid files
  its supervisor writes.
- :class:`Citizen`: a browser's cookie, the widget's socket.io session (websocket or
  long polling, optionally from its own loopback address), a whole registration;
  "try again" answers, a lost connection and a silent turn are retried the way a
  person would, and counted.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import requests
import socketio
import yaml
from cryptography.fernet import Fernet
from requests.adapters import HTTPAdapter

from tests import synthetic
from tests.e2e.servers import ROOT, free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
AS_ROOT = os.geteuid() == 0
_DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
BUSY = _DOMAIN["utter_service_busy"][0]["text"]
NOT_REGISTERED = _DOMAIN["utter_case_not_registered"][0]["text"]


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if AS_ROOT else command


class PrivatePostgres:
    """A PostgreSQL server of the test's own, which the test may restart."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="buzon-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        if AS_ROOT:
            shutil.chown(self.folder, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres"]
                + ["--auth=trust", "-E", "UTF8", "--no-sync"]
            ),
            check=True,
            capture_output=True,
        )

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, user: str, password: str, database: str) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", *args]),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> PrivatePostgres:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=300"
        )
        self._ctl("-l", str(self.folder / "postgres.log"), "-o", options, "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "stop")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except (subprocess.SubprocessError, OSError):
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivateRedis:
    """``redis-server`` on a free port, nothing saved, restartable."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="buzon-redis-"))
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=(self.folder / "redis.log").open("a"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class Mailbox:
    """What the SMTP server received, as (recipient, subject) pairs."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        import email
        from email import policy

        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append((str(message["To"]), str(message["Subject"])))
        return "250 OK"

    def count(self, number: str) -> int:
        with self._lock:
            return sum(1 for _, subject in self.messages if number in subject)

    def to_of(self, number: str) -> list[str]:
        with self._lock:
            return [to for to, subject in self.messages if number in subject]


class SmtpServer:
    """aiosmtpd on one port, which the test may stop (the port refuses) and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mailbox = Mailbox()
        self.controller = None

    def start(self) -> SmtpServer:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class Topology:
    """``scripts/run-production.sh`` with every peer and secret in its environment."""

    PROCESSES = ("actions-1", "actions-2", "rasa-1", "rasa-2", "outbox-1", "outbox-2")

    def __init__(
        self, postgres: PrivatePostgres, redis_port: int, smtp_port: int, extra: dict
    ) -> None:
        # nginx's workers (www-data when we are root) must reach their buffers folder.
        self.folder = Path(tempfile.mkdtemp(prefix="buzon-topology-"))
        self.folder.chmod(0o711)
        self.var = self.folder / "var"
        self.logs = self.var / "log" / "production"
        self.run_dir = self.var / "production" / "run"
        self.key = Fernet.generate_key().decode()
        self.runtime_password = "runtime-" + os.urandom(8).hex()
        owner_password = "owner-" + os.urandom(8).hex()
        self.public_port, self.staff_port = free_port(), free_port()
        self.rasa_ports = (free_port(), free_port())
        self.actions_ports = (free_port(), free_port())
        self.console_port = free_port()
        self.postgres = postgres
        self.cases_url = postgres.url("buzon_app", self.runtime_password, "buzon_cases")
        self.owner_cases_url = postgres.url("buzon_owner", owner_password, "buzon_cases")
        self.env = {
            **os.environ,
            "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin",
            "BUZON_VAR_DIR": str(self.var),
            "CASE_ENCRYPTION_KEY": self.key,
            "ACTION_SERVER_TOKEN": os.urandom(16).hex(),
            "BUZON_DB_ADMIN_URL": postgres.admin_url,
            "DATABASE_URL": self.cases_url,
            "DATABASE_MIGRATION_URL": self.owner_cases_url,
            "TRACKER_MIGRATION_URL": postgres.url(
                "buzon_owner", owner_password, "buzon_conversations"
            ),
            "TRACKER_DB_HOST": "127.0.0.1",
            "TRACKER_DB_PORT": str(postgres.port),
            "TRACKER_DB_NAME": "buzon_conversations",
            "TRACKER_DB_USER": "buzon_app",
            "TRACKER_DB_PASSWORD": self.runtime_password,
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(redis_port),
            "REDIS_DB": "0",
            "WHATSAPP_DEDUP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_SECURITY": "none",  # the test's aiosmtpd speaks plain SMTP
            "SMTP_FROM": "IESS <buzon@iess.gob.ec>",
            "PUBLIC_LISTEN": f"127.0.0.1:{self.public_port}",
            "STAFF_LISTEN": f"127.0.0.1:{self.staff_port}",
            "RASA_PORT_1": str(self.rasa_ports[0]),
            "RASA_PORT_2": str(self.rasa_ports[1]),
            "ACTIONS_PORT_1": str(self.actions_ports[0]),
            "ACTIONS_PORT_2": str(self.actions_ports[1]),
            "ACTIONS_PROXY_PORT": str(free_port()),
            "CONSOLE_PORT": str(self.console_port),
            "OUTBOX_WORKERS": "2",
            "OUTBOX_INTERVAL": "1",
            "CONVERSATION_RETENTION_MINUTES": "60",
            **extra,
        }
        self.env.pop("BUZON_PROFILE", None)
        self.process: subprocess.Popen | None = None

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.public_port}"

    @property
    def staff_url(self) -> str:
        return f"http://127.0.0.1:{self.staff_port}"

    def rasa_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.rasa_ports[index]}"

    def start(self, seconds: float = 300) -> Topology:
        self.output = self.folder / "run-production.out"
        self.process = subprocess.Popen(
            [str(ROOT / "scripts" / "run-production.sh")],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=self.output.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"run-production.sh ended:\n{self.tail()}")
            if "lista" in self.output.read_text():
                return self
            time.sleep(1)
        raise RuntimeError(f"run-production.sh not ready after {seconds}s:\n{self.tail()}")

    def tail(self) -> str:
        parts = [self.output.read_text()[-3000:]]
        for log in sorted(self.logs.glob("*.log")) if self.logs.exists() else []:
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}")
        return "\n".join(parts)

    def pid(self, name: str) -> int:
        return int((self.run_dir / f"{name}.pid").read_text())

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        pid = self.pid(name)
        os.kill(pid, sig)
        return pid

    def wait_restarted(self, name: str, old_pid: int, ready: Callable[[], bool], seconds=120):
        """Until the supervisor has started ``name`` again and ``ready()`` says it serves."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if self.pid(name) != old_pid and ready():
                    return self.pid(name)
            except (OSError, ValueError, requests.RequestException):
                pass
            time.sleep(0.5)
        raise AssertionError(f"{name} was not started again:\n{self.tail()}")

    def log(self, name: str) -> str:
        path = self.logs / name
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> int | None:
        """SIGTERM to the start script, as a process supervisor would; its exit status."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return None

    def leftovers(self) -> list[str]:
        """Processes of the script's group still alive."""
        found = subprocess.run(
            ["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True
        ).stdout.split()
        return found

    def destroy(self) -> None:
        self.stop()
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        kept = os.environ.get("TOPOLOGY_KEEP_LOGS")  # a folder to keep the logs in, to study
        if kept:
            shutil.copytree(self.folder / "var" / "log", kept, dirs_exist_ok=True)
        shutil.rmtree(self.folder, ignore_errors=True)


# --- citizens ---------------------------------------------------------------------------


class SourceAddressAdapter(HTTPAdapter):
    """Connections from one loopback address (127.0.0.0/8 is all this machine's)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        return super().init_poolmanager(*args, **kwargs)


def session_from(address: str | None) -> requests.Session:
    http = requests.Session()
    if address:
        http.mount("http://", SourceAddressAdapter(address))
    return http


def category_payload(messages: list[dict]) -> str | None:
    for message in messages:
        for button in message.get("quick_replies") or message.get("buttons") or []:
            if str(button.get("payload", "")).startswith('/inform{"category"'):
                return button["payload"]
    return None


# The questions of the form, in the order the happy path asks them.
ASKED = [
    "Protección de Datos",
    "Escriba su número de cédula",
    "Escriba un número de teléfono de contacto",
    "Escriba su correo electrónico",
    "¿En qué provincia vive?",
    "¿En qué cantón de",
    "Escriba su dirección: calle y número",
    "Cuéntenos qué pasó:",
]


def says(fragment: str) -> Callable[[list[dict]], bool]:
    return lambda new: any(fragment in m.get("text", "") for m in new)


class Citizen:
    """One browser registering a queja through the public side."""

    def __init__(
        self,
        base_url: str,
        number: int,
        seed: int,
        transport: str = "websocket",
        address: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.transport = transport
        self.address = address
        self.http = session_from(address)
        self.cedula = synthetic.cedula(f"090{seed:02d}{number:04d}")
        self.email = f"ciudadano{number}.prueba{seed}@example.com"
        self.messages: list[dict] = []
        self.arrived = threading.Condition()
        self.session_id: str | None = None
        self.client: socketio.Client | None = None
        self.retried: Counter = Counter()
        self.case_number: str | None = None
        self.turns: list[tuple[str, list[dict]]] = []
        self.max_tries = 12
        self.patience = 20.0  # seconds waited for an answer before sending the text again
        self.wait_after_reconnect = False  # see turn()
        self.events: list[tuple[float, str, str]] = []  # (when, who, what) for reports
        self.began = time.monotonic()

    # the widget's connection ------------------------------------------------------------
    def open(self) -> Citizen:
        page = self.http.get(f"{self.base_url}/webhooks/web/", timeout=20)
        page.raise_for_status()
        self.cookie = page.cookies["buzon_chat"]
        # The cookie is Secure (production profile); a browser sends it to this page's
        # origin, requests would not over http: keep it as the browser does.
        self.http.cookies.clear()
        self.http.cookies.set("buzon_chat", self.cookie)
        self._connect()
        return self

    def _connect(self) -> None:
        confirmed = threading.Event()
        client = socketio.Client(reconnection=False, http_session=self.http)

        def on_confirm(session_id):
            self.session_id = (
                session_id.get("session_id") if isinstance(session_id, dict) else session_id
            )
            confirmed.set()

        def on_bot(message):
            with self.arrived:
                self.messages.append(message)
                self.note("bot", message.get("text") or str(sorted(message)))
                self.arrived.notify_all()

        client.on("session_confirm", on_confirm)
        client.on("bot_uttered", on_bot)
        client.connect(
            self.base_url,
            transports=[self.transport],
            socketio_path="/socket.io/",
            wait_timeout=15,
        )
        previous = self.session_id
        client.emit("session_request", {"session_id": previous})
        if not confirmed.wait(15):
            client.disconnect()
            raise TimeoutError("no session_confirm")
        if previous is not None:
            assert self.session_id == previous, "the conversation was not resumed"
        self.client = client

    def reconnect(self, seconds: float = 60) -> None:
        """What the widget does when its server goes away: connect again, same session."""
        self.close()
        deadline = time.monotonic() + seconds
        while True:
            try:
                self._connect()
                return
            except (socketio.exceptions.ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def close(self) -> None:
        if self.client is not None and self.client.connected:
            self.client.disconnect()

    def note(self, who: str, what: str) -> None:
        self.events.append((time.monotonic() - self.began, who, what[:60]))

    def transcript(self) -> list[str]:
        """What happened to this citizen, in order: for a failing test's report."""
        return [f"{when:6.1f}s {who}: {what}" for when, who, what in self.events]

    # a turn -------------------------------------------------------------------------------
    def _outcome(self, start: int, expected: Callable[[list[dict]], bool], seconds: float):
        deadline = time.monotonic() + seconds
        with self.arrived:
            while time.monotonic() < deadline:
                new = self.messages[start:]
                if expected(new):
                    return "ok"
                texts = " ".join(m.get("text", "") for m in new)
                if BUSY in texts:
                    return "busy"
                if NOT_REGISTERED in texts and any(
                    "Revise sus datos" in m.get("text", "") for m in new
                ):
                    return "not_registered"
                if self.client is None or not self.client.connected:
                    return "disconnected"
                self.arrived.wait(0.2)
        return "silence"

    def turn(self, text: str, expected: Callable[[list[dict]], bool], seconds: float | None = None):
        """Send ``text`` until the reply ``expected`` arrives; every retry is counted.

        With ``wait_after_reconnect``, a citizen whose connection dropped after the text
        went out reconnects and waits for the answer before writing again (the text may
        wait on the other server for the conversation's lock, and its answer follows the
        socket); otherwise, and after silence, the text is sent again."""
        seconds = self.patience if seconds is None else seconds
        send = True
        for _ in range(self.max_tries):
            if send:
                start = len(self.messages)
                self.note("citizen", str(text))
                sent = self.send_text(text)
            outcome = self._outcome(start, expected, seconds)
            if outcome == "ok":
                time.sleep(0.15)  # the rest of the same answer
                with self.arrived:
                    self.turns.append((text, list(self.messages[start:])))
                return self.messages[start:]
            self.retried[outcome] += 1
            self.note("test", outcome)
            send = True
            if outcome in ("disconnected", "silence"):
                self.reconnect()
                send = not (outcome == "disconnected" and sent and self.wait_after_reconnect)
            else:
                time.sleep(1.5)  # "escríbalo de nuevo en unos minutos"
        raise AssertionError(f"no answer to a turn after retries: {dict(self.retried)}")

    def send_text(self, text: str) -> bool:
        """Whether ``text`` went out on a live connection."""
        if self.client is None or not self.client.connected:
            return False
        try:
            self.client.emit(
                "user_uttered",
                {"message": text, "customData": {"language": "es"}, "session_id": self.session_id},
            )
        except socketio.exceptions.BadNamespaceError:
            return False
        return True

    def reach_evidence(self, pause: float = 0.0) -> None:
        """From the menu to the question about evidence."""
        steps = [
            ("/register_queja", says(ASKED[0])),
            ("/affirm", says(ASKED[1])),
            (self.cedula, says(ASKED[2])),
            ("098 123 4567", says(ASKED[3])),
            (self.email, says(ASKED[4])),
            ("Guayas", says(ASKED[5])),
            ("Durán", says(ASKED[6])),
            ("Cdla. La Garzota Mz 12 Villa 7", says(ASKED[7])),
            (
                "en el hospital no me dieron turno para el cardiologo en tres meses",
                lambda new: category_payload(new) is not None,
            ),
        ]
        for text, expected in steps:
            self.turn(text, expected)
            time.sleep(pause)
        self.turn(category_payload(self.turns[-1][1]), says("hasta 1 MB"))

    def confirm(self) -> str:
        """«Confirmar» at the summary: the case number the bot gives."""
        done = self.turn("/affirm", says("Clave de seguimiento"))
        text = " ".join(m.get("text", "") for m in done)
        self.case_number = next(w for w in text.split() if w.startswith("IESS-Q-")).rstrip(".,")
        return self.case_number

    def register_queja(self, pause: float = 0.0) -> str:
        """The happy path of the web page, from the menu to the case number."""
        self.reach_evidence(pause)
        self.turn("/deny", says("Revise sus datos"))
        return self.confirm()

    def answered_in_order(self) -> bool:
        """Each turn's answer holds its own question and no later one's."""
        markers = ASKED
        for index, (_, replies) in enumerate(self.turns[: len(markers)]):
            text = " ".join(m.get("text", "") for m in replies)
            if markers[index] not in text:
                return False
            if any(later in text for later in markers[index + 1 :]):
                return False
        return True


def run_citizens(citizens: list[Citizen], during: Callable[[], None] | None = None, **kw):
    """Every citizen registers a queja at once (a thread each); ``during`` runs meanwhile.

    Returns the failures (an exception per citizen that did not finish).
    """
    failures: dict[int, BaseException] = {}

    def one(index: int, citizen: Citizen) -> None:
        try:
            citizen.open()
            citizen.register_queja(**kw)
        except BaseException as error:  # reported by the test
            failures[index] = error
        finally:
            citizen.close()

    threads = [
        threading.Thread(target=one, args=(i, c), daemon=True) for i, c in enumerate(citizens)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    if during is not None:
        during()
    for thread in threads:
        thread.join(timeout=400)
    return failures


def upstream_of(line: str) -> str | None:
    """The Rasa server that answered an access-log line of nginx's ``topology`` format."""
    for part in line.split():
        if part.startswith("upstream="):
            address = part[len("upstream=") :].split(",")[-1].strip()
            return address if address != "-" else None
    return None


def port_of(address: str) -> int:
    return urlsplit(f"http://{address}").port or 0
