"""Events on ``reservations.events`` (key = station id, same partition count as ``ocpp.frames``).

``allocated`` is written by whoever asks for a reservation (the operator API) before the ReserveNow
is sent: the record's position in the log *is* the reservation id (ADR 0011). Everything else is
written by the reservations service from what it read in ``ocpp.frames``: the ReserveNow and
CancelReservation CALLs actually sent, the station's answers, and how a reservation ended.
Versioned by ``v``; readers ignore types they do not know.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from shared.events.versioned import Family, VersionedDecoder

# The service whose topic these events are on: ``reservations.events`` (Topics.domain(SERVICE)).
SERVICE = "reservations"

Call = Literal["ReserveNow", "CancelReservation"]
EndStatus = Literal["used", "cancelled", "expired"]


class ReservationAllocated(
    msgspec.Struct, tag="allocated", tag_field="type", kw_only=True, omit_defaults=True
):
    """A reservation id was taken: ``id = offset * partitions + partition + 1`` of this very record."""

    v: int = 1
    station_id: str
    at: datetime


class ReservationCallSent(msgspec.Struct, tag="sent", tag_field="type", kw_only=True, omit_defaults=True):
    """A ReserveNow or CancelReservation CALL went out (connection ``epoch``, message ``unique_id``)."""

    v: int = 1
    call: Call
    reservation_id: int
    station_id: str
    epoch: int
    unique_id: str
    # ReserveNow only: what was asked of the station.
    connector_id: int | None = None
    id_tag: str | None = None
    parent_id_tag: str | None = None
    expiry_date: datetime | None = None
    # The ocpp.frames partition of the station: whoever owns it expires the station's reservations.
    partition: int
    at: datetime


class ReservationAnswered(msgspec.Struct, tag="answered", tag_field="type", kw_only=True, omit_defaults=True):
    """The station's answer to a ReserveNow / CancelReservation (or ``CALLERROR <code>``)."""

    v: int = 1
    call: Call
    reservation_id: int
    station_id: str
    epoch: int
    unique_id: str
    status: str
    at: datetime


class ReservationEnded(msgspec.Struct, tag="ended", tag_field="type", kw_only=True, omit_defaults=True):
    """An active reservation is over: used by a start, cancelled, or expired. The first end wins."""

    v: int = 1
    reservation_id: int
    station_id: str
    status: EndStatus
    reason: str
    connector_id: int | None = None
    id_tag: str | None = None
    at: datetime


class ReservationConfirmed(
    msgspec.Struct, tag="confirmed", tag_field="type", kw_only=True, omit_defaults=True
):
    """The station reported the connector Reserved while the reservation still waited for its answer
    (the ReserveNow answer was lost, or the station reported first): it is active."""

    v: int = 1
    reservation_id: int
    station_id: str
    connector_id: int
    at: datetime


ReservationEvent = (
    ReservationAllocated | ReservationCallSent | ReservationAnswered | ReservationConfirmed | ReservationEnded
)
RESERVATIONS = Family("reservations.events")
_decoder: VersionedDecoder[ReservationEvent] = VersionedDecoder(RESERVATIONS, ReservationEvent)


def decode_event(data: bytes) -> ReservationEvent | None:
    """``None`` for a record type this version does not know (a newer writer); raises
    UndecodableRecord for one no version reads."""
    return _decoder.decode_known(data)
