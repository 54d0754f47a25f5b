"""``python -m console``: the staff console on ``STAFF_HOST:STAFF_PORT`` (127.0.0.1:5010).

The key and the settings are checked before it listens (:func:`buzon.wiring.check`).
Behind a proxy (the production topology's nginx), ``STAFF_TRUSTED_PROXY`` is the
address the proxy connects from: only a request from there has its client address
(the sign-in throttle's key) taken from ``X-Forwarded-For``; from anywhere else the
header is ignored. Unset, the header is never read.
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
    trusted_proxy = os.environ.get("STAFF_TRUSTED_PROXY", "").strip()
    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=bool(trusted_proxy),
        forwarded_allow_ips=trusted_proxy or None,
        server_header=False,
    )


if __name__ == "__main__":
    main()
