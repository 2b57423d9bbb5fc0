"""What an id tag is worth right now: the idTagInfo every Authorize/Start/Stop answer carries.

Pure: the tag's operator record, the clock and where the tag is already charging go in; the verdict
comes out. Unknown tags are Invalid; an Accepted tag past its expiryDate is Expired; a tag charging
on another connector (of this or another station) is ConcurrentTx.
"""

from __future__ import annotations

from datetime import datetime

from msgspec import UNSET

from shared.events.idtags import IdTagRecord
from shared.ocpp.v16.messages import IdTagInfo


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
