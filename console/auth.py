"""Who is asking: the session cookie of the pages, the bearer token of the API, CSRF.

- Pages: the session token lives in the ``buzon_staff`` cookie (HttpOnly,
  SameSite=Strict, Secure outside the embedded profile). Every POST carries a
  ``csrf`` field derived from the session (:meth:`AccountStore.csrf_token`) and
  an ``Origin``, if any, of this very host; otherwise it is refused.
- API: ``Authorization: Bearer <token>`` from ``POST /api/v1/session``; no
  cookies, so no CSRF.
- Sign-in attempts are limited per client address (on top of each account's
  lockout), so one address cannot try many accounts.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from buzon import wiring
from buzon.staff.accounts import API, BROWSER, Account

COOKIE = "buzon_staff"
CLIENT_ATTEMPTS = 20  # failed sign-ins per address
CLIENT_WINDOW = 15 * 60  # seconds


@dataclass(frozen=True)
class Caller:
    account: Account
    token: str

    @property
    def csrf(self) -> str:
        return wiring.current().accounts.csrf_token(self.token)


class ClientThrottle:
    """At most ``CLIENT_ATTEMPTS`` failed sign-ins per client address in ``CLIENT_WINDOW``.

    Only failures count: a whole office signs in from one address at eight in the
    morning, and must not be locked out by its own colleagues' right passwords.
    (Each account is also locked after five failures of its own.)
    """

    def __init__(self, attempts: int = CLIENT_ATTEMPTS, window: float = CLIENT_WINDOW) -> None:
        self.attempts, self.window = attempts, window
        self._failed: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failed = self._failed.setdefault(client, deque())
        while failed and failed[0] <= now - self.window:
            failed.popleft()
        return failed

    def allow(self, client: str) -> bool:
        with self._lock:
            return len(self._recent(client, time.monotonic())) < self.attempts

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)


throttle = ClientThrottle()


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


def page_caller(request: Request) -> Caller | None:
    token = request.cookies.get(COOKIE)
    account = wiring.current().accounts.session_account(token, kind=BROWSER)
    return Caller(account, token) if account and token else None


def api_caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    token = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""
    account = wiring.current().accounts.session_account(token, kind=API) if token else None
    if account is None or not token:
        raise HTTPException(
            status_code=401, detail="unauthorized", headers={"WWW-Authenticate": "Bearer"}
        )
    return Caller(account, token)


def check_csrf(request: Request, caller: Caller, sent: str | None) -> None:
    if not same_origin(request) or not sent or not hmac.compare_digest(sent, caller.csrf):
        raise HTTPException(status_code=403, detail="csrf")
