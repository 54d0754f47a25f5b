"""What Meta posts to the webhook: the signature, the messages, the sender's hashed id."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from buzon import wiring

FILE_TYPES = ("image", "document")
NOT_FILES = ("video",)  # a file the evidence never accepts
# What the bot cannot read: answered "please write it" (channels.incoming.WRITE_IT).
WRITE_IT = ("audio", "sticker", "location", "contacts")


def signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is ``sha256=`` + the HMAC-SHA256 of the raw body."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header[len("sha256=") :].strip().encode())


SENDER_PREFIX = "wa-"


def sender_id_for(key: bytes, wa_id: str) -> str:
    """The Rasa conversation id of a WhatsApp user: a keyed hash, never the number."""
    return SENDER_PREFIX + hmac.new(key, wa_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def sender_key() -> bytes:
    """The key of :func:`sender_id_for`, derived from the case key (stable across rotations)."""
    return wiring.current().cipher.hash_key("whatsapp-sender")


@dataclass(frozen=True)
class Incoming:
    """One message a citizen sent: ``text`` for text and button/list replies,
    ``media_id`` for a file; ``kind`` is WhatsApp's message type."""

    message_id: str
    wa_id: str
    kind: str
    text: str | None = None
    media_id: str | None = None
    file_name: str | None = None


def _reply_id(message: dict[str, Any]) -> str | None:
    interactive = message.get("interactive") or {}
    kind = interactive.get("type")
    if kind in ("button_reply", "list_reply"):
        return (interactive.get(kind) or {}).get("id")
    return None


def _typed(text: str | None) -> str | None:
    # Only buttons we sent may carry a Rasa payload ("/affirm"): a typed leading
    # slash is dropped so typing cannot inject intents or entities.
    cleaned = (text or "").strip().lstrip("/").strip()
    return cleaned or None


def parse_message(message: dict[str, Any]) -> Incoming | None:
    """An :class:`Incoming` for a message the bot handles, else None."""
    kind, message_id, wa_id = message.get("type"), message.get("id"), message.get("from")
    if not message_id or not wa_id:
        return None
    if kind == "text":
        text = _typed((message.get("text") or {}).get("body"))
        return Incoming(message_id, wa_id, kind, text=text) if text else None
    if kind == "interactive":
        reply = _reply_id(message)
        return Incoming(message_id, wa_id, kind, text=reply) if reply else None
    if kind == "button":  # the quick-reply button of a template message
        payload = (message.get("button") or {}).get("payload")
        return Incoming(message_id, wa_id, kind, text=payload) if payload else None
    if kind in FILE_TYPES:
        media = message.get(kind) or {}
        if not media.get("id"):
            return None
        return Incoming(
            message_id, wa_id, kind, media_id=media["id"], file_name=media.get("filename")
        )
    if kind in NOT_FILES or kind in WRITE_IT:
        return Incoming(message_id, wa_id, kind)
    return None  # reactions, system and unsupported messages


def parse_webhook(payload: dict[str, Any], phone_number_id: str | None = None) -> list[Incoming]:
    """The messages of a webhook payload, in order; statuses and other fields ignored.

    With ``phone_number_id``, changes addressed to another business number are skipped.
    """
    found: list[Incoming] = []
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            if change.get("field") != "messages":
                continue
            addressed_to = (value.get("metadata") or {}).get("phone_number_id")
            if phone_number_id and addressed_to and str(addressed_to) != str(phone_number_id):
                continue
            for message in value.get("messages") or []:
                parsed = parse_message(message)
                if parsed is not None:
                    found.append(parsed)
    return found
