"""Every table of the case database, for Alembic and the schema test.

Each table lives with the module that owns it; importing them here fills
:data:`metadata`, the one schema that ``migrations/`` builds.
"""

from __future__ import annotations

from buzon import audit as _audit
from buzon import evidence as _evidence
from buzon import outbox as _outbox
from buzon import whatsapp_window as _whatsapp_window
from buzon.cases import models as _cases
from buzon.cases import throttle as _throttle
from buzon.db import Base
from buzon.staff import accounts as _accounts
from buzon.staff import digest as _digest

metadata = Base.metadata
OWNERS = (_cases, _throttle, _evidence, _outbox, _audit, _accounts, _whatsapp_window, _digest)
