"""Every environment variable the project reads, in one place.

The defaults are the embedded mode of ``make run``: SQLite files and ``.eml``
files under ``var/``, nothing else to install or start.

>>> s = load({"BUZON_VAR_DIR": "/tmp/buzon-doc"})
>>> s.database_url
'sqlite:////tmp/buzon-doc/cases.db'
>>> s.smtp_host is None
True
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    encryption_key: Optional[str]
    smtp_host: Optional[str]
    smtp_port: int
    smtp_user: Optional[str]
    smtp_password: Optional[str]
    smtp_from: str
    smtp_starttls: bool
    default_channel: str

    @property
    def mail_dir(self) -> Path:
        """Where confirmation e-mails are written when no SMTP server is set."""
        return self.var_dir / "mail"

    @property
    def evidence_dir(self) -> Path:
        """Evidence files, encrypted, outside any web root."""
        return self.var_dir / "evidence"

    @property
    def dev_key_file(self) -> Path:
        return self.var_dir / "case_encryption.key"


def _flag(value: Optional[str], default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "si", "sí", "on"}


def load(environ: Mapping[str, str] = os.environ) -> Settings:
    """Read the settings from ``environ`` (the process environment by default)."""
    var_dir = Path(environ.get("BUZON_VAR_DIR") or ROOT / "var")
    return Settings(
        var_dir=var_dir,
        database_url=environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'cases.db'}",
        encryption_key=environ.get("CASE_ENCRYPTION_KEY") or None,
        smtp_host=environ.get("SMTP_HOST") or None,
        smtp_port=int(environ.get("SMTP_PORT") or 587),
        smtp_user=environ.get("SMTP_USER") or None,
        smtp_password=environ.get("SMTP_PASSWORD") or None,
        smtp_from=environ.get("SMTP_FROM") or "Buzón IESS <no-responder@iess.gob.ec>",
        smtp_starttls=_flag(environ.get("SMTP_STARTTLS"), default=False),
        default_channel=environ.get("BUZON_DEFAULT_CHANNEL") or "rest",
    )
