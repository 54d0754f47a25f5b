"""The Rasa channel: the webhook Meta calls and the replies sent back."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request

from buzon import wiring
from buzon.whatsapp_cloud import GRAPH_API_URL, GraphClient, MediaError, MediaTooLarge
from channels import evidence_reception, incoming
from channels.request_body import read_body
from channels.whatsapp.inbound import WRITE_IT as WRITE_IT_KINDS
from channels.whatsapp.inbound import (
    Incoming,
    parse_webhook,
    sender_id_for,
    sender_key,
    signature_ok,
)
from channels.whatsapp.messages import build_messages
from channels.whatsapp.redelivery import RedisSeenMessages, SeenMessages
from persistence.encrypted_tracker_store import TrackerStoreUnavailable

logger = logging.getLogger("channels.whatsapp")

# A webhook batch is a few kilobytes; nothing legitimate comes near this.
MAX_WEBHOOK_BYTES = 1024 * 1024


class WhatsAppOutput(OutputChannel):
    """Sends the bot's responses of one request to one WhatsApp user.

    ``recipient_id`` (the hashed conversation id) is ignored: the real ``wa_id``
    is known only here.
    """

    def __init__(self, client: GraphClient, wa_id: str) -> None:
        self.client = client
        self.wa_id = wa_id

    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    async def _send_all(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            await asyncio.to_thread(self.client.send, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send_all(build_messages(self.wa_id, text))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send_all(build_messages(self.wa_id, text, buttons))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._send_all(
            [
                {
                    "messaging_product": "whatsapp",
                    "to": self.wa_id,
                    "type": "image",
                    "image": {"link": image},
                }
            ]
        )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """A custom response that is a Cloud API message (it has a ``type``) is sent as is."""
        if isinstance(json_message, dict) and json_message.get("type"):
            await self._send_all(
                [{**json_message, "messaging_product": "whatsapp", "to": self.wa_id}]
            )
        else:
            logger.warning("WhatsApp: custom response without a message type not sent")


class WhatsAppInput(InputChannel):
    """The webhook Meta calls: ``/webhooks/whatsapp/webhook``."""

    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WhatsAppInput:
        credentials = credentials or {}

        def value(key: str) -> str:
            """The credential, else ``WHATSAPP_<KEY>`` from the environment, else empty
            (empty secrets: the webhook refuses everything, WhatsApp is off)."""
            found = credentials.get(key)
            if found is None:
                found = os.environ.get(f"WHATSAPP_{key.upper()}")
            return "" if found is None else str(found).strip()

        redis_url = value("dedup_redis_url")
        return cls(
            value("verify_token"),
            value("app_secret"),
            value("access_token"),
            value("phone_number_id"),
            value("api_url") or GRAPH_API_URL,
            seen=RedisSeenMessages(redis_url) if redis_url else None,
        )

    def __init__(
        self,
        verify_token: str,
        app_secret: str,
        access_token: str,
        phone_number_id: str,
        api_url: str = GRAPH_API_URL,
        seen: SeenMessages | RedisSeenMessages | None = None,
        sender_key: bytes | None = None,
        window: Any = "wiring",
    ) -> None:
        self.verify_token = verify_token
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.client = GraphClient(api_url, access_token, phone_number_id)
        self.seen = seen or SeenMessages()
        self._sender_key = sender_key
        self._window = window
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._warned = False

    @property
    def configured(self) -> bool:
        return bool(self.verify_token and self.app_secret)

    @property
    def window(self) -> Any:
        """Where the 24-hour window is recorded (this process's wiring unless given)."""
        if self._window == "wiring":
            self._window = wiring.current().whatsapp_window
        return self._window

    def sender_id(self, wa_id: str) -> str:
        if self._sender_key is None:
            self._sender_key = sender_key()
        return sender_id_for(self._sender_key, wa_id)

    def _refuse(self) -> response.HTTPResponse:
        if not self.configured and not self._warned:
            self._warned = True
            logger.warning(
                "WhatsApp is not configured (empty WHATSAPP_APP_SECRET or "
                "WHATSAPP_VERIFY_TOKEN): its webhook refuses every request"
            )
        return response.text("", status=403)

    def verify(self, request: Request) -> response.HTTPResponse:
        """Meta's subscription check: echo ``hub.challenge`` for the right token."""
        token = request.args.get("hub.verify_token") or ""
        challenge = request.args.get("hub.challenge") or ""
        if (
            self.configured
            and request.args.get("hub.mode") == "subscribe"
            and challenge
            and hmac.compare_digest(token.encode(), self.verify_token.encode())
        ):
            return response.text(challenge)
        return self._refuse()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("whatsapp_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> response.HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> response.HTTPResponse:
            return self.verify(request)

        @hook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> response.HTTPResponse:
            if not self.configured:
                return self._refuse()
            body, too_large = await read_body(request, MAX_WEBHOOK_BYTES)
            if too_large:
                logger.warning("WhatsApp webhook refused: body over %d bytes", MAX_WEBHOOK_BYTES)
                return response.text("", status=413)
            if not signature_ok(self.app_secret, body, request.headers.get("X-Hub-Signature-256")):
                logger.info("WhatsApp webhook refused: missing or wrong signature")
                return self._refuse()
            try:
                payload = json.loads(body)
            except ValueError:
                return response.text("", status=400)
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None or not agent.is_ready():  # still loading: Meta will deliver again
                return response.text("", status=503)
            tasks = []
            for message in parse_webhook(
                payload if isinstance(payload, dict) else {}, self.phone_number_id
            ):
                if await asyncio.to_thread(self.seen.claim, message.message_id):
                    tasks.append(self._enqueue(message, on_new_message, agent))
            if tasks:
                outcomes = await asyncio.gather(*tasks, return_exceptions=True)
                if any(isinstance(outcome, BaseException) for outcome in outcomes):
                    return response.text("", status=500)  # Meta delivers the failed ones again
            return response.text("")

        return hook

    def _enqueue(self, incoming_message: Incoming, on_new_message, agent) -> asyncio.Task[None]:
        """Handle a message after the earlier ones of the same user (in arrival order)."""
        sender_id = self.sender_id(incoming_message.wa_id)
        previous = self._tails.get(sender_id)

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            try:
                await self._handle(incoming_message, sender_id, on_new_message, agent)
            except Exception as error:  # never the message itself in the log
                logger.error(
                    "WhatsApp %s message failed: %s", incoming_message.kind, type(error).__name__
                )
                await asyncio.to_thread(self.seen.release, incoming_message.message_id)
                raise
            await asyncio.to_thread(self.seen.done, incoming_message.message_id)

        task = asyncio.get_running_loop().create_task(run())
        self._tails[sender_id] = task
        task.add_done_callback(
            lambda done: (
                self._tails.pop(sender_id, None) if self._tails.get(sender_id) is done else None
            )
        )
        return task

    async def _handle(
        self, incoming_message: Incoming, sender_id: str, on_new_message, agent
    ) -> None:
        text = incoming_message.text
        if self.window is not None:  # the 24-hour window for IESS's notices opens now
            await asyncio.to_thread(self.window.saw, incoming_message.wa_id)
        output = WhatsAppOutput(self.client, incoming_message.wa_id)
        if incoming_message.kind in WRITE_IT_KINDS:
            # Nothing for Rasa: the conversation stays where it was.
            await incoming.reply(output, sender_id, agent, incoming.WRITE_IT)
            return
        if text is None:
            try:
                text = await self._file_text(incoming_message, sender_id, agent)
            except TrackerStoreUnavailable:  # the conversation cannot be read: send it again
                await incoming.reply(output, sender_id, agent, incoming.BUSY)
                return
        await incoming.handle(
            agent,
            on_new_message,
            text,
            output,
            sender_id,
            reraise=True,
            input_channel=self.name(),
            message_id=incoming_message.message_id,
            # The number, for the case to be notified on WhatsApp; it stays in the
            # encrypted conversation until the conversation is forgotten.
            metadata={"wa_id": incoming_message.wa_id},
        )

    async def _file_text(self, incoming_message: Incoming, sender_id: str, agent) -> str | None:
        """Download a file the form is waiting for and hand it to the evidence reception."""
        limit = await evidence_reception.size_limit(agent, sender_id)
        if limit is None:
            return evidence_reception.refused(evidence_reception.NOT_NOW)
        if incoming_message.media_id is None:  # a video
            return evidence_reception.refused("evidence_type")
        try:
            content, _mime = await asyncio.to_thread(
                self.client.download, incoming_message.media_id, limit
            )
        except MediaTooLarge:
            return evidence_reception.refused("evidence_too_large")
        except MediaError as error:
            logger.warning("WhatsApp file download failed: %s", error)
            return evidence_reception.refused("evidence_damaged")
        return await evidence_reception.receive_file(
            agent, sender_id, incoming_message.file_name, content
        )
