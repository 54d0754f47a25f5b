"""Telling the citizen that their case changed (``buzon/data/notices.yml``).

A notice is queued in the outbox in the same transaction as the change: an e-mail
to the case's address, and when the case came by WhatsApp a WhatsApp message too
(free text inside the 24-hour window, the approved template outside it; the
worker decides when it sends). Staff never see the address a notice went to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from buzon import datafiles, messages, outbox
from buzon.cases import routing
from buzon.cases.models import Case
from buzon.crypto import FieldCipher

# The statuses a citizen is told about.
TOLD = ("in_review", "information_requested", "resolved", "archived", "referred")


def compose(status: str, number: str, **values: Any) -> tuple[str, str, str]:
    """(subject, e-mail body, WhatsApp text) of the notice for ``status``."""
    words = datafiles.load("notices.yml")
    filled = {
        "number": number,
        "status_label": messages.status_label(status),
        "message": "",
        "reason": "",
        "area_name": "",
        **values,
    }
    body = "\n\n".join(
        [
            words["greeting"],
            words["bodies"][status].format(**filled).strip(),
            words["closing"].strip(),
        ]
    )
    return (
        words["subject"].format(**filled),
        body + "\n",
        words["whatsapp"][status].format(**filled),
    )


def queue(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    status: str,
    now: datetime,
    message: str = "",
    reason: str = "",
) -> None:
    """Queue the notice of ``status`` for ``case`` (nothing for a status not told)."""
    if status not in TOLD:
        return
    subject, body, whatsapp_text = compose(
        status, case.number, message=message, reason=reason, area_name=routing.area(case.area).name
    )
    if case.email_enc:  # None when the citizen chose WhatsApp only
        outbox.enqueue(session, cipher, case.id, cipher.decrypt(case.email_enc), subject, body, now)
    if case.whatsapp_id_enc:
        outbox.enqueue_whatsapp(
            session,
            cipher,
            case.id,
            cipher.decrypt(case.whatsapp_id_enc),
            case.number,
            whatsapp_text,
            now,
        )
