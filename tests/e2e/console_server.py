"""The staff console as a real server for tests, and staff accounts made by the command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyotp
import requests

from tests.e2e.servers import ROOT, free_port, wait_for

PASSWORD = "una clave larga y segura"


@dataclass
class StaffMember:
    email: str
    role: str
    totp_secret: str | None
    last_step: int = -1

    def code(self) -> str | None:
        """A code for the next sign-in. The console takes each code once (and the
        one of the next 30 s window too): a second sign-in uses the next window's."""
        if not self.totp_secret:
            return None
        totp = pyotp.TOTP(self.totp_secret)
        step = max(int(time.time() // totp.interval), self.last_step + 1)
        while step > int(time.time() // totp.interval) + 1:
            time.sleep(1)
        self.last_step = step
        return totp.generate_otp(step)


class Console:
    def __init__(self, workdir: Path, env: dict) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "STAFF_PORT": str(self.port),
            "STAFF_HOST": "127.0.0.1",
            **env,
        }
        self.process: subprocess.Popen | None = None
        self.log = workdir / "console.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Console:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "console"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        wait_for(f"{self.url}/login", self.process, self.log, seconds=60)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def staff(self, email: str, role: str, *areas: str) -> StaffMember:
        """An account made with ``python -m buzon.commands staff-user`` (the password
        through STAFF_PASSWORD), its TOTP secret read from the URI it prints."""
        done = subprocess.run(
            [sys.executable, "-m", "buzon.commands", "staff-user", email, role, *areas],
            cwd=ROOT,
            env={**self.env, "STAFF_PASSWORD": PASSWORD},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert PASSWORD not in done.stdout + done.stderr
        uri = re.search(r"otpauth://\S+", done.stdout)
        secret = pyotp.parse_uri(uri.group(0)).secret if uri else None
        return StaffMember(email, role, secret)

    def token(self, member: StaffMember) -> str:
        answer = requests.post(
            f"{self.url}/api/v1/session",
            timeout=30,
            json={"email": member.email, "password": PASSWORD, "totp": member.code()},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["token"]

    def api(self, token: str, method: str, path: str, **options) -> requests.Response:
        return requests.request(
            method,
            f"{self.url}/api/v1{path}",
            timeout=30,
            headers={"Authorization": f"Bearer {token}"},
            **options,
        )

    def browser_session(self, member: StaffMember) -> requests.Session:
        """A signed-in page session (the cookie), as a browser would hold it."""
        session = requests.Session()
        answer = session.post(
            f"{self.url}/login",
            allow_redirects=False,
            timeout=30,
            data={"email": member.email, "password": PASSWORD, "totp": member.code() or ""},
        )
        assert answer.status_code == 303, answer.text
        return session


def csrf_of(page_html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page_html).group(1)
