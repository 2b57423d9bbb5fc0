"""What a transactions handler decides with besides its state and the request (the ``deps`` of
shared/decision.py), injected: clock, the frame's position, id tags, reservations.

Its own module so that the handlers and ``routes.py`` (which imports them) do not import each other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from shared.events.idtags import IdTagRecord
from shared.reservations.state import State as Reservations


@dataclass(frozen=True)
class Context:
    now: datetime
    station_id: str
    # Position of the CALL in ocpp.frames: the partition picks the id stripe, the offset dedupes.
    partition: int
    offset: int
    id_tag: Callable[[str], IdTagRecord | None]
    # Reservations as followed from reservations.events: a reserved connector is for its tag only.
    reservations: Reservations = field(default_factory=Reservations)
