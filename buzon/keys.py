"""Key rotation for the case database: which key encrypts what, and moving all to the newest.

``CASE_ENCRYPTION_KEY`` lists the keys, newest first (:mod:`buzon.crypto`). To
rotate (README, "Security and privacy"):

1. put a new key in front (``new,old``) and restart every process;
2. ``make reencrypt`` re-encrypts every stored value with the new key: here every
   ``*_enc`` column of every table (cases, timeline, reveal requests, staff second
   factors, outbox, evidence); the conversation history through :mod:`persistence.keys`;
3. ``python -m buzon.keys status`` shows, per key id, how many values it still
   encrypts; once the older keys encrypt nothing they may be removed, except the
   last one of the list, the index key of the lookup hashes.

>>> from cryptography.fernet import Fernet
>>> from buzon.crypto import FieldCipher
>>> old = FieldCipher(Fernet.generate_key().decode())
>>> both = FieldCipher(Fernet.generate_key().decode() + "," + old.configured)
>>> token = old.encrypt("x")
>>> moved = rotated(both, token)
>>> both.key_id_of(moved) == both.key_ids[0] and both.decrypt(moved) == "x"
True
>>> rotated(both, moved) is None  # already on the newest key: nothing to write
True
"""

from __future__ import annotations

import argparse
import collections
from collections.abc import Iterator
from typing import Any

from sqlalchemy import LargeBinary, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import InstrumentedAttribute, Session

from buzon.crypto import FieldCipher
from buzon.db import Base, session_factory


def _encrypted_columns() -> tuple[list[InstrumentedAttribute], list[InstrumentedAttribute]]:
    """Every encrypted column of the case database: by convention, every ``*_enc``
    column of every table (:mod:`buzon.schema` imports them all), text and bytes apart.
    Found, not listed, so that a column added later cannot be left on an old key."""
    from buzon import schema  # noqa: F401  (every table is mapped)

    text: list[InstrumentedAttribute] = []
    raw: list[InstrumentedAttribute] = []
    for mapper in sorted(Base.registry.mappers, key=lambda m: m.local_table.name):
        for column in mapper.columns:
            if column.key.endswith("_enc"):
                attribute = getattr(mapper.class_, column.key)
                (raw if isinstance(column.type, LargeBinary) else text).append(attribute)
    return text, raw


_TEXT, _BYTES = _encrypted_columns()
ENCRYPTED_TEXT: tuple[InstrumentedAttribute, ...] = tuple(_TEXT)
ENCRYPTED_BYTES: tuple[InstrumentedAttribute, ...] = tuple(_BYTES)
BATCH = 200


def rotated(cipher: FieldCipher, token: str | bytes) -> str | bytes | None:
    """``token`` re-encrypted with the newest key in the current format; None if it
    already is, or if no configured key reads it (it is left as it is, and ``status``
    reports it)."""
    if isinstance(token, memoryview):  # a bytes column, as some drivers return it
        token = bytes(token)
    if cipher.is_current(token) or cipher.key_id_of(token) is None:
        return None
    if isinstance(token, bytes):
        return cipher.rotate_bytes(token)
    return cipher.rotate(token)


def _values(session: Session, column: InstrumentedAttribute) -> Iterator[tuple[int, Any]]:
    table = column.class_
    last = 0
    while True:
        rows = session.execute(
            select(table.id, column)
            .where(table.id > last, column.isnot(None))
            .order_by(table.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def reencrypt(engine: Engine, cipher: FieldCipher) -> int:
    """Move every encrypted value of the case database to the newest key; how many moved."""
    moved = 0
    factory = session_factory(engine)
    for column in ENCRYPTED_TEXT + ENCRYPTED_BYTES:
        table = column.class_
        with factory() as reader:
            pending = [(row_id, value) for row_id, value in _values(reader, column)]
        for start in range(0, len(pending), BATCH):
            with factory.begin() as session:
                for row_id, value in pending[start : start + BATCH]:
                    new = rotated(cipher, bytes(value) if isinstance(value, memoryview) else value)
                    if new is not None:
                        session.execute(
                            update(table).where(table.id == row_id).values({column.key: new})
                        )
                        moved += 1
    return moved


def status(engine: Engine, cipher: FieldCipher) -> collections.Counter[str | None]:
    """How many stored values each key id encrypts (``None``: no configured key can read it)."""
    counts: collections.Counter[str | None] = collections.Counter()
    with session_factory(engine)() as session:
        for column in ENCRYPTED_TEXT + ENCRYPTED_BYTES:
            for _, value in _values(session, column):
                token = bytes(value) if isinstance(value, memoryview) else value
                counts[cipher.status_of(token)] += 1
    return counts


def main(argv: list[str] | None = None) -> None:
    from buzon import wiring

    parser = argparse.ArgumentParser(description="Encryption keys of the case database.")
    parser.add_argument("command", choices=["status", "reencrypt"])
    args = parser.parse_args(argv)
    wired = wiring.check()
    cipher = wired.cipher
    print(
        "keys (newest first): "
        + ", ".join(cipher.key_ids)
        + f"; lookup hashes use {cipher.key_ids[-1]}"
    )
    if args.command == "reencrypt":
        print(
            f"case database: {reencrypt(wired.engine, cipher)} value(s) re-encrypted "
            f"with key {cipher.key_ids[0]}"
        )
    for kid, count in sorted(status(wired.engine, cipher).items(), key=lambda kv: str(kv[0])):
        print(
            f"case database: key {kid or 'UNKNOWN (no configured key reads it)'}: {count} value(s)"
        )


if __name__ == "__main__":
    main()
