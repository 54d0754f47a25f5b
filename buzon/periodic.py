"""Running a job's pass again and again, as the workers do (outbox, retention).

A pass that fails (a database restarting, say) is logged by the kind of error only
and tried again at the next interval; ``once`` runs one pass and returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


def repeat(
    one_pass: Callable[[], None],
    interval: float,
    once: bool,
    name: str,
    logger: logging.Logger,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Call ``one_pass`` every ``interval`` seconds (or once).

    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) == 1:
    ...         raise ConnectionError("down")
    >>> repeat(flaky, 0, True, "demo", logging.getLogger("demo")); len(calls)
    1
    """
    while True:
        try:
            one_pass()
        except Exception as error:
            logger.error("%s pass failed: %s", name, type(error).__name__)
        if once:
            return
        sleep(interval)
