"""action_check_status: a case's status for the right number and key only, throttled."""

import re
import uuid
from datetime import datetime

import pytest

from actions.registration import FinishCase
from actions.status import CheckStatus
from buzon.cases.store import CaseDraft
from tests.actions.helpers import CASE, make_tracker, run_action, slots

CLEARED = {"lookup_case_number": None, "lookup_key": None, "forget_conversation": "status_lookup"}
UNKNOWN_NUMBER = "IESS-Q-2026-999999"
WRONG_KEY = "AAAA-BBBB-CCCC"


@pytest.fixture()
def sender():
    """A sender of its own: the throttle counts failures per sender, in the shared database."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture()
def registration(live_services):
    draft = CaseDraft(
        **{
            k: CASE[k]
            for k in (
                "cedula",
                "phone",
                "email",
                "province_code",
                "canton_code",
                "address",
                "description",
                "consent_version",
            )
        },
        kind=CASE["case_kind"],
        category=CASE["category"],
        channel="rest",
        consent_at=datetime.fromisoformat(CASE["consent_at"]),
    )
    return live_services.store().register(draft)


def check(sender, number, key):
    given = slots(lookup_case_number=number, lookup_key=key)
    tracker = make_tracker(given, sender_id=sender, intent="inform", text=key)
    return run_action(CheckStatus(), tracker)


def test_the_right_number_and_key_show_the_status(registration, sender):
    outcome = check(sender, registration.number, registration.tracking_key)
    message = outcome.sent("utter_case_status")
    assert message["number"] == registration.number
    assert message["status_label"] == "Registrado, pendiente de análisis"
    assert message["area_name"] == registration.area_name
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", message["updated_at"])
    # an open case: the citizen may add information to it
    assert outcome.responses == ["utter_case_status", "utter_followup_add_offer"]
    assert outcome.changes == {
        **CLEARED,
        "followup_case": registration.number,
        "followup_kind": "queja",
    }


def test_a_wrong_key_and_an_unknown_number_get_the_same_answer(registration, sender):
    wrong_key = check(sender, registration.number, WRONG_KEY)
    unknown = check(sender, UNKNOWN_NUMBER, registration.tracking_key)
    assert wrong_key.responses == ["utter_case_not_found"]
    assert wrong_key.messages == unknown.messages
    assert wrong_key.changes == unknown.changes == CLEARED


def test_after_three_failures_even_the_right_pair_must_wait(registration, sender):
    for _ in range(3):
        assert check(sender, registration.number, WRONG_KEY).responses == ["utter_case_not_found"]
    outcome = check(sender, registration.number, registration.tracking_key)
    assert outcome.responses == ["utter_lookup_wait"]
    assert outcome.sent("utter_lookup_wait")["minutes"] == 1
    assert outcome.changes == CLEARED


def test_a_success_clears_the_failure_count(registration, sender):
    for _ in range(2):
        check(sender, UNKNOWN_NUMBER, WRONG_KEY)
    assert (
        "utter_case_status"
        in check(sender, registration.number, registration.tracking_key).responses
    )
    for _ in range(2):
        check(sender, UNKNOWN_NUMBER, WRONG_KEY)
    assert (
        "utter_case_status"
        in check(sender, registration.number, registration.tracking_key).responses
    )


def test_one_senders_failures_do_not_make_another_wait(registration, sender):
    for _ in range(3):
        check(sender, registration.number, WRONG_KEY)
    other = check(f"{sender}-other", registration.number, registration.tracking_key)
    assert other.responses[0] == "utter_case_status"


def test_the_number_and_key_given_at_registration_find_the_case(live_services, sender):
    given = {**CASE, "confirmation": "yes"}
    tracker = make_tracker(slots(given), sender_id=sender, intent="affirm")
    registered = run_action(FinishCase(), tracker)
    told = registered.sent("utter_case_registered")
    # as the citizen may type them back
    outcome = check(sender, told["number"].lower(), told["tracking_key"].replace("-", " "))
    assert outcome.sent("utter_case_status")["number"] == told["number"]
