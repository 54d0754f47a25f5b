"""``python -m console``: the staff console on ``STAFF_HOST:STAFF_PORT`` (127.0.0.1:5010).

The key and the settings are checked before it listens (:func:`buzon.wiring.check`).
"""

from __future__ import annotations

import os

import uvicorn

from buzon import wiring
from console.app import create_app


def main() -> None:
    wiring.umask_private()
    wiring.check()
    host = os.environ.get("STAFF_HOST", "127.0.0.1")
    port = int(os.environ.get("STAFF_PORT", "5010"))
    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
