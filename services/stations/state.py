"""The stations service's in-memory state, its events and their pure ``evolve``.

The events are the records the service writes, each the new value of a compacted topic: a station's
``Presence`` (``ocpp.presence``: where it is connected, how its last boot was answered) and an
auto-registration (``csms.stations``). The state is rebuilt from ``ocpp.presence`` at start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.events.envelope import Presence, StationRegistration

StationEvent = Presence | StationRegistration


@dataclass
class State:
    presence: dict[str, Presence] = field(default_factory=dict)
    # Registered by us but maybe not yet read back by the registry view: never register twice.
    auto_registered: set[str] = field(default_factory=set)


def evolve(state: State, event: StationEvent) -> None:
    if isinstance(event, Presence):
        state.presence[event.station_id] = event
    else:
        state.auto_registered.add(event.station_id)
