"""BootNotification (OCPP 1.6 4.2, 6.3): the answer and the presence it decides, with its status."""

from __future__ import annotations

from services.stations.routes import ROUTES
from services.stations.state import State, evolve
from shared.events.envelope import Presence, StationRegistration
from shared.ocpp.v16.messages import BootNotificationResponse
from tests.unit.stations.builders import BOOT, NOW, ctx, opened


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
