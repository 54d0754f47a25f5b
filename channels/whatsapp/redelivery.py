"""Which WhatsApp messages were already processed, so a redelivery is processed once."""

from __future__ import annotations

import collections
import hashlib
import threading
import time
from collections.abc import Callable


class SeenMessages:
    """Which message ids were processed, so that a redelivery is processed once.

    Meta redelivers a webhook it thinks failed. :meth:`claim` takes an id for
    processing (False if it was processed or is being processed); :meth:`done`
    marks it processed for ``ttl`` seconds; :meth:`release` gives it back after a
    failure so that the redelivery is processed. This one lives in the process
    (a TTL cache, safe across the threads the channel calls it from);
    :class:`RedisSeenMessages` is shared by every server.
    """

    def __init__(
        self,
        ttl: float = 24 * 3600,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
        claim_ttl: float = 300,
    ) -> None:
        self.ttl = ttl
        self.claim_ttl = claim_ttl
        self.max_entries = max_entries
        self.clock = clock
        self._expiry: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._lock = threading.Lock()

    def _expire(self) -> None:
        now = self.clock()
        for key in [k for k, until in self._expiry.items() if until <= now]:
            del self._expiry[key]

    def claim(self, message_id: str) -> bool:
        with self._lock:  # check and take at once: two deliveries, one claim
            self._expire()
            if message_id in self._expiry:
                return False
            self._expiry[message_id] = self.clock() + self.claim_ttl
            while len(self._expiry) > self.max_entries:
                self._expiry.popitem(last=False)
            return True

    def done(self, message_id: str) -> None:
        with self._lock:
            self._expiry[message_id] = self.clock() + self.ttl
            self._expiry.move_to_end(message_id)

    def release(self, message_id: str) -> None:
        with self._lock:
            self._expiry.pop(message_id, None)

    def first_time(self, message_id: str) -> bool:
        """Claim and mark at once (True the first time an id is seen within the TTL)."""
        if not self.claim(message_id):
            return False
        self.done(message_id)
        return True


class RedisSeenMessages:
    """:class:`SeenMessages` in Redis (``SET NX EX``): shared by servers, kept over restarts."""

    PREFIX = "buzon:whatsapp:seen:"

    def __init__(self, url: str, ttl: int = 24 * 3600, claim_ttl: int = 300) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.ttl = ttl
        self.claim_ttl = claim_ttl

    def _key(self, message_id: str) -> str:
        return self.PREFIX + hashlib.sha256(message_id.encode()).hexdigest()

    def claim(self, message_id: str) -> bool:
        return bool(
            self.redis.set(self._key(message_id), b"processing", nx=True, ex=self.claim_ttl)
        )

    def done(self, message_id: str) -> None:
        self.redis.set(self._key(message_id), b"done", ex=self.ttl)

    def release(self, message_id: str) -> None:
        self.redis.delete(self._key(message_id))
