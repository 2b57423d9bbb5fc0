"""Reservations in memory, their pure ``evolve``, and the queries authorization needs.

Rebuilt from ``reservations.events`` from the beginning (the reservations service, and the
transactions service to authorize). ``evolve`` is idempotent: a process reads back the events it
produced itself, and applying one twice changes nothing (the first end of a reservation wins).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.ocpp.v16.constraints import INT32_MAX
from shared.reservations.events import (
    ReservationAllocated,
    ReservationAnswered,
    ReservationCallSent,
    ReservationConfirmed,
    ReservationEvent,
)

# Statuses a reservation can have; "requested" and "active" are the open ones.
OPEN = ("requested", "active")
ANSWER_STATUS = {
    "Accepted": "active",
    "Faulted": "faulted",
    "Occupied": "occupied",
    "Rejected": "rejected",
    "Unavailable": "unavailable",
}
STATUSES = ("allocated", *OPEN, *ANSWER_STATUS.values(), "failed", "used", "cancelled", "expired")


def reservation_id(partition: int, offset: int, partitions: int) -> int:
    """The id an ``allocated`` record at (partition, offset) stands for: unique, never reused, int32."""
    rid = offset * partitions + partition + 1
    if rid > INT32_MAX:
        raise OverflowError(f"reservation ids of partition {partition} are exhausted")
    return rid


def status_of_answer(answer: str) -> str:
    """The reservation status a ReserveNow answer leads to (a CALLERROR: failed)."""
    return ANSWER_STATUS.get(answer, "failed")


def same_tag(a: str | None, b: str | None) -> bool:
    """IdToken is CiString20: compared case-insensitively."""
    return a is not None and b is not None and a.casefold() == b.casefold()


@dataclass
class Reservation:
    reservation_id: int
    station_id: str
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expiry_date: datetime
    # The station's ocpp.frames partition: its owner expires the reservation.
    partition: int
    status: str = "requested"

    def holds(self, connector_id: int, now: datetime) -> bool:
        """Active and not past its expiry, on ``connector_id`` (a connector-0 one holds the station)."""
        return (
            self.status == "active"
            and self.expiry_date > now
            and (self.connector_id == connector_id or self.connector_id == 0)
        )

    def admits(self, id_tag: str, parent_id_tag: str | None) -> bool:
        """May a tag (with its own parentIdTag) charge on what this reservation holds? See ``admitted``."""
        return admitted(id_tag, parent_id_tag, self.id_tag, self.parent_id_tag)


def admitted(id_tag: str, parent_id_tag: str | None, reserved: str, reserved_parent: str | None) -> bool:
    """OCPP 1.6 5.13: charging is refused "except when the incoming idTag or the parent idTag match the
    idTag or parent idTag of the reservation": any of the incoming pair equal to any of the reserved
    pair. So the reserved tag, the group's parent tag itself, any other tag of that group, and (for a
    reservation made for a parent tag) its children; an absent parentIdTag matches nothing.
    """
    return any(same_tag(a, b) for a in (id_tag, parent_id_tag) for b in (reserved, reserved_parent))


PendingKey = tuple[str, int, str]  # station, connection epoch, message id


@dataclass
class State:
    reservations: dict[int, Reservation] = field(default_factory=dict)
    # Open reservation ids per station (requested or active).
    open_by_station: dict[str, set[int]] = field(default_factory=dict)
    # CALLs sent and not answered yet: (station, epoch, unique id) -> (action, reservation id)
    pending: dict[PendingKey, tuple[str, int]] = field(default_factory=dict)

    def open_at(self, station_id: str) -> list[Reservation]:
        return [self.reservations[r] for r in sorted(self.open_by_station.get(station_id, ()))]

    def holding(self, station_id: str, connector_id: int, now: datetime) -> list[Reservation]:
        """Active reservations that hold ``connector_id`` of the station at ``now``."""
        return [r for r in self.open_at(station_id) if r.holds(connector_id, now)]

    def due(self, now: datetime, owned: set[int]) -> list[Reservation]:
        """Open reservations past their expiryDate, of stations whose partition this process owns."""
        return [
            r
            for ids in self.open_by_station.values()
            for r in (self.reservations[i] for i in ids)
            if r.expiry_date <= now and r.partition in owned
        ]


def evolve(state: State, event: ReservationEvent) -> None:
    if isinstance(event, ReservationAllocated):
        return  # only its position matters (the id); the reservation exists once sent
    if isinstance(event, ReservationCallSent):
        state.pending[(event.station_id, event.epoch, event.unique_id)] = (event.call, event.reservation_id)
        if event.call != "ReserveNow":
            return
        assert event.connector_id is not None and event.id_tag is not None and event.expiry_date is not None
        existing = state.reservations.get(event.reservation_id)
        if existing is not None and existing.status not in OPEN:
            return  # ids are never reused: a terminal reservation stays terminal
        state.reservations[event.reservation_id] = Reservation(
            reservation_id=event.reservation_id,
            station_id=event.station_id,
            connector_id=event.connector_id,
            id_tag=event.id_tag,
            parent_id_tag=event.parent_id_tag,
            expiry_date=event.expiry_date,
            partition=event.partition,
            # A ReserveNow for an active reservation replaces its details; it stays active.
            status=existing.status if existing is not None else "requested",
        )
        state.open_by_station.setdefault(event.station_id, set()).add(event.reservation_id)
    elif isinstance(event, ReservationAnswered):
        state.pending.pop((event.station_id, event.epoch, event.unique_id), None)
        reservation = state.reservations.get(event.reservation_id)
        if event.call == "ReserveNow" and reservation is not None and reservation.status == "requested":
            reservation.status = status_of_answer(event.status)
            if reservation.status not in OPEN:
                _close(state, reservation)
    elif isinstance(event, ReservationConfirmed):
        reservation = state.reservations.get(event.reservation_id)
        if reservation is not None and reservation.status == "requested":
            reservation.status = "active"
    else:
        reservation = state.reservations.get(event.reservation_id)
        if reservation is not None and reservation.status in OPEN:
            reservation.status = event.status
            _close(state, reservation)


def _close(state: State, reservation: Reservation) -> None:
    ids = state.open_by_station.get(reservation.station_id)
    if ids is not None:
        ids.discard(reservation.reservation_id)
        if not ids:
            del state.open_by_station[reservation.station_id]
