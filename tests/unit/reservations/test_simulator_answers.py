"""The simulated station's reservation and local-list answers (what load tests and demos rely on)."""

from __future__ import annotations

from services.simulator.answers import reserve_now, send_local_list
from services.simulator.metrics import Metrics
from services.simulator.station import SimStation

RESERVE = {"connectorId": 0, "expiryDate": "2030-01-01T00:00:00Z", "idTag": "T", "reservationId": 9}


def station() -> SimStation:
    return SimStation("CP1", "ws://unused", Metrics(), connectors=2)


def test_connector_zero_only_when_supported() -> None:
    st = station()
    assert reserve_now(st, RESERVE)[0] == {"status": "Rejected"}
    st.configuration["ReserveConnectorZeroSupported"] = "true"
    assert reserve_now(st, RESERVE)[0] == {"status": "Accepted"}
    assert st.connectors[1].reserved_for == 9
    for c in st.connectors.values():
        c.status = "Charging"
    assert reserve_now(st, RESERVE)[0] == {"status": "Occupied"}


def test_local_list_respects_local_auth_list_max_length_and_keeps_the_old_list() -> None:
    st = station()
    st.configuration["LocalAuthListMaxLength"] = "2"
    info = {"status": "Accepted"}
    full = {
        "listVersion": 1,
        "updateType": "Full",
        "localAuthorizationList": [{"idTag": "A", "idTagInfo": info}],
    }
    assert send_local_list(st, full)[0] == {"status": "Accepted"}
    too_many = {
        "listVersion": 2,
        "updateType": "Differential",
        "localAuthorizationList": [{"idTag": t, "idTagInfo": info} for t in "BC"],
    }
    assert send_local_list(st, too_many)[0] == {"status": "Failed"}
    assert st.local_list == {"A": info} and st.local_list_version == 1
    stale = {"listVersion": 1, "updateType": "Differential", "localAuthorizationList": [{"idTag": "A"}]}
    assert send_local_list(st, stale)[0] == {"status": "VersionMismatch"}
