"""What the transactions service adds to an id tag's verdict (``shared.events.idtags.id_tag_info``):
a connector reserved for another tag (and not for the tag's group, OCPP 1.6 5.13) makes an Accepted
tag Invalid there. Pure: the verdict and the connector's reservations go in. ADR 0012.
"""

from __future__ import annotations

from shared.ocpp.v16.messages import IdTagInfo
from shared.reservations.state import Reservation


def respecting_reservations(
    info: IdTagInfo,
    id_tag: str,
    holding: list[Reservation],
    reservation_id: int | None = None,
) -> IdTagInfo:
    """``info``, or Invalid when the connector is held for someone else.

    ``holding``: the active reservations on the connector (see ``State.holding``). A reservation of
    the whole station (connectorId 0) does not block: only the station knows which of its connectors
    it keeps free, and it enforces that itself. Naming a reservationId held for another tag is
    Invalid too. Who is admitted is ``shared.reservations.state.admitted`` (the tag or its
    parentIdTag, from ``info``, equal to the reservation's idTag or parentIdTag), the same rule that
    decides which tag uses a reservation up.
    """
    if info.status != "Accepted":
        return info
    parent = info.parent_id_tag if isinstance(info.parent_id_tag, str) else None
    blocking = [r for r in holding if r.connector_id != 0 or r.reservation_id == reservation_id]
    if blocking and not any(r.admits(id_tag, parent) for r in blocking):
        info.status = "Invalid"
    return info
