"""Value on ``csms.idtags`` (compacted, key = id tag): an operator-managed authorization identifier.

Written by the operator API, read into memory by every service that authorizes (transactions today,
reservations and local lists later). A tombstone deletes the tag: it then answers Invalid.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

IdTagStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]


class IdTagRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    v: int = 1
    id_tag: str
    status: IdTagStatus
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None
    at_ms: int = 0


id_tag_decoder = msgspec.json.Decoder(IdTagRecord)
