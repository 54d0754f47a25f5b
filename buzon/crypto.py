"""Field encryption and keyed hashes for personal data at rest, with key rotation.

``CASE_ENCRYPTION_KEY`` holds one key (32 bytes, url-safe base64, as
``Fernet.generate_key()`` makes), or several separated by commas, newest first.
Each is stretched with HKDF into a field key; values are encrypted with the
newest, with AES-256-GCM (:class:`cryptography.hazmat.primitives.ciphers.aead.AESGCM`),
and decrypted with whichever key made them. After a new key is put in front,
``make reencrypt`` moves every stored value to it; then the older keys can go,
except the last one.

A value's token is ``0xB2 | key tag (4 bytes) | nonce (12) | ciphertext and GCM
tag``, url-safe base64 for text columns, raw for files. The version byte and the
key's tag are authenticated as associated data; the tag is the key's public id
(:func:`key_id`), so a token names the one key that opens it. Nonces are random:
one key should encrypt fewer than 2**32 values (NIST SP 800-38D), which rotation
(README, "Security and privacy") keeps far away.

Until 2026-12 values were Fernet tokens (AES-128-CBC + HMAC-SHA256). They are still
read, with every configured key (:class:`cryptography.fernet.MultiFernet`), and
``make reencrypt`` rewrites them in the current format. Fernet cost 17 µs to
encrypt and 18 µs to decrypt an event of the conversation history here, against 2
and 1.4 µs for AES-GCM; a registration's last turn reads about 130 events and
rewrites about 100 to forget them, the slowest turn of the bot (README,
"Performance").

Keyed hashes (HMAC-SHA256) let a cédula, a tracking key or a conversation be
looked up without being stored in clear. They must stay the same across
rotations (a tracking key exists only as its hash), so they are derived from
the **last** key of the list, the index key, which rotation keeps.

Every key has a short public id (:func:`key_id`) so operators can tell them
apart in ``python -m buzon.keys status`` without seeing them.

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
>>> newer = FieldCipher(Fernet.generate_key().decode() + "," + box.configured)
>>> newer.decrypt(token), newer.keyed_hash("cedula", "x") == box.keyed_hash("cedula", "x")
('0926687856', True)
>>> newer.key_id_of(newer.rotate(token)) == newer.key_ids[0]
True
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
from hashlib import sha256
from pathlib import Path
from typing import overload

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

logger = logging.getLogger(__name__)

VERSION = b"\xb2"  # the first byte of a current token (a Fernet token's is 0x80)
_TAG = 4  # bytes of the key's tag after it
_HEADER = len(VERSION) + _TAG
_NONCE = 12
_SHORTEST = _HEADER + _NONCE + 16  # an empty value: the GCM tag alone


class KeyConfigurationError(ValueError):
    """The configured key is missing or malformed (the message never shows the key)."""


def _derive(master: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"buzon:{purpose}".encode()
    ).derive(master)


def parse_keys(configured: str) -> list[bytes]:
    """The raw 32-byte keys of a comma-separated list, newest first.

    >>> len(parse_keys(Fernet.generate_key().decode() + " , " + Fernet.generate_key().decode()))
    2
    >>> try:
    ...     parse_keys("not-a-key")
    ... except KeyConfigurationError as error:
    ...     print(error)
    CASE_ENCRYPTION_KEY entry 1 is not a Fernet key (32 bytes, url-safe base64)
    """
    entries = [entry.strip() for entry in (configured or "").split(",") if entry.strip()]
    if not entries:
        raise KeyConfigurationError("CASE_ENCRYPTION_KEY is empty")
    keys = []
    for position, entry in enumerate(entries, start=1):
        try:
            raw = base64.urlsafe_b64decode(entry.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raw = b""
        if len(raw) != 32:
            raise KeyConfigurationError(
                f"CASE_ENCRYPTION_KEY entry {position} is not a Fernet key "
                "(32 bytes, url-safe base64)"
            )
        keys.append(raw)
    if len(set(keys)) != len(keys):
        raise KeyConfigurationError("CASE_ENCRYPTION_KEY lists the same key twice")
    return keys


def key_id(raw_key: bytes) -> str:
    """A short public name of a key: it identifies the key without revealing it."""
    return _derive(raw_key, "key-id").hex()[:8]


class FieldCipher:
    """Encrypts and hashes single fields with keys derived from the configured keys."""

    def __init__(self, configured: str) -> None:
        keys = parse_keys(configured)
        self.configured = ",".join(base64.urlsafe_b64encode(k).decode() for k in keys)
        self.key_ids = [key_id(k) for k in keys]
        if len(set(self.key_ids)) != len(keys):  # one chance in 2**32 per pair of keys
            raise KeyConfigurationError(
                "two CASE_ENCRYPTION_KEY entries have the same public id: generate another key"
            )
        self._sealers = {
            bytes.fromhex(kid): (kid, AESGCM(_derive(k, "fields-gcm")))
            for kid, k in zip(self.key_ids, keys, strict=True)
        }
        self._header = VERSION + bytes.fromhex(self.key_ids[0])
        self._newest = self._sealers[self._header[1:]][1]
        # the format of the values written before 2026-12, still read
        self._fernets = [Fernet(base64.urlsafe_b64encode(_derive(k, "fields"))) for k in keys]
        self._multi = MultiFernet(self._fernets)
        self._index = keys[-1]
        self._hash_keys: dict[str, bytes] = {}

    @overload
    def encrypt(self, value: str) -> str: ...
    @overload
    def encrypt(self, value: None) -> None: ...

    def encrypt(self, value: str | None) -> str | None:
        if value is None:
            return None
        return base64.urlsafe_b64encode(self.encrypt_bytes(value.encode("utf-8"))).decode("ascii")

    @overload
    def decrypt(self, token: str) -> str: ...
    @overload
    def decrypt(self, token: None) -> None: ...

    def decrypt(self, token: str | None) -> str | None:
        """The value of ``token``; :class:`InvalidToken` if no configured key made it."""
        if token is None:
            return None
        return self.decrypt_bytes(_unwrapped(token)).decode("utf-8")

    def encrypt_bytes(self, content: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return self._header + nonce + self._newest.encrypt(nonce, content, self._header)

    def decrypt_bytes(self, token: bytes) -> bytes:
        if not token.startswith(VERSION):
            return self._multi.decrypt(token)  # a Fernet token (or not a token: refused)
        return self._opened(token)[1]

    def _opened(self, token: bytes) -> tuple[str, bytes]:
        """The id of the key that made a current token, and its content."""
        sealer = self._sealers.get(token[len(VERSION) : _HEADER])
        if sealer is None or len(token) < _SHORTEST:
            raise InvalidToken
        kid, aead = sealer
        nonce = token[_HEADER : _HEADER + _NONCE]
        try:
            return kid, aead.decrypt(nonce, token[_HEADER + _NONCE :], token[:_HEADER])
        except InvalidTag:
            raise InvalidToken from None

    def _made_by(self, token: str | bytes) -> tuple[str | None, bool]:
        """The id of the key that made ``token`` (None if no configured key did, or it is
        no token at all), and whether it is in the current format: one decryption."""
        try:
            data = _unwrapped(token) if isinstance(token, str) else token
            if data.startswith(VERSION):
                return self._opened(data)[0], True
        except InvalidToken:
            return None, False
        for kid, fernet in zip(self.key_ids, self._fernets, strict=False):
            try:
                fernet.decrypt(data)
            except InvalidToken:
                continue
            return kid, False
        return None, False

    def is_current(self, token: str | bytes) -> bool:
        """Whether ``token`` is in the current format and made by the newest key (False
        for what is no token at all)."""
        return self._made_by(token) == (self.key_ids[0], True)

    def status_of(self, token: str | bytes) -> str | None:
        """The id of the key that made ``token`` for ``make key-status``, marked when the
        token is still in the Fernet format of before 2026-12 (``make reencrypt`` moves
        it); None if no configured key made it."""
        kid, current = self._made_by(token)
        if kid == self.key_ids[0] and not current:
            return f"{kid} (Fernet)"
        return kid

    def rotate(self, token: str) -> str:
        """The same value encrypted with the newest key, in the current format."""
        return base64.urlsafe_b64encode(self.rotate_bytes(_unwrapped(token))).decode("ascii")

    def rotate_bytes(self, token: bytes) -> bytes:
        return self.encrypt_bytes(self.decrypt_bytes(token))

    def key_id_of(self, token: str | bytes) -> str | None:
        """The id of the key that made ``token``; None if no configured key did (or
        ``token`` is no token at all)."""
        return self._made_by(token)[0]

    def keyed_hash(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 of ``value`` under the index key's subkey for ``purpose``."""
        return hmac.new(self.hash_key(purpose), value.encode("utf-8"), sha256).hexdigest()

    def hash_key(self, purpose: str) -> bytes:
        """A 32-byte secret for ``purpose``, stable across key rotations."""
        key = self._hash_keys.get(purpose)
        if key is None:
            key = self._hash_keys[purpose] = _derive(self._index, f"hash:{purpose}")
        return key


def _unwrapped(token: str) -> bytes:
    """The bytes of a text token: a current token is base64 of them; a Fernet token is
    its own text (Fernet decodes it)."""
    try:
        data = token.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidToken from None
    if data.startswith(b"g"):  # base64 of Fernet's 0x80
        return data
    try:
        return base64.urlsafe_b64decode(data)
    except (binascii.Error, ValueError):
        raise InvalidToken from None


def master_key(configured: str | None, dev_key_file: Path) -> str:
    """The configured key(s), or a development key kept in ``dev_key_file``.

    The development key is created on first use, readable only by its owner,
    and a warning says that production must set ``CASE_ENCRYPTION_KEY``.
    """
    if configured:
        return configured.strip()
    if not dev_key_file.exists():
        dev_key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
