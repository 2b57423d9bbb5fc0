"""The stations service's decisions without Kafka: a boot's answer and the presence it decides, and
what a connection's ``opened`` decides (presence, an auto-registration once)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.stations import connections
from services.stations.context import Context
from services.stations.routes import ROUTES
from services.stations.state import State, evolve
from shared.events.envelope import ConnectionOpened, Presence, StationRegistration
from shared.ocpp.v16.messages import BootNotificationRequest, BootNotificationResponse

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BOOT = BootNotificationRequest(charge_point_vendor="V", charge_point_model="M")


def ctx(registration: StationRegistration | None, *, epoch: int = 10) -> Context:
    return Context(
        now=NOW,
        station_id="CP1",
        epoch=epoch,
        heartbeat_interval=60,
        boot_retry_interval=30,
        registration=registration,
        auto_register=False,
    )


def opened(state: State, offset: int, *, auto_register: bool = True) -> list[Presence | StationRegistration]:
    event = ConnectionOpened(station_id="CP1", gateway_id="gw", connection_id="c", at_ms=1)
    deps = connections.Connection(offset=offset, auto_register=auto_register, registration=None)
    reply, events = connections.decide(state, event, deps)
    assert reply is None
    for e in events:
        evolve(state, e)
    return list(events)


def test_an_unknown_station_is_registered_once_and_present() -> None:
    state = State()
    registration, presence = opened(state, 10)
    assert isinstance(registration, StationRegistration) and registration.auto
    assert isinstance(presence, Presence) and presence.epoch == 10 and presence.connected
    (again,) = opened(state, 11)  # the registry view may lag: never register twice
    assert isinstance(again, Presence) and again.epoch == 11
    assert [type(e) for e in opened(State(), 12, auto_register=False)] == [Presence]


def test_a_boot_decides_the_answer_and_the_presence_with_its_status() -> None:
    state = State()
    opened(state, 10, auto_register=False)
    pending = StationRegistration(station_id="CP1", boot_status="Pending")
    reply, events = ROUTES["BootNotification"].decide(state, BOOT, ctx(pending))
    assert reply == BootNotificationResponse(status="Pending", current_time=NOW, interval=30)
    (presence,) = events
    assert isinstance(presence, Presence) and presence.boot_status == "Pending"
    evolve(state, presence)
    _, same = ROUTES["BootNotification"].decide(state, BOOT, ctx(pending))
    assert list(same) == []  # nothing changes
    rejected, older = ROUTES["BootNotification"].decide(state, BOOT, ctx(None, epoch=9))
    assert isinstance(rejected, BootNotificationResponse) and rejected.status == "Rejected"
    assert list(older) == []  # an answer on an older connection leaves presence alone
