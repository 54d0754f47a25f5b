"""Every environment variable the domain package reads, in one place.

The defaults are the embedded profile of ``make run``: SQLite files and mail
files under ``var/``, nothing else to install or start. ``BUZON_PROFILE=production``
is the profile of a real deployment: there a missing ``CASE_ENCRYPTION_KEY`` stops
every process at start-up instead of creating a development key.

>>> s = load({"BUZON_VAR_DIR": "/tmp/buzon-doc"})
>>> s.database_url, s.profile, s.smtp_host is None, s.smtp_security
('sqlite:////tmp/buzon-doc/cases.db', 'embedded', True, 'starttls')
>>> load({"SMTP_SECURITY": "TLS"}).smtp_security
Traceback (most recent call last):
    ...
ValueError: SMTP_SECURITY must be one of starttls, ssl, none
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from buzon import messages

ROOT = Path(__file__).resolve().parent.parent

EMBEDDED, PRODUCTION = "embedded", "production"
PROFILES = (EMBEDDED, PRODUCTION)
SMTP_SECURITY = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class Settings:
    profile: str
    var_dir: Path
    database_url: str
    encryption_key: str | None
    smtp_host: str | None
    smtp_port: int
    smtp_user: str | None
    smtp_password: str | None
    smtp_from: str
    smtp_security: str
    smtp_ca_file: str | None
    smtp_timeout: float
    mail_max_attempts: int
    default_channel: str
    conversation_retention: timedelta
    whatsapp_access_token: str | None
    whatsapp_phone_number_id: str | None
    whatsapp_api_url: str
    whatsapp_notice_template: str
    whatsapp_notice_language: str

    @property
    def mail_dir(self) -> Path:
        """Where e-mails are kept, encrypted, when no SMTP server is set (embedded)."""
        return self.var_dir / "mail"

    @property
    def dev_key_file(self) -> Path:
        return self.var_dir / "case_encryption.key"

    @property
    def embedded(self) -> bool:
        return self.profile == EMBEDDED


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "si", "sí", "on"}


def _choice(value: str | None, choices: tuple[str, ...], default: str, name: str) -> str:
    chosen = (value or default).strip().lower()
    if chosen not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}")
    return chosen


def _smtp_security(environ: Mapping[str, str]) -> str:
    if environ.get("SMTP_SECURITY"):
        return _choice(environ.get("SMTP_SECURITY"), SMTP_SECURITY, "starttls", "SMTP_SECURITY")
    # SMTP_STARTTLS=false, the older switch, meant plain SMTP.
    if environ.get("SMTP_STARTTLS") and not _flag(environ.get("SMTP_STARTTLS"), True):
        return "none"
    return "starttls"


def load(environ: Mapping[str, str] = os.environ) -> Settings:
    """Read the settings from ``environ`` (the process environment by default)."""
    var_dir = Path(environ.get("BUZON_VAR_DIR") or ROOT / "var")
    return Settings(
        profile=_choice(environ.get("BUZON_PROFILE"), PROFILES, EMBEDDED, "BUZON_PROFILE"),
        var_dir=var_dir,
        database_url=environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'cases.db'}",
        encryption_key=environ.get("CASE_ENCRYPTION_KEY") or None,
        smtp_host=environ.get("SMTP_HOST") or None,
        smtp_port=int(environ.get("SMTP_PORT") or 587),
        smtp_user=environ.get("SMTP_USER") or None,
        smtp_password=environ.get("SMTP_PASSWORD") or None,
        smtp_from=environ.get("SMTP_FROM") or messages.text("default_mail_sender"),
        smtp_security=_smtp_security(environ),
        smtp_ca_file=environ.get("SMTP_CA_FILE") or None,
        smtp_timeout=float(environ.get("SMTP_TIMEOUT_SECONDS") or 20),
        mail_max_attempts=int(environ.get("OUTBOX_MAX_ATTEMPTS") or 12),
        default_channel=environ.get("BUZON_DEFAULT_CHANNEL") or "rest",
        conversation_retention=timedelta(
            minutes=int(environ.get("CONVERSATION_RETENTION_MINUTES") or 60)
        ),
        whatsapp_access_token=environ.get("WHATSAPP_ACCESS_TOKEN") or None,
        whatsapp_phone_number_id=environ.get("WHATSAPP_PHONE_NUMBER_ID") or None,
        whatsapp_api_url=environ.get("WHATSAPP_API_URL") or "https://graph.facebook.com/v21.0",
        whatsapp_notice_template=environ.get("WHATSAPP_NOTICE_TEMPLATE") or "case_update",
        whatsapp_notice_language=environ.get("WHATSAPP_NOTICE_LANGUAGE") or "es",
    )
