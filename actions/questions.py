"""Questions citizens ask in the middle: is it confidential, why my data, how long.

Each gets a short, true answer (responses ``utter_confidentiality``,
``utter_why_data``, ``utter_process`` in domain.yml); the rules then hand the turn
back to the form, which asks its question again, so nothing already given is
lost. The time figures come from the deadlines IESS configured
(``buzon/data/deadlines.yml``), not from the text.
"""

from __future__ import annotations

from rasa_sdk import Action

from actions.form_validation import latest_intent
from buzon.cases import deadlines

RESPONSE_OF_INTENT = {
    "ask_confidentiality": "utter_confidentiality",
    "ask_why_data": "utter_why_data",
    "ask_process": "utter_process",
}


class AnswerQuestion(Action):
    def name(self) -> str:
        return "action_answer_question"

    def run(self, dispatcher, tracker, domain):
        response = RESPONSE_OF_INTENT.get(latest_intent(tracker) or "", "utter_why_data")
        if response == "utter_process":
            dispatcher.utter_message(response=response, **deadlines.promised())
        else:
            dispatcher.utter_message(response=response)
        return []
