"""Key rotation for the conversation history (the tracker store's ``events`` table).

``python -m persistence.keys reencrypt --endpoints endpoints.yml`` re-encrypts
every event with the newest key of ``CASE_ENCRYPTION_KEY``; ``status`` counts the
events per key id. ``make reencrypt`` runs it after :mod:`buzon.keys`.
"""

from __future__ import annotations

import argparse
import collections

import sqlalchemy as sa

from buzon import keys, wiring
from persistence.retention import tracker_store

_EVENTS = sa.table("events", sa.column("id", sa.Integer), sa.column("data", sa.Text))


def _rows(connection, after: int) -> list:
    return connection.execute(
        sa.select(_EVENTS.c.id, _EVENTS.c.data)
        .where(_EVENTS.c.id > after)
        .order_by(_EVENTS.c.id)
        .limit(keys.BATCH)
    ).all()


def reencrypt(engine, cipher) -> int:
    moved, last = 0, 0
    while True:
        with engine.begin() as connection:
            rows = _rows(connection, last)
            for row_id, data in rows:
                if data and not data.lstrip().startswith("{"):  # a row in clear stays readable
                    new = keys.rotated(cipher, data)
                    if new is not None:
                        connection.execute(
                            sa.update(_EVENTS).where(_EVENTS.c.id == row_id).values(data=new)
                        )
                        moved += 1
        if not rows:
            return moved
        last = rows[-1][0]


def status(engine, cipher) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    last = 0
    with engine.connect() as connection:
        while rows := _rows(connection, last):
            for _, data in rows:
                counts[
                    "clear" if (data or "").lstrip().startswith("{") else cipher.status_of(data)
                ] += 1
            last = rows[-1][0]
    return counts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Encryption keys of the conversation history.")
    parser.add_argument("command", choices=["status", "reencrypt"])
    parser.add_argument("--endpoints", default="endpoints.yml")
    args = parser.parse_args(argv)
    cipher = wiring.check().cipher
    engine = tracker_store(args.endpoints).engine
    if args.command == "reencrypt":
        print(
            f"conversations: {reencrypt(engine, cipher)} event(s) re-encrypted "
            f"with key {cipher.key_ids[0]}"
        )
    for kid, count in sorted(status(engine, cipher).items(), key=lambda kv: str(kv[0])):
        print(f"conversations: key {kid or 'UNKNOWN'}: {count} event(s)")


if __name__ == "__main__":
    main()
