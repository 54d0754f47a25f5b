"""Evidence files a citizen sends in a conversation, from any channel.

A channel that receives a file (the web upload, a WhatsApp image or document)
calls :func:`receive_file`. The file is accepted only while the case form asks
for evidence; it is checked and stored encrypted by
:class:`buzon.evidence.EvidenceStore` and linked to the conversation. The
answer is the Rasa message the channel injects into the conversation so that
the bot replies in the chat::

    /inform{"evidence_file": "receta.pdf"}       stored
    /inform{"evidence_error": "evidence_type"}   refused, with the reason

The form's ``validate_evidence`` turns these into ``utter_evidence_received`` or
``utter_invalid_<reason>``.

>>> received('foto "1"{x}.png')
'/inform{"evidence_file": "foto 1x.png"}'
>>> refused("evidence_not_now")
'/inform{"evidence_error": "evidence_not_now"}'
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import PurePosixPath
from typing import Any

from buzon import evidence, wiring
from buzon.validation import Invalid

# Where a form asks for files: (form, slot) -> (slot of its batch id, slot of the case kind).
ASKING = {
    ("case_form", "evidence"): ("registration_id", "case_kind"),
    ("followup_form", "followup_evidence"): ("followup_batch", "followup_kind"),
}
NOT_NOW = "evidence_not_now"
# The largest file any conversation may send (a denuncia's limit).
MAX_BYTES = max(evidence.LIMITS.values())
# Quotes, braces, backslashes and control characters (newlines included) never
# reach the injected message nor the stored name.
_UNSAFE = re.compile(r"[\"'{}\\\x00-\x1f\x7f]")


def evidence_store() -> evidence.EvidenceStore:
    """The process's evidence store (:mod:`buzon.wiring`)."""
    return wiring.current().evidence


def safe_name(name: str | None) -> str:
    """The file's own name without folders, quotes, braces or line breaks ('' if none)."""
    own = PurePosixPath((name or "").replace("\\", "/")).name
    return _UNSAFE.sub("", own).strip()[: evidence.MAX_NAME]


def received(name: str) -> str:
    return "/inform" + json.dumps({"evidence_file": safe_name(name)}, ensure_ascii=False)


def refused(reason: str) -> str:
    return "/inform" + json.dumps({"evidence_error": reason})


def _tracker_store(agent_or_tracker_store: Any) -> Any:
    return getattr(agent_or_tracker_store, "tracker_store", agent_or_tracker_store)


def _asking(tracker: Any) -> tuple[str, str] | None:
    """(batch slot, kind slot) when the conversation is asking for files now."""
    if tracker is None:
        return None
    return ASKING.get((tracker.active_loop_name, tracker.get_slot("requested_slot")))


async def size_limit(agent_or_tracker_store: Any, sender_id: str) -> int | None:
    """How many bytes a file may have now; None when no evidence is expected.

    Lets a channel refuse before downloading anything.
    """
    tracker = await _tracker_store(agent_or_tracker_store).retrieve(sender_id)
    asking = _asking(tracker)
    if asking is None:
        return None
    return evidence.limit_for(tracker.get_slot(asking[1]))


async def receive_file(
    agent_or_tracker_store: Any, sender_id: str, name: str | None, content: bytes
) -> str:
    """Store one file for the conversation; the Rasa message text to inject.

    ``agent_or_tracker_store`` is the Rasa agent (``request.app.ctx.agent``) or
    its tracker store. The file counts only if a form (the case's or a follow-up's)
    is asking for files right now, else it is refused with ``evidence_not_now``.
    """
    tracker = await _tracker_store(agent_or_tracker_store).retrieve(sender_id)
    asking = _asking(tracker)
    if asking is None:
        return refused(NOT_NOW)
    batch_slot, kind_slot = asking
    case_kind = tracker.get_slot(kind_slot)
    registration = tracker.get_slot(batch_slot)
    try:
        stored = await asyncio.to_thread(
            evidence_store().add, sender_id, registration, case_kind, safe_name(name), content
        )
    except Invalid as error:
        return refused(error.reason)
    return received(stored.name)
