"""Repeated failed status look-ups from one sender are slowed down."""

from datetime import datetime, timedelta

from buzon.cases.throttle import LookupThrottleStore


def test_three_failures_are_free_then_the_wait_grows(engine, cipher):
    clock = [datetime(2026, 11, 23, 12, 0)]
    throttle = LookupThrottleStore(engine, cipher, now=lambda: clock[0])
    sender = "whatsapp:+593900000001"
    assert [throttle.record_failure(sender) for _ in range(2)] == [0, 0]
    assert throttle.seconds_to_wait(sender) == 0
    assert throttle.record_failure(sender) == 60
    assert throttle.seconds_to_wait(sender) == 60
    clock[0] += timedelta(seconds=61)
    assert throttle.seconds_to_wait(sender) == 0
    assert throttle.record_failure(sender) == 120
    assert throttle.seconds_to_wait("otro-remitente") == 0


def test_a_success_clears_the_count_and_old_failures_are_forgotten(engine, cipher):
    clock = [datetime(2026, 11, 23, 12, 0)]
    throttle = LookupThrottleStore(engine, cipher, now=lambda: clock[0])
    for sender in ("a", "b"):
        for _ in range(3):
            throttle.record_failure(sender)
    throttle.record_success("a")
    assert throttle.seconds_to_wait("a") == 0
    clock[0] += timedelta(days=2)
    assert throttle.record_failure("b") == 0
