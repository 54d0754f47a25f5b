"""Starts the real action server and Rasa server as subprocesses for a test."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
RASA = str(Path(sys.executable).parent / "rasa")
MODEL = ROOT / "models" / "current.tar.gz"
# The embedded profile's endpoints for a test: the action server on its free port and
# the encrypted tracker store in SQLite (fill in the database path with %).
EMBEDDED_ENDPOINTS = """
action_endpoint:
  url: "http://127.0.0.1:{actions_port}/webhook"
tracker_store:
  type: persistence.encrypted_tracker_store.EncryptedSQLTrackerStore
  dialect: sqlite
  db: %s
"""
WHATSAPP_VARS = (
    "WHATSAPP_VERIFY_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_PHONE_NUMBER_ID",
    "WHATSAPP_API_URL",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} died:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not up after {seconds}s:\n{log.read_text()[-3000:]}")


def wait_for_model(url: str, process: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    """Without the API: until the WhatsApp health route answers and the web page's
    upload no longer says the bot is starting."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} died:\n{log.read_text()[-3000:]}")
        try:
            answer = requests.post(
                f"{url}/webhooks/web/upload", timeout=2, files={"sender": (None, "0" * 40)}
            )
            if answer.status_code != 503:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url}: model not loaded after {seconds}s:\n{log.read_text()[-3000:]}")


class Bot:
    """The action server and the Rasa server, talking over HTTP like in production.

    Rasa's HTTP API is on, behind a random token (``api_token``), so that tests can
    read a conversation; ``scripts/run.sh`` and the production profile leave it off.
    """

    def __init__(
        self,
        workdir: Path,
        env: dict,
        endpoints: str,
        credentials: Path = None,
        api: bool = True,
        debug: bool = False,
    ):
        self.workdir = workdir
        self.credentials = str(credentials or ROOT / "credentials.yml")
        whatsapp_off = dict.fromkeys(WHATSAPP_VARS, "")  # credentials.yml reads them
        self.env = {
            **whatsapp_off,
            **os.environ,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.actions_port = free_port()
        self.rasa_port = free_port()
        self.endpoints = workdir / "endpoints.yml"
        self.endpoints.write_text(endpoints.replace("{actions_port}", str(self.actions_port)))
        self.processes = []
        self.logs = {}
        self.api_token = secrets.token_hex(16) if api else None
        self.debug = debug

    def _start(self, name: str, args: list) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process

    def start_actions(self) -> subprocess.Popen:
        debug = ["--debug"] if self.debug else []
        return self._start(
            "actions",
            [
                RASA,
                "run",
                "actions",
                "--port",
                str(self.actions_port),
                "--actions",
                "actions",
                *debug,
            ],
        )

    def stop_actions(self) -> None:
        """Stop the action server only (the Rasa server stays)."""
        for process in self.processes:
            if process.args[:3] == [RASA, "run", "actions"] and process.poll() is None:
                process.terminate()
                process.wait(timeout=20)

    def restart_actions(self) -> None:
        self.logs["actions-before-restart"] = self.logs["actions"]
        self.logs["actions"] = self.workdir / "actions-restarted.log"
        log = self.logs["actions"]
        process = subprocess.Popen(
            [RASA, "run", "actions", "--port", str(self.actions_port), "--actions", "actions"],
            cwd=ROOT,
            env=self.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        wait_for(f"http://127.0.0.1:{self.actions_port}/health", process, log)

    def start(self) -> Bot:
        actions = self.start_actions()
        api = ["--enable-api", "--auth-token", self.api_token] if self.api_token else []
        api += ["--debug"] if self.debug else []
        rasa = self._start(
            "rasa",
            [
                RASA,
                "run",
                "--model",
                str(MODEL),
                "--endpoints",
                str(self.endpoints),
                "--credentials",
                self.credentials,
                "--interface",
                "127.0.0.1",
                "--port",
                str(self.rasa_port),
                *api,
            ],
        )
        wait_for(f"http://127.0.0.1:{self.actions_port}/health", actions, self.logs["actions"])
        ready = (
            f"{self.url}/status?token={self.api_token}"
            if self.api_token
            else f"{self.url}/webhooks/web/"
        )
        wait_for(ready, rasa, self.logs["rasa"])
        if not self.api_token:
            wait_for_model(self.url, rasa, self.logs["rasa"])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    def say(self, sender: str, message: str) -> list:
        reply = requests.post(
            f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=60,
        )
        reply.raise_for_status()
        return reply.json()

    def tracker(self, sender: str) -> dict:
        reply = requests.get(
            f"http://127.0.0.1:{self.rasa_port}/conversations/{sender}/tracker",
            params={"token": self.api_token},
            timeout=30,
        )
        reply.raise_for_status()
        return reply.json()

    def all_logs(self) -> str:
        return "\n".join(path.read_text() for path in set(self.logs.values()))


def texts(replies: list) -> str:
    return "\n".join(reply.get("text", "") for reply in replies)


def payloads(replies: list) -> list:
    return [button["payload"] for reply in replies for button in reply.get("buttons", [])]
