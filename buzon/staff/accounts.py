"""Staff accounts, their sign-in and their sessions.

- Passwords are hashed with argon2 (``argon2-cffi``); at least 12 characters.
- Every role that can see a citizen's identity, or give access to it, signs in
  with a second factor: a TOTP code (``pyotp``) from an authenticator app; a
  code is accepted once.
- Five failed sign-ins lock the account for 15 minutes; a success clears them.
- A session is a random token; only its keyed hash is stored. Browser sessions
  end after 30 idle minutes or 12 hours; API tokens after 8 hours. Signing out
  ends a session; an administrator can end all of an account's sessions.

>>> check_password_rule("corta")
Traceback (most recent call last):
    ...
buzon.validation.Invalid: password_too_short
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, Text, select, update
from sqlalchemy.engine import Engine

from buzon import messages
from buzon.cases import routing
from buzon.clock import utcnow
from buzon.crypto import FieldCipher
from buzon.db import Base, session_factory
from buzon.staff.permissions import Role, Staff
from buzon.validation import Invalid
from buzon.validation import email as email_validation

MIN_PASSWORD = 12
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
BROWSER_IDLE = timedelta(minutes=30)
BROWSER_LIFETIME = timedelta(hours=12)
API_LIFETIME = timedelta(hours=8)
BROWSER, API = "browser", "api"

_hasher = PasswordHasher()


class StaffUser(Base):
    __tablename__ = "staff_users"

    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False, unique=True)
    password_hash = Column(Text, nullable=False)
    role = Column(String(32), nullable=False)
    areas = Column(Text, nullable=False, default="[]")
    totp_secret_enc = Column(Text)
    totp_last_step = Column(Integer)
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime())
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime(), nullable=False)


class StaffSession(Base):
    __tablename__ = "staff_sessions"

    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    user_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)
    created_at = Column(DateTime(), nullable=False)
    last_seen_at = Column(DateTime(), nullable=False)
    expires_at = Column(DateTime(), nullable=False)
    revoked_at = Column(DateTime())


def check_password_rule(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise Invalid("password_too_short", min_chars=MIN_PASSWORD)


def _areas(row: StaffUser) -> frozenset[str]:
    return frozenset(json.loads(row.areas or "[]"))


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    role: Role
    areas: frozenset[str]
    active: bool
    locked: bool
    has_second_factor: bool

    @property
    def staff(self) -> Staff:
        return Staff(self.id, self.role, self.areas)


@dataclass(frozen=True)
class Saved:
    """An account created or changed; ``totp_uri`` when a new second factor was set."""

    account: Account
    totp_uri: str | None


@dataclass(frozen=True)
class SignedIn:
    account: Account
    token: str


class SignInRefused(Exception):
    """Wrong e-mail, password or code, or a locked account: the same for all."""


class AccountStore:
    def __init__(
        self, engine: Engine, cipher: FieldCipher, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.cipher = cipher
        self.now = now
        self._session = session_factory(engine)

    # --- accounts -------------------------------------------------------------------

    def _account(self, row: StaffUser) -> Account:
        locked = row.locked_until is not None and row.locked_until > self.now()
        return Account(
            row.id,
            row.email,
            Role(row.role),
            _areas(row),
            bool(row.active),
            locked,
            row.totp_secret_enc is not None,
        )

    def save(
        self,
        email: str,
        role: Role | str,
        areas: list[str] | None = None,
        password: str | None = None,
        new_second_factor: bool = False,
    ) -> Saved:
        """Create the account or change its role, areas and (if given) password.

        A role that needs a second factor gets a new TOTP secret when it has
        none (or when ``new_second_factor``); its provisioning URI is returned.
        """
        role = Role(role)
        address = email_validation.validate(email).lower()
        known = set(routing.areas())
        chosen = sorted(set(areas or []))
        if unknown := [a for a in chosen if a not in known]:
            raise Invalid("area_unknown", areas=unknown)
        if role in (Role.ANALYST, Role.SUPERVISOR) and not chosen:
            raise Invalid("area_required")
        if password is not None:
            check_password_rule(password)
        uri = None
        with self._session.begin() as session:
            row = session.execute(
                select(StaffUser).where(StaffUser.email == address)
            ).scalar_one_or_none()
            if row is None:
                if password is None:
                    raise Invalid("password_required")
                row = StaffUser(email=address, created_at=self.now(), failed_logins=0, active=True)
                session.add(row)
            row.role = role.value
            row.areas = json.dumps(chosen)
            if password is not None:
                row.password_hash = _hasher.hash(password)
            if role.needs_second_factor and (row.totp_secret_enc is None or new_second_factor):
                secret = pyotp.random_base32()
                row.totp_secret_enc = self.cipher.encrypt(secret)
                row.totp_last_step = None
                uri = pyotp.TOTP(secret).provisioning_uri(
                    name=address, issuer_name=messages.text("totp_issuer")
                )
            session.flush()
            account = self._account(row)
        return Saved(account, uri)

    def get(self, account_id: int) -> Account | None:
        with self._session() as session:
            row = session.get(StaffUser, account_id)
            return self._account(row) if row else None

    def by_email(self, email: str) -> Account | None:
        with self._session() as session:
            row = session.execute(
                select(StaffUser).where(StaffUser.email == email.lower())
            ).scalar_one_or_none()
            return self._account(row) if row else None

    def all(self) -> list[Account]:
        with self._session() as session:
            rows = session.execute(select(StaffUser).order_by(StaffUser.email)).scalars().all()
            return [self._account(r) for r in rows]

    def set_active(self, account_id: int, active: bool) -> None:
        with self._session.begin() as session:
            session.execute(
                update(StaffUser).where(StaffUser.id == account_id).values(active=active)
            )
        if not active:
            self.revoke_all(account_id)

    def staff_ids_of_area(self, area: str) -> list[int]:
        return [a.id for a in self.all() if area in a.areas and a.active]

    # --- signing in ------------------------------------------------------------------

    def totp_now(self, account_id: int) -> str:
        """The current code of an account's second factor (tests and first set-up)."""
        with self._session() as session:
            row = session.get(StaffUser, account_id)
            return pyotp.TOTP(self.cipher.decrypt(row.totp_secret_enc)).now()

    def _second_factor_ok(self, row: StaffUser, code: str | None) -> bool:
        if not Role(row.role).needs_second_factor:
            return True
        if row.totp_secret_enc is None or not code:
            return False
        totp = pyotp.TOTP(self.cipher.decrypt(row.totp_secret_enc))
        now = (
            self.now().timestamp()
            if self.now().tzinfo
            else (self.now() - datetime(1970, 1, 1)).total_seconds()
        )
        for drift in (0, -1, 1):
            step = int(now // totp.interval) + drift
            if secrets.compare_digest(totp.generate_otp(step), code.strip()):
                if row.totp_last_step is not None and step <= row.totp_last_step:
                    return False  # a code is good once
                row.totp_last_step = step
                return True
        return False

    def sign_in(self, email: str, password: str, code: str | None, kind: str = BROWSER) -> SignedIn:
        """A new session for the right e-mail, password and code; SignInRefused otherwise."""
        now = self.now()
        with self._session.begin() as session:
            row = session.execute(
                select(StaffUser).where(StaffUser.email == (email or "").lower()).with_for_update()
            ).scalar_one_or_none()
            if row is None:
                _hasher.hash(password or "x")  # the same work for a name that does not exist
                raise SignInRefused()
            if not row.active or (row.locked_until is not None and row.locked_until > now):
                raise SignInRefused()
            password_ok: bool
            try:
                password_ok = bool(_hasher.verify(row.password_hash, password or ""))
            except (VerificationError, InvalidHashError):
                password_ok = False
            if not password_ok or not self._second_factor_ok(row, code):
                row.failed_logins = (row.failed_logins or 0) + 1
                if row.failed_logins >= MAX_FAILURES:
                    row.locked_until = now + LOCKOUT
                    row.failed_logins = 0
                failed = True
            else:
                failed = False
                row.failed_logins = 0
                row.locked_until = None
                if _hasher.check_needs_rehash(row.password_hash):
                    row.password_hash = _hasher.hash(password)
            account = self._account(row)
        if failed:
            raise SignInRefused()
        token = secrets.token_urlsafe(32)
        lifetime = BROWSER_LIFETIME if kind == BROWSER else API_LIFETIME
        with self._session.begin() as session:
            session.add(
                StaffSession(
                    token_hash=self._token_hash(token),
                    user_id=account.id,
                    kind=kind,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + lifetime,
                )
            )
        return SignedIn(account, token)

    def _token_hash(self, token: str) -> str:
        return self.cipher.keyed_hash("staff-session", token)

    def session_account(self, token: str | None, kind: str = BROWSER) -> Account | None:
        """The account of a live session (and the session's idle time renewed)."""
        if not token:
            return None
        now = self.now()
        with self._session.begin() as session:
            found = session.execute(
                select(StaffSession).where(StaffSession.token_hash == self._token_hash(token))
            ).scalar_one_or_none()
            if (
                found is None
                or found.kind != kind
                or found.revoked_at is not None
                or found.expires_at <= now
                or (kind == BROWSER and found.last_seen_at + BROWSER_IDLE <= now)
            ):
                return None
            row = session.get(StaffUser, found.user_id)
            if row is None or not row.active:
                return None
            found.last_seen_at = now
            return self._account(row)

    def csrf_token(self, token: str) -> str:
        """The anti-forgery token of a browser session (derived, never stored)."""
        return self.cipher.keyed_hash("staff-csrf", token)[:32]

    def sign_out(self, token: str) -> None:
        with self._session.begin() as session:
            session.execute(
                update(StaffSession)
                .where(StaffSession.token_hash == self._token_hash(token))
                .values(revoked_at=self.now())
            )

    def revoke_all(self, account_id: int) -> int:
        with self._session.begin() as session:
            done = session.execute(
                update(StaffSession)
                .where(StaffSession.user_id == account_id, StaffSession.revoked_at.is_(None))
                .values(revoked_at=self.now())
            )
        return int(done.rowcount)
