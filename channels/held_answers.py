"""A turn's answers reach the citizen only once the turn is stored.

Rasa sends the bot's messages while it runs the turn and saves the conversation at
the end. When the save failed (the database restarting), the citizen had already
seen the next question, then "try again": they answered the question they saw, and
the stored conversation, still one step behind, took that answer for the previous
one ("Falta el número de casa" for a story). Now every answer of a turn is held
(:class:`HeldAnswers`, the turn's output channel) and sent, in order, by the
conversation store right after its commit
(:data:`persistence.encrypted_tracker_store.after_turn_saved`): still inside the
conversation's lock, so two turns' answers never interleave. A turn that fails
(database, action server, anything) sends nothing of its own: the citizen gets only
"try again", and what they write again is read where the conversation really is.
With a store that does not call back, the answers go when the turn has ended.

One kind of answer is never withheld: the one announcing a registered case. The case
is in the database whatever happens to the conversation, and its tracking key is
shown only there (and in the e-mail, when there is one): it is sent, then "try again"
(a second «Confirmar» gets the same number: ``buzon.cases.store.AlreadyRegistered``).
"""

from __future__ import annotations

from typing import Any

from rasa.core.channels.channel import OutputChannel

# Answers about something done that no failure of the turn undoes (the case is stored).
NEVER_WITHHELD = (
    "utter_case_registered",
    "utter_case_registered_by_whatsapp",
    "utter_case_registered_queja_note",
    "utter_case_registered_denuncia_note",
)


class HeldAnswers(OutputChannel):
    """The output channel of one turn: holds what Rasa sends until :meth:`release`."""

    def __init__(self, output: OutputChannel) -> None:
        self.output = output
        self.held: list[tuple[str, dict[str, Any]]] = []
        self.failure: Exception | None = None  # the first send that failed at release

    def name(self) -> str:  # type: ignore[override]  # responses chosen for the real channel
        return self.output.name()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.held.append((recipient_id, dict(message)))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.held.append((recipient_id, {"text": text, **kwargs}))

    async def release(self) -> None:
        """Send what is held, in order. A send that fails does not stop the others and
        never fails the turn: the turn is stored, and a redelivered WhatsApp message
        would be read at the next step (the channel's client has retried already)."""
        held, self.held = self.held, []
        for recipient_id, message in held:
            try:
                await self.output.send_response(recipient_id, message)
            except Exception as error:  # logged by channels.incoming.handle, by type
                self.failure = self.failure or error

    async def discard(self) -> None:
        """Drop the turn's answers, but send those that are :data:`NEVER_WITHHELD`."""
        self.held = [
            (recipient_id, message)
            for recipient_id, message in self.held
            if message.get("utter_action") in NEVER_WITHHELD
        ]
        await self.release()
