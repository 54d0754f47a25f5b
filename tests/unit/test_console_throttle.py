"""The console's sign-in throttle per client address: failures count, successes not."""

from console.auth import ClientThrottle


def test_failures_from_one_address_block_it_and_no_other():
    throttle = ClientThrottle(attempts=3, window=60)
    for _ in range(3):
        assert throttle.allow("10.0.0.7")
        throttle.failed("10.0.0.7")
    assert not throttle.allow("10.0.0.7")
    assert throttle.allow("10.0.0.8")


def test_a_whole_office_signing_in_right_is_never_blocked():
    throttle = ClientThrottle(attempts=3, window=60)
    assert all(throttle.allow("10.0.0.7") for _ in range(100))


def test_old_failures_are_forgotten():
    throttle = ClientThrottle(attempts=1, window=0.0)
    throttle.failed("10.0.0.7")
    assert throttle.allow("10.0.0.7")
