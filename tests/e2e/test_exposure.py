"""What each profile exposes, tried from outside.

- ``scripts/run.sh`` (what ``make run`` starts): no HTTP API, loopback only,
  private files, and a SIGTERM stops every process it started.
- The production profile (``credentials.production.yml`` + ``endpoints.production.yml``):
  only the page, socket.io and the WhatsApp webhook; the action server wants its
  token; a conversation over socket.io belongs to the browser that opened it;
  and without ``CASE_ENCRYPTION_KEY`` no process starts.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import time
from urllib.parse import urlparse

import pytest
import requests
import socketio
from cryptography.fernet import Fernet

from buzon import db
from tests.e2e.servers import RASA, ROOT, Bot, free_port, wait_for, wait_for_model
from tests.e2e.socket_chat import SocketChat, texts

pytestmark = pytest.mark.e2e


def outside_address() -> str | None:
    """This machine's address on its default route, if it has one besides loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


# --- make run -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("make-run")
    var = tmp_path / "var"
    rasa_port, actions_port, console_port = free_port(), free_port(), free_port()
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        (ROOT / "endpoints.yml")
        .read_text()
        .replace("localhost:5055", f"127.0.0.1:{actions_port}")
        .replace("db: var/tracker.db", f"db: {var / 'tracker.db'}")
    )
    env = {
        **os.environ,
        "BUZON_VAR_DIR": str(var),
        "RASA_PORT": str(rasa_port),
        "ACTIONS_PORT": str(actions_port),
        "STAFF_PORT": str(console_port),
        "BUZON_ENDPOINTS": str(endpoints),
    }
    for name in (
        "CASE_ENCRYPTION_KEY",
        "DATABASE_URL",
        "RASA_API_TOKEN",
        "SMTP_HOST",
        "BUZON_PROFILE",
    ):
        env.pop(name, None)
    subprocess.run(["make", "-s", "migrate"], cwd=ROOT, env=env, check=True)
    process = subprocess.Popen(
        ["scripts/run.sh"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=(tmp_path / "run.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{rasa_port}"
    wait_for(f"{url}/webhooks/web/", process, tmp_path / "run.log")
    wait_for_model(url, process, tmp_path / "run.log")
    wait_for(f"http://127.0.0.1:{console_port}/login", process, tmp_path / "run.log")
    yield {
        "process": process,
        "url": url,
        "var": var,
        "ports": (rasa_port, actions_port, console_port),
        "log": tmp_path / "run.log",
    }
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)


def test_make_run_serves_no_api(make_run):
    url = make_run["url"]
    reply = requests.post(
        f"{url}/webhooks/rest/webhook", json={"sender": "fuera", "message": "hola"}, timeout=60
    )
    assert "Hola" in " ".join(m.get("text", "") for m in reply.json())
    for path in ("/conversations/fuera/tracker", "/status", "/model", "/version"):
        assert requests.get(url + path, timeout=10).status_code == 404, path
    assert requests.delete(url + "/model", timeout=10).status_code in (404, 405)


def test_make_run_listens_on_loopback_only(make_run):
    address = outside_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    for port in make_run["ports"]:
        assert reachable("127.0.0.1", port)
        assert not reachable(address, port), f"port {port} answers on {address}"


def test_make_run_keeps_its_files_private(make_run):
    requests.post(
        f"{make_run['url']}/webhooks/rest/webhook",
        json={"sender": "privado", "message": "hola"},
        timeout=60,
    )
    found = [path for path in make_run["var"].rglob("*")]
    assert any(path.name == "case_encryption.key" for path in found)
    assert any(path.name == "tracker.db" for path in found)
    loose = [str(p) for p in found if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert loose == []


def test_a_sigterm_to_make_run_stops_every_server(make_run):
    process = make_run["process"]
    children = subprocess.run(
        ["pgrep", "-g", str(process.pid)], capture_output=True, text=True
    ).stdout.split()
    assert len(children) >= 6  # run.sh, actions, outbox, retention, console, rasa
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alive = subprocess.run(
            ["pgrep", "-g", str(process.pid)], capture_output=True, text=True
        ).stdout.split()
        if not alive:
            break
        time.sleep(0.5)
    assert alive == [], "servers left running after SIGTERM"
    for port in make_run["ports"]:
        assert not reachable("127.0.0.1", port)


# --- the production profile -------------------------------------------------------------------


@pytest.fixture(scope="module")
def production(tmp_path_factory, postgres_url):
    tmp_path = tmp_path_factory.mktemp("production")
    parts = urlparse(postgres_url)
    env = {
        "BUZON_PROFILE": "production",
        "BUZON_VAR_DIR": str(tmp_path / "var"),
        "CASE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": postgres_url,
        "ACTION_SERVER_TOKEN": "token-de-produccion",
        "TRACKER_DB_HOST": parts.hostname,
        "TRACKER_DB_PORT": str(parts.port),
        "TRACKER_DB_NAME": parts.path.lstrip("/"),
        "TRACKER_DB_USER": parts.username or "",
        "TRACKER_DB_PASSWORD": parts.password or "",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": "6379",
        "REDIS_DB": "1",
        "WHATSAPP_DEDUP_REDIS_URL": "redis://127.0.0.1:6379/1",
        "SOCKETIO_REDIS_URL": "redis://127.0.0.1:6379/1",
    }
    db.migrate(postgres_url)
    server = Bot(
        tmp_path,
        env,
        (ROOT / "endpoints.production.yml").read_text(),
        credentials=ROOT / "credentials.production.yml",
        api=False,
    )
    server.env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{server.actions_port}/webhook"
    server.start()
    yield server
    server.stop()


def test_production_exposes_only_the_page_socketio_and_whatsapp(production):
    url = production.url
    assert requests.get(f"{url}/webhooks/web/", timeout=10).status_code == 200
    assert requests.get(f"{url}/webhooks/whatsapp/webhook", timeout=10).status_code == 403
    assert (
        requests.post(
            f"{url}/webhooks/rest/webhook", json={"sender": "x", "message": "hola"}, timeout=10
        ).status_code
        == 404
    )
    for path in ("/conversations/x/tracker", "/status", "/model"):
        assert requests.get(url + path, timeout=10).status_code == 404, path


def test_production_action_server_wants_its_token(production):
    hook = f"http://127.0.0.1:{production.actions_port}/webhook"
    call = {
        "next_action": "action_cancel",
        "tracker": {"sender_id": "x", "slots": {}, "events": []},
    }
    assert requests.post(hook, json=call, timeout=10).status_code == 401
    assert (
        requests.post(
            hook, json=call, timeout=10, headers={"Authorization": "Bearer otro"}
        ).status_code
        == 401
    )
    assert (
        requests.get(f"http://127.0.0.1:{production.actions_port}/actions", timeout=10).status_code
        == 401
    )


def test_a_conversation_over_socketio_belongs_to_its_browser(production):
    url = production.url
    citizen = SocketChat(url, SocketChat.page_cookie(url), origin=url).connect()
    thief = None
    try:
        assert "Hola" in texts(citizen.say("hola"))
        victims = citizen.session_id
        thief = SocketChat(url, SocketChat.page_cookie(url), origin=url).connect(session_id=victims)
        assert thief.session_id != victims
        start = len(thief.messages)
        thief.send("/register_denuncia", session_id=victims)  # typing into the victim's chat
        assert "Protección de Datos" in texts(citizen.say("/register_denuncia"))
        assert "Escriba su número" in texts(citizen.say("/affirm"))
        assert thief.wait_for_messages(start, quiet=1.0, seconds=3) == []
        assert not any("Protección" in m.get("text", "") for m in thief.messages)
    finally:
        citizen.close()
        if thief:
            thief.close()


@pytest.mark.parametrize("cookie, origin", [(None, "same"), ("page", "https://evil.example")])
def test_a_socket_without_the_page_or_from_another_site_is_refused(production, cookie, origin):
    url = production.url
    chat = SocketChat(
        url,
        SocketChat.page_cookie(url) if cookie else None,
        origin=url if origin == "same" else origin,
    )
    with pytest.raises(socketio.exceptions.ConnectionError):
        chat.connect()


@pytest.mark.parametrize("what", ["actions", "rasa"])
def test_no_process_starts_in_production_without_the_key(tmp_path, what):
    env = {
        **os.environ,
        "BUZON_PROFILE": "production",
        "BUZON_VAR_DIR": str(tmp_path / "var"),
        "ACTION_SERVER_TOKEN": "t",
        "PYTHONPATH": str(ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cases.db'}",
        **dict.fromkeys(
            (
                "WHATSAPP_VERIFY_TOKEN",
                "WHATSAPP_APP_SECRET",
                "WHATSAPP_ACCESS_TOKEN",
                "WHATSAPP_PHONE_NUMBER_ID",
                "WHATSAPP_API_URL",
                "WHATSAPP_DEDUP_REDIS_URL",
                "SOCKETIO_REDIS_URL",
            ),
            "",
        ),
    }
    env.pop("CASE_ENCRYPTION_KEY", None)
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        f"tracker_store:\n  type: persistence.encrypted_tracker_store."
        f"EncryptedSQLTrackerStore\n  dialect: sqlite\n  db: {tmp_path / 't.db'}\n"
    )
    port = free_port()
    command = (
        [RASA, "run", "actions", "--actions", "actions", "--port", str(port)]
        if what == "actions"
        else [
            RASA,
            "run",
            "--model",
            str(ROOT / "models" / "current.tar.gz"),
            "--endpoints",
            str(endpoints),
            "--credentials",
            str(ROOT / "credentials.production.yml"),
            "--port",
            str(port),
        ]
    )
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    served = reachable("127.0.0.1", port)
    assert process.returncode not in (None, 0) or not served
    assert "CASE_ENCRYPTION_KEY" in output
    assert not (tmp_path / "var" / "case_encryption.key").exists()
