"""The one action table (shared/ocpp/v16/actions.py): every CALL a charge point may send has exactly
one owning service, each service's route table is exactly its share, and a station CALL that no
service owns is refused at the gateway at once (ADR 0024)."""

from __future__ import annotations

import dataclasses

import pytest

from services.gateway.connection import validate_station_call
from services.stations.routes import ROUTES as STATIONS
from services.transactions.routes import ROUTES as TRANSACTIONS
from shared.ocpp.errors import ErrorCode
from shared.ocpp.v16 import actions
from shared.ocpp.v16.actions import ACTIONS, STATION_CALL_OWNERS, Initiator, owned_by

SERVICE_ROUTES = {"stations": STATIONS, "transactions": TRANSACTIONS}


def test_every_station_call_has_exactly_one_owner() -> None:
    station_calls = {a for a, s in ACTIONS.items() if Initiator.CHARGE_POINT in s.initiators}
    assert set(STATION_CALL_OWNERS) == station_calls
    assert all(ACTIONS[a].owner in SERVICE_ROUTES for a in station_calls)


def test_central_system_calls_have_no_owner_column() -> None:
    assert all(
        s.owner is None for s in ACTIONS.values() if s.initiators == frozenset({Initiator.CENTRAL_SYSTEM})
    )


@pytest.mark.parametrize("service", sorted(SERVICE_ROUTES))
def test_each_route_table_is_exactly_what_the_table_gives_its_service(service: str) -> None:
    assert set(SERVICE_ROUTES[service]) == owned_by(service)


def test_an_unowned_station_call_is_refused_at_once_as_not_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    """OCPP-J 1.6 4.2.3: NotSupported is "recognized but not supported"; NotImplemented "not known"."""
    table = dict(ACTIONS)
    table["Heartbeat"] = dataclasses.replace(ACTIONS["Heartbeat"], owner=None)
    monkeypatch.setattr(actions, "ACTIONS", table)
    error = validate_station_call("Heartbeat", b"{}")
    assert error is not None
    assert (error.code, error.description) == (
        ErrorCode.NOT_SUPPORTED,
        "no service of this central system answers Heartbeat",
    )
    unknown = validate_station_call("SecurityEventNotification", b"{}")
    assert unknown is not None and unknown.code == ErrorCode.NOT_IMPLEMENTED
