"""Field encryption and keyed hashes for personal data at rest.

One master key (``CASE_ENCRYPTION_KEY``, a Fernet key) is stretched with HKDF
into separate keys: one encrypts fields (Fernet: AES-128-CBC + HMAC-SHA256),
the others make keyed hashes (HMAC-SHA256) so that a cédula or a tracking key
can be looked up without being stored in clear.

>>> box = FieldCipher(Fernet.generate_key().decode())
>>> token = box.encrypt("0926687856")
>>> "0926687856" in token
False
>>> box.decrypt(token)
'0926687856'
>>> box.keyed_hash("cedula", "0926687856") == box.keyed_hash("cedula", "0926687856")
True
>>> box.keyed_hash("cedula", "x") == box.keyed_hash("tracking", "x")
False
"""
from __future__ import annotations

import base64
import hmac
import logging
import os
from hashlib import sha256
from pathlib import Path
from typing import Optional

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

logger = logging.getLogger(__name__)


def _derive(master: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"buzon:{purpose}".encode()
    ).derive(master)


class FieldCipher:
    """Encrypts and hashes single text fields with keys derived from one master key."""

    def __init__(self, master_key: str) -> None:
        master = base64.urlsafe_b64decode(master_key.encode())
        if len(master) != 32:
            raise ValueError("CASE_ENCRYPTION_KEY must be a Fernet key (32 bytes, base64)")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(master, "fields")))
        self._master = master

    def encrypt(self, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: Optional[str]) -> Optional[str]:
        if token is None:
            return None
        return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")

    def encrypt_bytes(self, content: bytes) -> bytes:
        return self._fernet.encrypt(content)

    def decrypt_bytes(self, token: bytes) -> bytes:
        return self._fernet.decrypt(token)

    def keyed_hash(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 of ``value`` under a key reserved for ``purpose``."""
        key = _derive(self._master, f"hash:{purpose}")
        return hmac.new(key, value.encode("utf-8"), sha256).hexdigest()


def master_key(configured: Optional[str], dev_key_file: Path) -> str:
    """The configured key, or a development key kept in ``dev_key_file``.

    The development key is created on first use, readable only by its owner,
    and a warning says that production must set ``CASE_ENCRYPTION_KEY``.
    """
    if configured:
        return configured.strip()
    if not dev_key_file.exists():
        dev_key_file.parent.mkdir(parents=True, exist_ok=True)
        draft = dev_key_file.with_name(f".{dev_key_file.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode())
        try:  # link() is atomic: when two processes start together, one key wins
            os.link(draft, dev_key_file)
            logger.warning(
                "CASE_ENCRYPTION_KEY is not set: created a development key in %s. "
                "Set CASE_ENCRYPTION_KEY in production and keep it secret.",
                dev_key_file,
            )
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return dev_key_file.read_text().strip()
