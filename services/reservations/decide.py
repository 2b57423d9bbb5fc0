"""What the reservations service concludes from one ``ocpp.frames`` record: pure, deterministic.

Times come from the frame (``at_ms``), never from the clock, so a redelivered frame yields the same
events. Followed: our ReserveNow / CancelReservation CALLs and the station's answers to them (paired
by connection epoch and message id), StartTransaction (a reservation is used by its reservationId,
or on the reserved connector, any for connectorId 0, by a tag it admits: ``Reservation.admits``,
OCPP 1.6 5.13), and
StatusNotification: Reserved confirms a reservation still waiting for its answer, Available on a
reserved connector means the station dropped the reservation.

Both decisions have the one shape (shared/decision.py): ``decide`` for a frame and ``sweep`` for the
clock's expiry pass return ``(None, events)``: the reservations service answers no station.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import msgspec
from msgspec import UNSET

from shared.decision import Decision
from shared.events.envelope import Direction, FrameRecord
from shared.events.frames import frame_of
from shared.events.idtags import IdTagRecord
from shared.ocpp.errors import OcppError
from shared.ocpp.frames import Call, CallError, CallResult
from shared.ocpp.v16 import codec
from shared.ocpp.v16.messages import (
    CancelReservationRequest,
    ReserveNowRequest,
    StartTransactionRequest,
    StatusNotificationRequest,
)
from shared.projection.columns import ms_to_datetime
from shared.reservations.events import (
    ReservationAnswered,
    ReservationCallSent,
    ReservationConfirmed,
    ReservationEnded,
    ReservationEvent,
)
from shared.reservations.state import Reservation, State, same_tag

CALLS = ("ReserveNow", "CancelReservation")
WATCHED = (*CALLS, "StartTransaction", "StatusNotification")

IdTags = Callable[[str], IdTagRecord | None]


@dataclass(frozen=True)
class Context:
    """What ``decide`` reads besides state and frame."""

    # The frame's ocpp.frames partition: its owner expires the reservation.
    partition: int
    id_tags: IdTags


def decide(state: State, record: FrameRecord, ctx: Context) -> Decision[None, ReservationEvent]:
    return None, _decide(state, record, ctx.partition, ctx.id_tags)


def sweep(state: State, now: datetime, owned: set[int]) -> Decision[None, ReservationEnded]:
    """The expiry pass at ``now``: ``ended(expired)`` for every open reservation past its expiryDate
    on a partition this process ``owned``."""
    return None, [expire(reservation) for reservation in state.due(now, owned)]


def _decide(state: State, record: FrameRecord, partition: int, id_tags: IdTags) -> list[ReservationEvent]:
    if record.error_code is not None or record.unique_id is None:
        return []
    if record.message_type in (3, 4):  # an answer: only one to a CALL of ours is of interest
        if (record.station_id, record.epoch, record.unique_id) not in state.pending:
            return []
    elif record.action not in WATCHED:
        return []
    frame = frame_of(record)  # the payload the gateway carried (inbound), else the raw frame
    if frame is None:
        return []
    at = ms_to_datetime(record.at_ms)
    if isinstance(frame, Call):
        try:
            request = codec.decode_request(frame.action, bytes(frame.payload))
        except OcppError:
            return []
        if record.direction is Direction.OUT:
            return _sent(record, request, partition, at)
        if isinstance(request, StartTransactionRequest):
            return _started(state, record.station_id, request, id_tags, at)
        if isinstance(request, StatusNotificationRequest):
            return _status(state, record.station_id, request, at)
        return []
    if record.direction is Direction.IN and isinstance(frame, CallResult | CallError):
        return _answered(state, record, frame, at)
    return []


def _sent(record: FrameRecord, request: object, partition: int, at: datetime) -> list[ReservationEvent]:
    assert record.unique_id is not None
    common = {"station_id": record.station_id, "epoch": record.epoch, "unique_id": record.unique_id}
    if isinstance(request, ReserveNowRequest):
        return [
            ReservationCallSent(
                call="ReserveNow",
                reservation_id=request.reservation_id,
                connector_id=request.connector_id,
                id_tag=request.id_tag,
                parent_id_tag=request.parent_id_tag if request.parent_id_tag is not UNSET else None,
                expiry_date=request.expiry_date,
                partition=partition,
                at=at,
                **common,  # type: ignore[arg-type]
            )
        ]
    if isinstance(request, CancelReservationRequest):
        return [
            ReservationCallSent(
                call="CancelReservation",
                reservation_id=request.reservation_id,
                partition=partition,
                at=at,
                **common,  # type: ignore[arg-type]
            )
        ]
    return []


def _answered(
    state: State, record: FrameRecord, frame: CallResult | CallError, at: datetime
) -> list[ReservationEvent]:
    assert record.unique_id is not None
    pending = state.pending.get((record.station_id, record.epoch, record.unique_id))
    if pending is None:
        return []
    call, rid = pending
    if isinstance(frame, CallError):
        status = f"CALLERROR {frame.error_code}"
    else:
        try:
            payload = msgspec.json.decode(bytes(frame.payload))
        except msgspec.DecodeError:
            payload = None
        raw = payload.get("status") if isinstance(payload, dict) else None
        status = raw if isinstance(raw, str) else "InvalidAnswer"
    events: list[ReservationEvent] = [
        ReservationAnswered(
            call=call,  # type: ignore[arg-type]
            reservation_id=rid,
            station_id=record.station_id,
            epoch=record.epoch,
            unique_id=record.unique_id,
            status=status,
            at=at,
        )
    ]
    reservation = state.reservations.get(rid)
    cancelled = call == "CancelReservation" and status == "Accepted"
    if cancelled and reservation is not None and reservation.status in ("requested", "active"):
        events.append(_end(reservation, "cancelled", "CancelReservation accepted by the station", at))
    return events


def _started(
    state: State, station_id: str, request: StartTransactionRequest, id_tags: IdTags, at: datetime
) -> list[ReservationEvent]:
    """Used: the reservation named by reservationId, else one the starting tag may use there."""
    active = [r for r in state.open_at(station_id) if r.status == "active" and r.expiry_date > at]
    used: Reservation | None = None
    if request.reservation_id is not UNSET:
        used = next((r for r in active if r.reservation_id == request.reservation_id), None)
    if used is None:
        record = id_tags(request.id_tag)
        parent = record.parent_id_tag if record is not None else None
        used = next(
            (
                r
                for r in active
                if r.connector_id in (0, request.connector_id) and r.admits(request.id_tag, parent)
            ),
            None,
        )
    if used is None:
        return []
    how = (
        f"StartTransaction with reservationId {used.reservation_id}"
        if request.reservation_id is not UNSET and request.reservation_id == used.reservation_id
        else "StartTransaction by the reserved idTag"
        + ("" if same_tag(request.id_tag, used.id_tag) else "'s group")
    )
    return [
        ReservationEnded(
            reservation_id=used.reservation_id,
            station_id=station_id,
            status="used",
            reason=how,
            connector_id=request.connector_id,
            id_tag=request.id_tag,
            at=at,
        )
    ]


def _status(
    state: State, station_id: str, request: StatusNotificationRequest, at: datetime
) -> list[ReservationEvent]:
    """Reserved confirms a reservation still waiting for its answer; Available on a connector we hold
    a reservation for means the station no longer keeps it."""
    if request.connector_id == 0:
        return []
    if request.status == "Reserved":
        waiting = [
            r
            for r in state.open_at(station_id)
            if r.status == "requested" and r.connector_id in (request.connector_id, 0)
        ]
        if not waiting:
            return []
        newest = waiting[-1]  # ids grow: the latest ReserveNow is the one the station acts on
        return [
            ReservationConfirmed(
                reservation_id=newest.reservation_id,
                station_id=station_id,
                connector_id=request.connector_id,
                at=at,
            )
        ]
    if request.status != "Available":
        return []
    return [
        _end(r, "expired", "station reported Available after expiryDate", at)
        if r.expiry_date <= at
        else _end(r, "cancelled", "station reported the connector Available", at)
        for r in state.open_at(station_id)
        if r.status == "active" and r.connector_id == request.connector_id
    ]


def _end(reservation: Reservation, status: str, reason: str, at: datetime) -> ReservationEnded:
    return ReservationEnded(
        reservation_id=reservation.reservation_id,
        station_id=reservation.station_id,
        status=status,  # type: ignore[arg-type]
        reason=reason,
        at=at,
    )


def expire(reservation: Reservation) -> ReservationEnded:
    """The service's own expiry at expiryDate (the event carries that time, not the clock's)."""
    return _end(reservation, "expired", "expiryDate passed", reservation.expiry_date)
