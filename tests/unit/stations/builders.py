"""The stations service's decisions without Kafka: a fixed clock and context, and a connection's
``opened`` applied to a state. Each action's test module uses it."""

from __future__ import annotations

from datetime import UTC, datetime

from services.stations import connections
from services.stations.context import Context
from services.stations.routes import ROUTES
from services.stations.state import State, evolve
from shared.decision import Decision
from shared.events.envelope import ConnectionOpened, Presence, StationRegistration
from shared.ocpp.v16.messages import BootNotificationRequest

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BOOT = BootNotificationRequest(charge_point_vendor="V", charge_point_model="M")


def ctx(registration: StationRegistration | None = None, *, epoch: int = 10) -> Context:
    return Context(
        now=NOW,
        station_id="CP1",
        epoch=epoch,
        heartbeat_interval=60,
        boot_retry_interval=30,
        registration=registration,
        auto_register=False,
    )


def call(action: str, request: object, state: State | None = None) -> Decision[object, object]:
    """Route ``request`` as the service would, with the fixed context."""
    return ROUTES[action].decide(state or State(), request, ctx())  # type: ignore[arg-type]


def opened(state: State, offset: int, *, auto_register: bool = True) -> list[Presence | StationRegistration]:
    event = ConnectionOpened(station_id="CP1", gateway_id="gw", connection_id="c", at_ms=1)
    deps = connections.Connection(offset=offset, auto_register=auto_register, registration=None)
    reply, events = connections.decide(state, event, deps)
    assert reply is None
    for e in events:
        evolve(state, e)
    return list(events)
