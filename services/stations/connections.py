"""What the stations service decides from a connection's ``opened`` / ``closed`` record: the
station's new presence and, for an unknown station while auto-registration is on, its registration.

The same decision shape as the station CALLs (shared/decision.py), with no reply.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.stations import presence
from services.stations.state import State, StationEvent
from shared.decision import Decision
from shared.events.envelope import ConnectionClosed, ConnectionOpened, StationRegistration


@dataclass(frozen=True)
class Connection:
    """What the decision reads besides state and record."""

    # Position of the record in ocpp.frames: an ``opened`` record's offset is its connection's epoch.
    offset: int
    auto_register: bool
    registration: StationRegistration | None


def decide(
    state: State, event: ConnectionOpened | ConnectionClosed, deps: Connection
) -> Decision[None, StationEvent]:
    events: list[StationEvent] = []
    station_id = event.station_id
    if (
        isinstance(event, ConnectionOpened)
        and deps.auto_register
        and deps.registration is None
        and station_id not in state.auto_registered
    ):  # an unknown station got in while auto-registration is on: register it (once)
        events.append(StationRegistration(station_id=station_id, auto=True, at_ms=event.at_ms))
    new = presence.evolve(state.presence.get(station_id), event, deps.offset)
    if new is not None:
        events.append(new)
    return None, events
