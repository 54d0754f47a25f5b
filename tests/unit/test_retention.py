"""The retention job (``make purge``): idle conversations, evidence of registrations
that never happened and old mail files are deleted; recent ones stay."""

import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import update

from buzon import outbox
from buzon.clock import utcnow
from buzon.evidence import Evidence
from persistence.encrypted_tracker_store import EncryptedSQLTrackerStore
from tests import synthetic_files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_make_purge_deletes_what_is_past_its_retention(tmp_path, wired):
    wired_now = wired(CONVERSATION_RETENTION_MINUTES="60")
    store = EncryptedSQLTrackerStore(
        domain=Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db")
    )
    for sender in ("idle", "active"):
        tracker = DialogueStateTracker(sender, [])
        tracker.update(UserUttered("0912345675", {"name": "inform"}))
        asyncio.run(store.save(tracker))
    with store.session_scope() as session:
        session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == "idle").update(
            {"timestamp": time.time() - 2 * 3600}
        )
        session.commit()
    files = wired_now.evidence
    old = files.add("idle", "r1", "queja", "vieja.png", synthetic_files.png())
    files.add("active", "r1", "queja", "nueva.png", synthetic_files.png())
    with files._session.begin() as session:
        session.execute(
            update(Evidence)
            .where(Evidence.id == old.id)
            .values(created_at=utcnow() - timedelta(hours=2))
        )
    mail = wired_now.settings.mail_dir
    mail.mkdir(parents=True)
    (mail / f"vieja{outbox.MAIL_SUFFIX}").write_bytes(b"x")
    os.utime(mail / f"vieja{outbox.MAIL_SUFFIX}", (time.time() - 7200, time.time() - 7200))
    (mail / f"nueva{outbox.MAIL_SUFFIX}").write_bytes(b"x")
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        "tracker_store:\n  type: persistence.encrypted_tracker_store."
        f"EncryptedSQLTrackerStore\n  dialect: sqlite\n  db: {tmp_path / 't.db'}\n"
    )

    done = subprocess.run(
        [sys.executable, "-m", "persistence.retention", "--once", "--endpoints", str(endpoints)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "deleted 1 conversation events, 1 unregistered evidence files, 1 mail files" in done.stderr
    )
    assert asyncio.run(store.retrieve("idle")) is None
    assert asyncio.run(store.retrieve("active")) is not None
    assert [f.name for f in files.pending("active", "r1")] == ["nueva.png"]
    assert files.pending("idle", "r1") == []
    assert [p.name for p in mail.iterdir()] == [f"nueva{outbox.MAIL_SUFFIX}"]
    assert "0912345675" not in done.stderr + done.stdout
