"""The one action table (shared/ocpp/v16/actions.py): every CALL a charge point may send has exactly
one owning service, each service's route table is exactly its share, and a station CALL that no
service owns is refused at the gateway at once (ADR 0024). Every route entry is typed: its request and
response types are the action's, and so are its handler's parameter and answer (ADR 0027)."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from services.gateway.connection import validate_station_call
from services.gateway.context import LocalContext
from services.gateway.routes import ROUTES as GATEWAY
from services.stations.routes import ROUTES as STATIONS
from services.transactions.routes import ROUTES as TRANSACTIONS
from shared.ocpp.errors import ErrorCode
from shared.ocpp.v16 import actions
from shared.ocpp.v16.actions import ACTIONS, NOT_SUPPORTED, STATION_CALL_OWNERS, Initiator, owned_by
from shared.ocpp.v16.messages import AuthorizeRequest, HeartbeatRequest, HeartbeatResponse
from shared.routes import Route

# "gateway": the CALLs the gateway answers itself (ADR 0044).
SERVICE_ROUTES: Mapping[str, Mapping[str, object]] = {
    "gateway": GATEWAY,
    "stations": STATIONS,
    "transactions": TRANSACTIONS,
}
OWNED = sorted((service, action) for service, routes in SERVICE_ROUTES.items() for action in routes)


def test_every_station_call_has_exactly_one_owner() -> None:
    station_calls = {a for a, s in ACTIONS.items() if Initiator.CHARGE_POINT in s.initiators}
    assert set(STATION_CALL_OWNERS) | set(NOT_SUPPORTED) == station_calls
    assert not set(STATION_CALL_OWNERS) & set(NOT_SUPPORTED)
    assert all(ACTIONS[a].owner in SERVICE_ROUTES for a in STATION_CALL_OWNERS)
    assert all(ACTIONS[a].owner is None for a in NOT_SUPPORTED)


def test_central_system_calls_have_no_owner_column() -> None:
    assert all(
        s.owner is None for s in ACTIONS.values() if s.initiators == frozenset({Initiator.CENTRAL_SYSTEM})
    )


@pytest.mark.parametrize("service", sorted(SERVICE_ROUTES))
def test_each_route_table_is_exactly_what_the_table_gives_its_service(service: str) -> None:
    assert set(SERVICE_ROUTES[service]) == owned_by(service)


@pytest.mark.parametrize(("service", "action"), OWNED)
def test_each_route_has_the_types_of_its_action_and_so_does_its_handler(service: str, action: str) -> None:
    route = SERVICE_ROUTES[service][action]
    assert isinstance(route, Route)
    spec = ACTIONS[action]
    assert (route.request, route.response) == (spec.request, spec.response)
    # decide(state, request, deps) -> (reply, events): the request is the second parameter.
    hints = typing.get_type_hints(route.handler)
    _, request, _ = inspect.signature(route.handler).parameters
    assert hints[request] is spec.request
    reply, events = typing.get_args(hints["return"])
    assert reply is spec.response
    assert typing.get_origin(events) is Sequence  # of the service's events (Never: it decides none)


def test_a_route_decides_only_a_request_of_exactly_its_type() -> None:
    ctx = LocalContext(now=datetime(2026, 1, 1, tzinfo=UTC))
    heartbeat = GATEWAY["Heartbeat"]
    reply, events = heartbeat.decide(None, HeartbeatRequest(), ctx)
    assert reply == HeartbeatResponse(current_time=ctx.now) and list(events) == []
    with pytest.raises(TypeError, match="AuthorizeRequest given to the route of HeartbeatRequest"):
        heartbeat.decide(None, AuthorizeRequest(id_tag="T"), ctx)


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
    unknown = validate_station_call("NotifyEvent", b"{}")  # an OCPP 2.0.1 action: not known to 1.6
    assert unknown is not None and unknown.code == ErrorCode.NOT_IMPLEMENTED
