"""The retention job: forget what is no longer needed, on a schedule.

Each pass deletes

- conversations idle for longer than ``CONVERSATION_RETENTION_MINUTES`` (60 by
  default, Rasa's session expiry in ``domain.yml``) from the tracker store
  configured in the endpoints file;
- evidence files sent for a registration that never happened, older than the
  same period;
- in the embedded profile, the mailbox files under ``var/mail`` older than it;
- the follow-up grants that expired (a conversation's link to a case) and the
  WhatsApp windows that closed (when a number last wrote).

``make purge`` runs one pass; ``make run`` keeps one running
(``python -m persistence.retention --interval 300``).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from datetime import datetime

from rasa.utils.endpoints import read_endpoint_config

from buzon import outbox, periodic, wiring
from buzon.clock import utcnow
from persistence.encrypted_tracker_store import EncryptedSQLTrackerStore

logger = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    conversation_events: int = 0
    evidence_files: int = 0
    mail_files: int = 0
    followup_grants: int = 0
    whatsapp_windows: int = 0


def tracker_store(endpoints: str) -> EncryptedSQLTrackerStore:
    """The tracker store the Rasa server uses, from the same endpoints file."""
    config = read_endpoint_config(endpoints, "tracker_store")
    if config is None or not str(config.type or "").endswith("EncryptedSQLTrackerStore"):
        raise SystemExit(f"{endpoints} does not configure the encrypted SQL tracker store")
    return EncryptedSQLTrackerStore(domain=None, host=config.url, **config.kwargs)


def purge(store: EncryptedSQLTrackerStore, wired: wiring.Wiring) -> PurgeReport:
    cutoff = utcnow() - wired.settings.conversation_retention
    report = PurgeReport()
    report.conversation_events = store.purge_idle((cutoff - datetime(1970, 1, 1)).total_seconds())
    report.evidence_files = wired.evidence.purge_pending(cutoff)
    if not wired.settings.smtp_host:
        report.mail_files = outbox.purge_mailbox(wired.settings.mail_dir, cutoff)
    report.followup_grants = wired.followup.forget_expired()
    report.whatsapp_windows = wired.whatsapp_window.forget_closed()
    return report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Delete data past its retention period.")
    parser.add_argument("--endpoints", default="endpoints.yml")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--interval", type=float, default=300.0, help="seconds between passes")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s retention %(levelname)s %(message)s"
    )
    wiring.umask_private()
    wired = wiring.check()
    store = tracker_store(args.endpoints)

    def one_pass() -> None:
        report = purge(store, wired)
        logger.info(
            "deleted %d conversation events, %d unregistered evidence files, %d mail files, "
            "%d expired follow-up grants, %d closed WhatsApp windows",
            report.conversation_events,
            report.evidence_files,
            report.mail_files,
            report.followup_grants,
            report.whatsapp_windows,
        )

    periodic.repeat(one_pass, args.interval, args.once, "retention", logger)


if __name__ == "__main__":
    main()
