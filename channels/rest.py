"""Rasa's REST channel for tests and ``curl``, without its ways to leak or to stall.

Same name (``rest``), path (``/webhooks/rest/webhook``) and JSON as Rasa's:
``{"sender": "...", "message": "..."}`` in, the bot's messages out. Three
differences: the body is limited to ``MAX_BODY_BYTES`` and read only that far;
every message goes through :mod:`channels.incoming` (blank or too long answered
kindly, typed button titles, an unreachable action server answered with
"try again in a moment"); and a failure never logs the message, where Rasa's
channel logs it whole. The production profile does not expose this channel
(``credentials.production.yml``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request

from channels import incoming, web
from channels.request_body import read_body
from channels.whatsapp import inbound

# A message of MAX_MESSAGE_CHARS characters, each up to 4 UTF-8 bytes, plus the JSON around it.
MAX_BODY_BYTES = 4 * incoming.MAX_MESSAGE_CHARS + 4096
SENDER = re.compile(r"[\w.:@+-]{1,128}")


class RestInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        rest = Blueprint("buzon_rest_webhook", __name__)

        @rest.route("/", methods=["GET"])
        async def health(request: Request) -> response.HTTPResponse:
            return response.json({"status": "ok"})

        @rest.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> response.HTTPResponse:
            body, too_large = await read_body(request, MAX_BODY_BYTES)
            if too_large:
                return response.json({"error": "body too large"}, status=413)
            try:
                payload = json.loads(body)
            except ValueError:
                return response.json({"error": "invalid JSON"}, status=400)
            if not isinstance(payload, dict):
                return response.json({"error": "invalid JSON"}, status=400)
            sender, text = payload.get("sender"), payload.get("message")
            if not isinstance(sender, str) or not SENDER.fullmatch(sender):
                return response.json(
                    {"error": "sender must be 1-128 letters, digits or ._:@+-"}, status=400
                )
            if web.SESSION_ID.fullmatch(sender) or sender.startswith(inbound.SENDER_PREFIX):
                # another channel's conversation: the page's is bound to its browser's
                # cookie, WhatsApp's to Meta's signature; REST must not walk around them
                return response.json({"error": "sender belongs to another channel"}, status=403)
            if text is not None and not isinstance(text, str):
                return response.json({"error": "message must be a string"}, status=400)
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None or not agent.is_ready():
                return response.json({"error": "the bot is starting"}, status=503)
            collector = CollectingOutputChannel()
            await incoming.handle(
                agent, on_new_message, text, collector, sender, input_channel=self.name()
            )
            return response.json(collector.messages)

        return rest
