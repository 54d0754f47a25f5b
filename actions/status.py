"""check_status: a case's status for the right number and tracking key only, with
IESS's latest message and what the citizen may do now (answer, add, rate, reopen)."""

from __future__ import annotations

import asyncio
import math

from rasa_sdk import Action
from rasa_sdk.events import SlotSet

from actions import services
from actions.registration import forget
from actions.slots import FORGET_LOOKUP
from buzon.clock import ecuador_time_text


class CheckStatus(Action):
    def name(self) -> str:
        return "action_check_status"

    async def run(self, dispatcher, tracker, domain):
        # The number and key the citizen typed are erased from the history afterwards.
        cleared = [
            SlotSet("lookup_case_number", None),
            SlotSet("lookup_key", None),
            *forget(FORGET_LOOKUP),
        ]
        sender = tracker.sender_id
        throttle = services.throttle()
        wait = await asyncio.to_thread(throttle.seconds_to_wait, sender)
        if wait:
            dispatcher.utter_message(response="utter_lookup_wait", minutes=math.ceil(wait / 60))
            return cleared
        found = await asyncio.to_thread(
            services.followup().look_up,
            tracker.get_slot("lookup_case_number"),
            tracker.get_slot("lookup_key"),
            sender,
        )
        if found is None:
            await asyncio.to_thread(throttle.record_failure, sender)
            dispatcher.utter_message(response="utter_case_not_found")
            return cleared
        await asyncio.to_thread(throttle.record_success, sender)
        dispatcher.utter_message(
            response="utter_case_status",
            number=found.number,
            status_label=found.status_label,
            area_name=found.area_name,
            updated_at=ecuador_time_text(found.updated_at),
        )
        if found.question_pending and found.latest_message:
            dispatcher.utter_message(
                response="utter_case_question_pending", message=found.latest_message
            )
        elif found.latest_message:
            dispatcher.utter_message(
                response="utter_case_latest_message", message=found.latest_message
            )
        offer = next(
            (
                response
                for condition, response in (
                    (found.question_pending, "utter_followup_answer_offer"),
                    (found.may_rate and found.may_reopen, "utter_followup_rate_or_reopen"),
                    (found.may_rate, "utter_followup_rate"),
                    (found.may_reopen, "utter_followup_reopen"),
                    (found.may_write, "utter_followup_add_offer"),
                )
                if condition
            ),
            None,
        )
        if offer:
            dispatcher.utter_message(response=offer)
        return cleared + [
            SlotSet("followup_case", found.number),
            SlotSet("followup_kind", found.kind),
        ]
