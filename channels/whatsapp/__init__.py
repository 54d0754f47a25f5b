"""WhatsApp Business Cloud API as a Rasa channel.

Meta calls ``/webhooks/whatsapp/webhook``: a GET to verify the subscription, a
POST for each batch of messages and statuses, signed with the app secret
(``X-Hub-Signature-256``). The bot answers through the Graph API
(``POST {api_url}/{phone_number_id}/messages``).

Privacy: the WhatsApp id (``wa_id``) is the citizen's phone number. The Rasa
conversation is named ``wa-`` + a keyed hash of it (:func:`sender_id_for`, keyed
by the case key, so rotating Meta's app secret renames nothing). The number
reaches no log and no conversation id: it rides, encrypted with the rest of the
conversation, in each message's metadata (erased when the conversation is
forgotten), so that a case registered here keeps it, encrypted, to be notified on
WhatsApp. Nothing here logs a ``wa_id``, a message text or a file.

Robustness: a body over ``MAX_WEBHOOK_BYTES`` is refused before it is read
whole; each message goes through :mod:`channels.incoming` (length, blank,
typed button titles, an unreachable action server answered kindly); a
message is marked as processed only after it was (in Redis when
``dedup_redis_url`` is set, so a restart or a second server does not process a
redelivery again), and a failure answers Meta with 500 so it delivers again.
The access token goes only to the Graph API's own address or, over https, to
Meta's media hosts.

Configured in ``credentials.yml``::

    channels.whatsapp.WhatsAppInput:
      verify_token: ${WHATSAPP_VERIFY_TOKEN}
      app_secret: ${WHATSAPP_APP_SECRET}
      access_token: ${WHATSAPP_ACCESS_TOKEN}
      phone_number_id: ${WHATSAPP_PHONE_NUMBER_ID}
      api_url: ${WHATSAPP_API_URL}        # default https://graph.facebook.com/v21.0
      dedup_redis_url: redis://127.0.0.1:6379/1   # optional; in-process otherwise

Without an app secret or a verify token the webhook refuses every request (403).

The package: :mod:`~channels.whatsapp.inbound` (signatures, parsing, the sender's
hashed id), :mod:`~channels.whatsapp.redelivery` (messages processed once),
:mod:`~channels.whatsapp.messages` (building replies within the Cloud API's limits),
:mod:`buzon.whatsapp_cloud` (the Graph API) and :mod:`~channels.whatsapp.channel`
(the Rasa channel named in ``credentials.yml``).
"""

from buzon.whatsapp_cloud import GRAPH_API_URL, GraphClient, MediaError, MediaTooLarge
from channels.whatsapp.channel import MAX_WEBHOOK_BYTES, WhatsAppInput, WhatsAppOutput
from channels.whatsapp.inbound import (
    Incoming,
    parse_message,
    parse_webhook,
    sender_id_for,
    sender_key,
    signature_ok,
)
from channels.whatsapp.messages import (
    BUTTON_BODY_LIMIT,
    BUTTON_TITLE_LIMIT,
    ELLIPSIS,
    MAX_BUTTONS,
    MAX_ROWS,
    ROW_DESCRIPTION_LIMIT,
    ROW_ID_LIMIT,
    ROW_TITLE_LIMIT,
    TEXT_LIMIT,
    build_messages,
    button_message,
    list_message,
    shorten,
    split_tail,
    split_text,
    text_message,
)
from channels.whatsapp.redelivery import RedisSeenMessages, SeenMessages

__all__ = [
    "BUTTON_BODY_LIMIT",
    "BUTTON_TITLE_LIMIT",
    "ELLIPSIS",
    "GRAPH_API_URL",
    "MAX_BUTTONS",
    "MAX_ROWS",
    "MAX_WEBHOOK_BYTES",
    "ROW_DESCRIPTION_LIMIT",
    "ROW_ID_LIMIT",
    "ROW_TITLE_LIMIT",
    "TEXT_LIMIT",
    "GraphClient",
    "Incoming",
    "MediaError",
    "MediaTooLarge",
    "RedisSeenMessages",
    "SeenMessages",
    "WhatsAppInput",
    "WhatsAppOutput",
    "build_messages",
    "button_message",
    "list_message",
    "parse_message",
    "parse_webhook",
    "sender_id_for",
    "sender_key",
    "shorten",
    "signature_ok",
    "split_tail",
    "split_text",
    "text_message",
]
