"""Protections of the action server, attached when ``rasa run actions`` loads this package.

The action server registers a case from whatever tracker it is sent, so it must
only listen to the Rasa server:

- it binds to the loopback interface unless ``SANIC_HOST`` says otherwise;
- with ``ACTION_SERVER_TOKEN`` set (required in the production profile) every
  request but ``/health`` must carry ``Authorization: Bearer <token>``, which the
  Rasa server sends (``endpoints.production.yml``), or it is refused with 401;
- an error answers ``{"error": "internal error"}``: rasa_sdk's own handler
  returns the whole request body (every slot of the conversation) in the reply;
- its DEBUG logging (which prints slot values) stays off, and the key and the
  settings are checked at start-up (:func:`buzon.wiring.check`), so a bad key
  stops the server before the first citizen.

These are attached through rasa_sdk's plugin hook ``attach_sanic_app_extensions``,
which ``rasa run actions`` calls after loading the actions.
"""

from __future__ import annotations

import hmac
import logging
import os

import pluggy
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response

from buzon import wiring

logger = logging.getLogger(__name__)
hookimpl = pluggy.HookimplMarker("rasa_sdk")

TOKEN_VARIABLE = "ACTION_SERVER_TOKEN"
OPEN_PATHS = frozenset({"/health"})


class MissingToken(RuntimeError):
    """The production profile needs ACTION_SERVER_TOKEN."""


def token_ok(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (constant-time).

    >>> token_ok("Bearer s3cret", "s3cret"), token_ok("Bearer nope", "s3cret")
    (True, False)
    >>> token_ok(None, "s3cret")
    False
    """
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), token.encode())


class ActionServerGuard:
    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        logging.getLogger("rasa_sdk").setLevel(
            max(logging.INFO, logging.getLogger("rasa_sdk").level)
        )
        wired = wiring.check()
        token = os.environ.get(TOKEN_VARIABLE, "")
        if not token and not wired.settings.embedded:
            raise MissingToken(
                f"{TOKEN_VARIABLE} is required when BUZON_PROFILE is {wired.settings.profile}"
            )

        if token:

            @app.on_request
            async def require_token(request):
                if request.path not in OPEN_PATHS and not token_ok(
                    request.headers.get("authorization"), token
                ):
                    return response.json({"error": "unauthorized"}, status=401)

        @app.exception(Exception)
        async def private_error(request, exception):
            logger.error("action request failed: %s", type(exception).__name__)
            return response.json({"error": "internal error"}, status=500)


_guard = ActionServerGuard()


def install() -> None:
    """Bind to loopback by default and register the guard (idempotent)."""
    os.environ.setdefault("SANIC_HOST", "127.0.0.1")
    manager = plugin_manager()
    if not manager.is_registered(_guard):
        manager.register(_guard)
