"""The standard Rasa commands work as a Rasa user types them.

Each runs from a plain activated virtual environment: no variable of this
project set (no WhatsApp secrets, no keys), only ``PATH`` and ``VIRTUAL_ENV``,
in the project folder, on the trained model, with the embedded defaults (the
conversations in var/tracker.db, the development key in var/, as `make run`). ``rasa shell`` and
``rasa interactive`` run in a pseudo-terminal, as in a real terminal.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"
MODEL = ROOT / "models" / "current.tar.gz"
pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="train the model first (make train)")


def plain_environment(tmp_path: Path) -> dict[str, str]:
    """What `source .venv/bin/activate` leaves in a fresh shell, and nothing of ours."""
    return {
        "PATH": f"{VENV / 'bin'}:/usr/bin:/bin",
        "VIRTUAL_ENV": str(VENV),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "TERM": "xterm",
        "RASA_TELEMETRY_ENABLED": "false",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Terminal:
    """A command in a pseudo-terminal, read until a text appears."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            command,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = b""

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 1)
            if ready:
                try:
                    self.screen += os.read(self.master, 65536)
                except OSError:
                    return False
                if text.encode() in self.screen:
                    return True
            elif self.process.poll() is not None:
                return False
        return False

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        os.close(self.master)


@pytest.fixture()
def env(tmp_path):
    return plain_environment(tmp_path)


@pytest.mark.parametrize(
    "command,answer",
    [
        (["rasa", "shell"], "Buzón de Quejas y Denuncias"),  # the bot's greeting
        (
            ["rasa", "interactive", "--model", str(MODEL), "--skip-visualization"],
            "with intent 'greet'",  # the trainer is asked about the NLU's reading
        ),
    ],
    ids=["shell", "interactive"],
)
def test_a_terminal_command_answers_hola(env, command, answer):
    terminal = Terminal([*command, "--port", str(free_port())], env)
    try:
        assert terminal.wait_for("Your input", 240), terminal.screen[-2000:]
        terminal.type("hola")
        assert terminal.wait_for(answer, 90), terminal.screen[-2000:]
    finally:
        terminal.close()


def test_rasa_run_serves_with_whatsapp_off(env):
    port = free_port()
    log = Path(env["HOME"]) / "rasa.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            ["rasa", "run", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        answer = None
        deadline = time.monotonic() + 240
        while answer is None and time.monotonic() < deadline and server.poll() is None:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/webhooks/rest/webhook",
                    data=json.dumps({"sender": "rasa-user", "message": "hola"}).encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer = json.loads(response.read())
            except OSError:
                time.sleep(1)
        assert answer, log.read_text(errors="replace")[-3000:]
        assert "Buzón" in answer[0]["text"]
        verify = (
            f"http://127.0.0.1:{port}/webhooks/whatsapp/webhook"
            "?hub.mode=subscribe&hub.verify_token=&hub.challenge=1"
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(verify, timeout=10)
        assert refused.value.code == 403  # no secrets: WhatsApp is simply off
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


@pytest.mark.parametrize(
    "command",
    [
        ["rasa", "data", "validate"],
        ["rasa", "visualize", "--out", "{tmp}/graph.html"],
        ["rasa", "test", "nlu", "--nlu", "tests/nlu/test_set_voices.yml", "--out", "{tmp}/nlu"],
        ["rasa", "test", "core", "--stories", "tests/conversations", "--out", "{tmp}/core"],
    ],
    ids=["data-validate", "visualize", "test-nlu", "test-core"],
)
def test_a_standard_command_finishes_cleanly(env, command):
    tmp = env["HOME"]
    done = subprocess.run(
        [part.replace("{tmp}", tmp) for part in command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "expand the environment variables" not in done.stdout + done.stderr
