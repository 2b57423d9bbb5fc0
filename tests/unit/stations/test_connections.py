"""What a connection's ``opened`` decides (presence, an auto-registration once)."""

from __future__ import annotations

from services.stations.state import State
from shared.events.envelope import Presence, StationRegistration
from tests.unit.stations.builders import opened


def test_an_unknown_station_is_registered_once_and_present() -> None:
    state = State()
    registration, presence = opened(state, 10)
    assert isinstance(registration, StationRegistration) and registration.auto
    assert isinstance(presence, Presence) and presence.epoch == 10 and presence.connected
    (again,) = opened(state, 11)  # the registry view may lag: never register twice
    assert isinstance(again, Presence) and again.epoch == 11
    assert [type(e) for e in opened(State(), 12, auto_register=False)] == [Presence]
