"""Time as stored (naive UTC) and as shown to a citizen (Ecuador, UTC-5).

>>> from datetime import datetime
>>> ecuador_time_text(datetime(2026, 11, 23, 15, 30))
'23/11/2026 10:30'
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

ECUADOR_OFFSET = timedelta(hours=-5)  # mainland Ecuador has no daylight saving time


def utcnow() -> datetime:
    """Naive UTC now, the form every timestamp is stored in."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def ecuador_time_text(moment: datetime) -> str:
    """A stored UTC time as day/month/year hour:minute in Ecuador."""
    return (moment + ECUADOR_OFFSET).strftime("%d/%m/%Y %H:%M")
