"""A reservation with a parentIdTag, end to end with the `ocpp` client (issue 11.1, ADR 0012).

OCPP 1.6 5.13: the Charge Point "SHALL refuse charging for all incoming idTags on the reserved
connector, except when the incoming idTag or the parent idTag match the idTag or parent idTag of the
reservation". So a reservation for OWNER with parentIdTag GROUP is for GROUP itself too, for any tag
of GROUP, and for a child of OWNER; a reservation of connector 0 is kept by the station, which only
it can enforce. Reserved through ``POST /api/v1/reservations``; the station then sends Authorize and
StartTransaction; the life cycle (``used`` and by whom) is read back from the API.
"""

from __future__ import annotations

import pytest
from ocpp.v16 import call, call_result

from tests.e2e.conftest import Api, System, unique_station
from tests.e2e.station import TestStation, iso, now, station
from tests.e2e.test_reservations import (
    ReservationsProcess,
    new_tag,
    reservation,
    reserve,
    service,
    start,
    tag,
)

pytestmark = pytest.mark.e2e

__all__ = ["service"]  # the module's reservations process (a fixture), imported for this module


async def group(api: Api) -> tuple[str, str, str, str, str]:
    """Fresh tags: the parent, the reserved tag and a sibling (both of the parent), the reserved
    tag's child, and an unrelated tag."""
    parent, owner, sibling, child, stranger = (new_tag(p) for p in "GOSCX")
    await tag(api, parent)
    await tag(api, owner, parentIdTag=parent)
    await tag(api, sibling, parentIdTag=parent)
    await tag(api, child, parentIdTag=owner)
    await tag(api, stranger)
    return parent, owner, sibling, child, stranger


async def reserved(api: Api, cp: TestStation, connector_id: int, owner: str, parent: str) -> int:
    code, body = await reserve(api, cp.id, connector_id, owner, parentIdTag=parent)
    assert code == 201 and body["status"] == "active", body
    assert cp.last("ReserveNow")["parent_id_tag"] == parent
    await cp.status(connector_id, "Reserved")
    await reservation(api, body["reservationId"], "active")
    rid: int = body["reservationId"]
    return rid


async def refused_and_stopped(cp: TestStation, connector_id: int, id_tag: str) -> None:
    refused = await start(cp, connector_id, id_tag)
    assert refused.id_tag_info["status"] == "Invalid"
    await cp.call(
        call.StopTransaction(meter_stop=0, timestamp=iso(now()), transaction_id=refused.transaction_id)
    )


async def test_reserved_connector_admits_the_parent_its_group_and_children_only(
    system: System, api: Api, service: ReservationsProcess
) -> None:
    """Each admitted tag starts on its own reserved connector without naming the reservation:
    Accepted, and that reservation is ``used`` by it. An unrelated tag is refused there first and
    does not use it."""
    station_id = unique_station()
    parent, owner, sibling, child, stranger = await group(api)
    async with station(system.station_url(station_id)) as cp:
        cp.answering("ReserveNow", call_result.ReserveNow(status="Accepted"))
        authorized = await cp.call(call.Authorize(id_tag=parent))
        assert authorized.id_tag_info == {"status": "Accepted"}  # the station matches it itself
        authorized = await cp.call(call.Authorize(id_tag=sibling))
        assert authorized.id_tag_info == {"status": "Accepted", "parent_id_tag": parent}
        for connector_id, id_tag in enumerate((parent, sibling, child, owner), start=1):
            rid = await reserved(api, cp, connector_id, owner, parent)
            await refused_and_stopped(cp, connector_id, stranger)
            started = await start(cp, connector_id, id_tag)
            assert started.id_tag_info["status"] == "Accepted", (id_tag, started)
            used = await reservation(api, rid, "used")
            assert (used["usedIdTag"], used["usedConnectorId"]) == (id_tag, connector_id)
            assert used["endReason"] == (
                "StartTransaction by the reserved idTag"
                if id_tag == owner
                else "StartTransaction by the reserved idTag's group"
            )
        # Authorize carries no connector: it is answered from the tag alone (5.13: the station asks
        # for the parent and compares), also for the unrelated tag.
        assert (await cp.call(call.Authorize(id_tag=stranger))).id_tag_info == {"status": "Accepted"}


async def test_station_reservation_is_used_by_the_parent_tag_on_any_connector(
    system: System, api: Api, service: ReservationsProcess
) -> None:
    """connectorId 0: the station keeps a connector free, so an unrelated tag is not refused (nor
    uses it); the parent tag starting on any connector, without naming it, uses it up."""
    station_id = unique_station()
    parent, owner, _, _, stranger = await group(api)
    async with station(system.station_url(station_id)) as cp:
        cp.answering("ReserveNow", call_result.ReserveNow(status="Accepted"))
        rid = await reserved(api, cp, 0, owner, parent)
        assert (await start(cp, 1, stranger)).id_tag_info["status"] == "Accepted"
        started = await start(cp, 2, parent)
        assert started.id_tag_info["status"] == "Accepted"
        used = await reservation(api, rid, "used")
        assert (used["usedIdTag"], used["usedConnectorId"], used["connectorId"]) == (parent, 2, 0)
