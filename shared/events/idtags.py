"""Value on ``csms.idtags`` (compacted, key = id tag): an operator-managed authorization identifier.

Written by the operator API, read into memory by every service that authorizes (transactions,
reservations, local lists). A tombstone deletes the tag: it then answers Invalid. ``id_tag_info``
is what a record is worth at a given time, the one verdict all of them give.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from msgspec import UNSET

from shared.events.versioned import Family, VersionedDecoder
from shared.ocpp.v16.messages import IdTagInfo

IdTagStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]


class IdTagRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    v: int = 1
    id_tag: str
    status: IdTagStatus
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None
    at_ms: int = 0


ID_TAGS = Family("csms.idtags")
id_tag_decoder = VersionedDecoder(ID_TAGS, IdTagRecord)


def id_tag_info(
    record: IdTagRecord | None,
    now: datetime,
    *,
    charging_elsewhere: bool = False,
) -> IdTagInfo:
    if record is None:
        return IdTagInfo(status="Invalid")
    status: str = record.status
    if status == "Accepted" and record.expiry_date is not None and record.expiry_date <= now:
        status = "Expired"
    if status == "Accepted" and charging_elsewhere:
        status = "ConcurrentTx"
    return IdTagInfo(
        status=status,  # type: ignore[arg-type]
        expiry_date=record.expiry_date if record.expiry_date is not None else UNSET,
        parent_id_tag=record.parent_id_tag if record.parent_id_tag is not None else UNSET,
    )
