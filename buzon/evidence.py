"""Evidence files: checked by their content, limited by case kind, stored encrypted.

A file is accepted only when its bytes are a PDF, a JPEG or a PNG (the name
and the declared type are ignored: a renamed executable or a text file called
``.pdf`` is refused), it ends the way such a file ends, and it fits the limit of
the case kind (1 MB for a queja, 20 MB for a denuncia, at most ``MAX_FILES``
per registration). It is stored encrypted in the case database, indexed by a
keyed hash of its bytes (someone holding a copy of a leaked document cannot
prove it was sent here), first linked to one registration in progress of one
conversation and then, when that case is registered, to the case.

Files of a registration that is cancelled, refused or abandoned are deleted
(:meth:`EvidenceStore.discard_pending`, :meth:`EvidenceStore.purge_pending`).

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
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

import filetype
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from buzon.clock import utcnow
from buzon.crypto import FieldCipher
from buzon.db import Base, session_factory
from buzon.validation import Invalid

MEGABYTE = 1024 * 1024
LIMITS = {"queja": 1 * MEGABYTE, "denuncia": 20 * MEGABYTE}
MAX_FILES = 5
MAX_NAME = 120
KINDS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
# How each accepted type must end (trailing whitespace or padding aside).
ENDINGS = {"pdf": b"%%EOF", "jpg": b"\xff\xd9", "png": b"IEND\xaeB`\x82"}


class EvidenceBatch(Base):
    """The files one registration has received so far: the quota, counted atomically.

    ``batch_hash`` is a keyed hash of the conversation and its registration, so a
    file count is raised with one conditional UPDATE, never read-then-written.
    """

    __tablename__ = "evidence_batches"

    batch_hash = Column(String(64), primary_key=True)
    file_count = Column(Integer, nullable=False, default=0)
    total_bytes = Column(Integer, nullable=False, default=0)
    created_at = Column(DateTime(), nullable=False)


class Evidence(Base):
    """A file the citizen sent: first of a registration in progress, then of its case.

    The content is stored encrypted in the database (every server reaches it,
    one backup holds it), indexed by a keyed hash of its bytes, never by a plain
    hash that a holder of the same document could recompute.
    """

    __tablename__ = "evidence"

    id = Column(Integer, primary_key=True)
    conversation_hash = Column(String(64), nullable=False, index=True)
    batch_hash = Column(String(64), nullable=False, index=True)
    case_id = Column(Integer, ForeignKey("cases.id"), index=True)
    kind = Column(String(8), nullable=False)
    size = Column(Integer, nullable=False)
    content_hmac = Column(String(64), nullable=False, index=True)
    content_enc = Column(LargeBinary, nullable=False)
    name_enc = Column(Text, nullable=False)
    created_at = Column(DateTime(), nullable=False, index=True)


def sniff(content: bytes) -> str:
    """The file's type from its bytes: 'pdf', 'jpg' or 'png', else Invalid."""
    if not content:
        raise Invalid("evidence_empty")
    guessed = filetype.guess(content)
    kind = KINDS.get(guessed.mime) if guessed else None
    if kind is None:
        raise Invalid("evidence_type")
    tail = content[-1024:].rstrip(b"\x00\r\n\t ")
    if ENDINGS[kind] not in tail[-len(ENDINGS[kind]) - 16 :]:
        raise Invalid("evidence_damaged")
    return kind


def limit_for(case_kind: str | None) -> int:
    return LIMITS.get(case_kind or "queja", LIMITS["queja"])


def quota_for(case_kind: str | None) -> int:
    """The bytes one registration may keep in all: its files at their limit."""
    return MAX_FILES * limit_for(case_kind)


def conversation_key(cipher: FieldCipher, conversation_id: str) -> str:
    """How a conversation is named in the evidence table: a keyed hash, never the id."""
    return cipher.keyed_hash("conversation", conversation_id)


def batch_key(cipher: FieldCipher, conversation_id: str, registration_id: str) -> str:
    """The keyed name of one registration's files."""
    return cipher.keyed_hash("evidence-batch", f"{conversation_id}\x00{registration_id}")


def attach_pending(
    session: Session,
    cipher: FieldCipher,
    conversation_id: str,
    registration_id: str,
    case_id: int,
    case_kind: str,
) -> int:
    """Link this registration's files to the new case, in the caller's transaction.

    Checked again here, whatever the channels did: at most ``MAX_FILES`` files,
    each within the limit of the case's kind (a denuncia's files never ride on
    a queja). Invalid says why; nothing is linked then.
    """
    batch = batch_key(cipher, conversation_id, registration_id)
    rows = session.execute(
        select(Evidence.id, Evidence.size).where(
            Evidence.batch_hash == batch, Evidence.case_id.is_(None)
        )
    ).all()
    if len(rows) > MAX_FILES:
        raise Invalid("evidence_too_many", max_files=MAX_FILES)
    if any(size > limit_for(case_kind) for _, size in rows):
        raise Invalid("evidence_too_large", limit_mb=limit_for(case_kind) // MEGABYTE)
    if rows:
        session.execute(
            update(Evidence)
            .where(Evidence.id.in_([row.id for row in rows]))
            .values(case_id=case_id)
        )
    session.execute(delete(EvidenceBatch).where(EvidenceBatch.batch_hash == batch))
    return len(rows)


def clean_name(name: str | None, kind: str) -> str:
    """The file's own name without folders, at most ``MAX_NAME`` characters."""
    own = PurePosixPath((name or "").replace("\\", "/")).name.strip()
    return own[:MAX_NAME] or f"evidencia.{kind}"


@dataclass(frozen=True)
class StoredEvidence:
    id: int
    kind: str
    size: int
    content_hmac: str
    name: str


class EvidenceStore:
    """Evidence of one registration in progress, later of one case, in the case database."""

    def __init__(
        self, engine: Engine, cipher: FieldCipher, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.cipher = cipher
        self.now = now
        self._session = session_factory(engine)

    def content_hmac(self, content: bytes) -> str:
        return hmac.new(
            self.cipher.hash_key("evidence-content"), content, hashlib.sha256
        ).hexdigest()

    def add(
        self,
        conversation_id: str,
        registration_id: str,
        case_kind: str,
        name: str | None,
        content: bytes,
    ) -> StoredEvidence:
        """Check and store one file for the registration; Invalid says why not.

        The count and the bytes are reserved with one conditional UPDATE in the
        same transaction as the insert, so concurrent uploads cannot pass the
        limit between a count and an insert.
        """
        if not registration_id:
            raise Invalid("evidence_not_now")
        limit = limit_for(case_kind)
        if len(content) > limit:
            raise Invalid("evidence_too_large", limit_mb=limit // MEGABYTE)
        kind = sniff(content)
        name = clean_name(name, kind)
        batch = batch_key(self.cipher, conversation_id, registration_id)
        sealed = self.cipher.encrypt_bytes(content)
        for _ in range(3):  # the first file of a registration may race to create its row
            try:
                with self._session.begin() as session:
                    if not self._reserve(session, batch, len(content), quota_for(case_kind)):
                        raise Invalid("evidence_too_many", max_files=MAX_FILES)
                    row = Evidence(
                        conversation_hash=conversation_key(self.cipher, conversation_id),
                        batch_hash=batch,
                        kind=kind,
                        size=len(content),
                        content_hmac=self.content_hmac(content),
                        content_enc=sealed,
                        name_enc=self.cipher.encrypt(name),
                        created_at=self.now(),
                    )
                    session.add(row)
                    session.flush()
                    return StoredEvidence(row.id, kind, len(content), row.content_hmac, name)
            except IntegrityError:
                continue
        raise Invalid("evidence_too_many", max_files=MAX_FILES)

    def _reserve(self, session: Session, batch: str, size: int, quota: int) -> bool:
        """Count one more file of ``size`` bytes for ``batch`` if it fits; True if it did."""
        bump = (
            update(EvidenceBatch)
            .where(
                EvidenceBatch.batch_hash == batch,
                EvidenceBatch.file_count < MAX_FILES,
                EvidenceBatch.total_bytes + size <= quota,
            )
            .values(
                file_count=EvidenceBatch.file_count + 1,
                total_bytes=EvidenceBatch.total_bytes + size,
            )
        )
        if session.execute(bump).rowcount == 1:
            return True
        exists = session.execute(
            select(EvidenceBatch.batch_hash).where(EvidenceBatch.batch_hash == batch)
        ).first()
        if exists:
            return False
        session.add(
            EvidenceBatch(batch_hash=batch, file_count=1, total_bytes=size, created_at=self.now())
        )
        session.flush()  # IntegrityError here: another upload created it first; retry
        return True

    def pending(self, conversation_id: str, registration_id: str) -> list[StoredEvidence]:
        """Files of the registration not yet linked to a case."""
        batch = batch_key(self.cipher, conversation_id, registration_id or "")
        with self._session() as session:
            rows = session.execute(
                select(
                    Evidence.id,
                    Evidence.kind,
                    Evidence.size,
                    Evidence.content_hmac,
                    Evidence.name_enc,
                )
                .where(Evidence.batch_hash == batch, Evidence.case_id.is_(None))
                .order_by(Evidence.id)
            ).all()
        return [
            StoredEvidence(r.id, r.kind, r.size, r.content_hmac, self.cipher.decrypt(r.name_enc))
            for r in rows
        ]

    def discard_pending(self, conversation_id: str) -> int:
        """Delete every file of the conversation not linked to a case; how many."""
        conversation = conversation_key(self.cipher, conversation_id)
        with self._session.begin() as session:
            batches = select(Evidence.batch_hash).where(
                Evidence.conversation_hash == conversation, Evidence.case_id.is_(None)
            )
            session.execute(
                delete(EvidenceBatch)
                .where(EvidenceBatch.batch_hash.in_(batches))
                .execution_options(synchronize_session=False)
            )
            gone = session.execute(
                delete(Evidence).where(
                    Evidence.conversation_hash == conversation, Evidence.case_id.is_(None)
                )
            )
        return int(gone.rowcount)

    def purge_pending(self, older_than: datetime) -> int:
        """Delete files never linked to a case that arrived before ``older_than``."""
        with self._session.begin() as session:
            gone = session.execute(
                delete(Evidence).where(Evidence.case_id.is_(None), Evidence.created_at < older_than)
            )
            session.execute(delete(EvidenceBatch).where(EvidenceBatch.created_at < older_than))
        return int(gone.rowcount)

    def pending_count(self) -> int:
        with self._session() as session:
            return int(
                session.execute(
                    select(func.count()).select_from(Evidence).where(Evidence.case_id.is_(None))
                ).scalar_one()
            )

    def read(self, evidence_id: int) -> bytes:
        """The decrypted content of a stored file, for the staff who handle the case."""
        with self._session() as session:
            sealed = session.execute(
                select(Evidence.content_enc).where(Evidence.id == evidence_id)
            ).scalar_one()
        return self.cipher.decrypt_bytes(bytes(sealed))
