"""Evidence files: checked by their content, limited by case kind, stored encrypted.

A file is accepted only when its bytes are a PDF, a JPEG or a PNG (the name
and the declared type are ignored: a renamed executable or a text file called
``.pdf`` is refused), it ends the way such a file ends, and it fits the limit of
the case kind (1 MB for a queja, 20 MB for a denuncia, at most
``MAX_FILES`` per case). It is stored outside any web root under
``var/evidence``, encrypted, named by its SHA-256, first linked to the
conversation and then, when the case is registered, to the case.

>>> sniff(b"%PDF-1.7 ... %%EOF\\n")
'pdf'
>>> sniff(b"MZ\\x90\\x00 a Windows program")
Traceback (most recent call last):
    ...
buzon.validation.Invalid: evidence_type
>>> sniff(b"%PDF-1.7 but cut short")
Traceback (most recent call last):
    ...
buzon.validation.Invalid: evidence_damaged
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, List

import filetype
from sqlalchemy import select, update

from buzon.cases.models import Evidence
from buzon.clock import utcnow
from buzon.db import session_factory
from buzon.validation import Invalid

MEGABYTE = 1024 * 1024
LIMITS = {"queja": 1 * MEGABYTE, "denuncia": 20 * MEGABYTE}
MAX_FILES = 5
KINDS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
# How each accepted type must end (trailing whitespace or padding aside).
ENDINGS = {"pdf": b"%%EOF", "jpg": b"\xff\xd9", "png": b"IEND\xaeB`\x82"}


def sniff(content: bytes) -> str:
    """The file's type from its bytes: 'pdf', 'jpg' or 'png', else Invalid."""
    if not content:
        raise Invalid("evidence_empty")
    guessed = filetype.guess(content)
    kind = KINDS.get(guessed.mime) if guessed else None
    if kind is None:
        raise Invalid("evidence_type")
    tail = content[-1024:].rstrip(b"\x00\r\n\t ")
    if ENDINGS[kind] not in tail[-len(ENDINGS[kind]) - 16:]:
        raise Invalid("evidence_damaged")
    return kind


def limit_for(case_kind: str) -> int:
    return LIMITS.get(case_kind, LIMITS["queja"])


def conversation_key(cipher, conversation_id: str) -> str:
    """How a conversation is named in the evidence table: a keyed hash, never the id."""
    return cipher.keyed_hash("conversation", conversation_id)


def attach_pending(session, cipher, conversation_id: str, case_id: int) -> int:
    """Link the conversation's files to a new case, in the caller's transaction."""
    linked = session.execute(
        update(Evidence)
        .where(Evidence.conversation_hash == conversation_key(cipher, conversation_id),
               Evidence.case_id.is_(None))
        .values(case_id=case_id)
    )
    return linked.rowcount


@dataclass(frozen=True)
class StoredEvidence:
    id: int
    kind: str
    size: int
    sha256: str
    name: str


class EvidenceStore:
    """Evidence of one conversation, later of one case, in the case database."""

    def __init__(self, engine, cipher, folder: Path, now: Callable[[], datetime] = utcnow):
        self.cipher = cipher
        self.folder = folder
        self.now = now
        self._session = session_factory(engine)

    def _conversation(self, conversation_id: str) -> str:
        return conversation_key(self.cipher, conversation_id)

    def add(self, conversation_id: str, case_kind: str, name: str, content: bytes) -> StoredEvidence:
        """Check and store one file for the conversation; Invalid says why not."""
        limit = limit_for(case_kind)
        if len(content) > limit:
            raise Invalid("evidence_too_large", limit_mb=limit // MEGABYTE)
        kind = sniff(content)
        conversation = self._conversation(conversation_id)
        if len(self._pending(conversation)) >= MAX_FILES:
            raise Invalid("evidence_too_many", max_files=MAX_FILES)
        digest = hashlib.sha256(content).hexdigest()
        path = self.folder / digest[:2] / digest
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            draft = path.with_suffix(f".{os.getpid()}.part")
            draft.write_bytes(self.cipher.encrypt_bytes(content))
            draft.chmod(0o600)
            draft.replace(path)
        clean_name = Path(name or f"evidencia.{kind}").name[:120]
        with self._session.begin() as session:
            row = Evidence(conversation_hash=conversation, kind=kind, size=len(content),
                           sha256=digest, name_enc=self.cipher.encrypt(clean_name),
                           created_at=self.now())
            session.add(row)
            session.flush()
            return StoredEvidence(row.id, kind, len(content), digest, clean_name)

    def _pending(self, conversation: str) -> List[Evidence]:
        with self._session() as session:
            return list(session.execute(
                select(Evidence).where(Evidence.conversation_hash == conversation,
                                       Evidence.case_id.is_(None))
            ).scalars())

    def pending(self, conversation_id: str) -> List[StoredEvidence]:
        """Files of the conversation not yet linked to a case."""
        return [StoredEvidence(e.id, e.kind, e.size, e.sha256, self.cipher.decrypt(e.name_enc))
                for e in self._pending(self._conversation(conversation_id))]

    def read(self, sha256: str) -> bytes:
        """The decrypted content of a stored file, for the staff who handle the case."""
        return self.cipher.decrypt_bytes((self.folder / sha256[:2] / sha256).read_bytes())
