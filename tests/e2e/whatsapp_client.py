"""Meta's side of WhatsApp for end-to-end tests: signed webhook calls from a made-up
user, and readers of what the bot sent to the fake Graph API (fake_graph_api.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import requests

from tests.e2e.fake_graph_api import FakeGraphApi


def envelope(phone_number_id: str, *messages, statuses=None) -> dict:
    """A webhook call as Meta sends it, with ``messages`` from one user."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "593900000000", "phone_number_id": phone_number_id},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": "Afiliado"}, "wa_id": messages[0]["from"]}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA-ID", "changes": [{"field": "messages", "value": value}]}],
    }


def post_signed(
    url: str, payload: dict, secret: str, signature: str | None = None, session=None
) -> requests.Response:
    """POST ``payload`` to the webhook signed with the app secret (or ``signature``)."""
    body = json.dumps(payload).encode()
    if signature is None:
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return (session or requests).post(
        url,
        data=body,
        timeout=30,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )


def body_of(message: dict) -> str:
    if message["type"] == "text":
        return message["text"]["body"]
    return message.get("interactive", {}).get("body", {}).get("text", "")


def said(messages) -> str:
    return "\n".join(body_of(m) for m in messages)


def ids_of(messages) -> list:
    found = []
    for message in messages:
        action = message.get("interactive", {}).get("action", {})
        found += [b["reply"]["id"] for b in action.get("buttons", [])]
        found += [r["id"] for s in action.get("sections", []) for r in s["rows"]]
    return found


def kinds(messages) -> set:
    return {m["interactive"]["type"] for m in messages if m["type"] == "interactive"}


def says(*fragments):
    return lambda answer: all(f in said(answer) for f in fragments)


def offers(reply_id):
    return lambda answer: reply_id in ids_of(answer)


class WhatsAppUser:
    """A WhatsApp user (a made-up Ecuadorian mobile) writing to the bot's webhook."""

    def __init__(
        self, webhook_url: str, graph: FakeGraphApi, phone_number_id: str, app_secret: str
    ) -> None:
        self.webhook_url = webhook_url
        self.graph = graph
        self.phone_number_id = phone_number_id
        self.app_secret = app_secret
        self.wa_id = "59398" + str(uuid.uuid4().int)[:7]

    def _message(self, kind: str, **content) -> dict:
        return {
            "from": self.wa_id,
            "id": f"wamid.{uuid.uuid4().hex}",
            "timestamp": str(int(time.time())),
            "type": kind,
            **content,
        }

    def text(self, body: str) -> dict:
        return self._message("text", text={"body": body})

    def tap(self, reply_id: str, kind: str = "button_reply") -> dict:
        return self._message(
            "interactive",
            interactive={"type": kind, kind: {"id": reply_id, "title": "(title shown)"}},
        )

    def image(self, media_id: str) -> dict:
        return self._message(
            "image", image={"mime_type": "image/png", "sha256": "x", "id": media_id}
        )

    def deliver(self, *messages) -> requests.Response:
        """One signed webhook call carrying ``messages``."""
        return post_signed(
            self.webhook_url, envelope(self.phone_number_id, *messages), self.app_secret
        )

    def send(self, message: dict, until, seconds: float = 120) -> list:
        """Deliver ``message`` signed; the bot's answer once ``until(answer)`` holds."""
        start = len(self.graph.sent_to(self.wa_id))
        assert self.deliver(message).status_code == 200
        return self.graph.wait_for(self.wa_id, start, until, seconds)
