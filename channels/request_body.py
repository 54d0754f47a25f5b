"""Reading a request body without trusting its size."""

from __future__ import annotations

from sanic.request import Request


async def read_body(request: Request, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of a streamed body, and whether there was more.

    The route must be declared with ``stream=True``. The rest of a larger body
    is read and dropped, never kept, so that the client receives the answer
    instead of a reset connection.
    """
    kept: list[bytes] = []
    size, overflow = 0, False
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            break
        if overflow:
            continue
        if size + len(chunk) > limit:
            kept.append(chunk[: limit - size])
            size = limit
            overflow = True
            continue
        kept.append(chunk)
        size += len(chunk)
    return b"".join(kept), overflow
