"""Pure tests of the reservations domain: id allocation, the life cycle decided from frames, expiry,
and the reservation-aware StartTransaction of the transactions service.

No Kafka, no database: frames are built as the gateway logs them and fed to ``decide``; the events it
returns are applied with ``evolve`` (twice, as a service reading its own events back does).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.reservations.decide import Context, decide, expire, sweep
from services.transactions.context import Context as TransactionsContext
from services.transactions.routes import ROUTES
from services.transactions.state import State as TransactionsState
from shared.events.envelope import Direction, FrameRecord, encode
from shared.events.idtags import IdTagRecord
from shared.ocpp.v16.constraints import INT32_MAX
from shared.ocpp.v16.messages import StartTransactionRequest
from shared.reservations.events import ReservationConfirmed, ReservationEnded, ReservationEvent, decode_event
from shared.reservations.state import State, evolve, reservation_id

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
TAGS = {
    "OWNER": IdTagRecord(id_tag="OWNER", status="Accepted", parent_id_tag="GROUP"),
    "SIBLING": IdTagRecord(id_tag="SIBLING", status="Accepted", parent_id_tag="GROUP"),
    "STRANGER": IdTagRecord(id_tag="STRANGER", status="Accepted"),
}


class Log:
    """Frames in, events applied (twice) to one state; ``ms`` is the frame's time offset from T0."""

    def __init__(self) -> None:
        self.state = State()
        self.events: list[ReservationEvent] = []
        self.n = 0

    def frame(
        self,
        direction: Direction,
        message: list[Any],
        *,
        action: str | None = None,
        ms: int = 0,
        epoch: int = 7,
    ) -> list[ReservationEvent]:
        self.n += 1
        record = FrameRecord(
            station_id="CP1",
            gateway_id="gw",
            connection_id="c",
            epoch=epoch,
            direction=direction,
            at_ms=int(T0.timestamp() * 1000) + ms,
            raw=json.dumps(message),
            message_type=message[0],
            unique_id=message[1],
            action=action or (message[2] if message[0] == 2 else None),
        )
        _, decided = decide(self.state, record, Context(3, TAGS.get))
        events = list(decided)
        for e in events:
            evolve(self.state, e)
            evolve(self.state, decode_event(encode(e)))  # type: ignore[arg-type]
        self.events += events
        return events

    def reserve(self, rid: int, connector: int = 1, answer: str = "Accepted", **extra: Any) -> None:
        request = {
            "connectorId": connector,
            "expiryDate": (T0 + timedelta(minutes=10)).isoformat(),
            "idTag": "OWNER",
            "reservationId": rid,
            **extra,
        }
        self.frame(Direction.OUT, [2, f"r{rid}", "ReserveNow", request])
        self.frame(Direction.IN, [3, f"r{rid}", {"status": answer}], action="ReserveNow")

    def start(self, connector: int, tag: str, **extra: Any) -> list[ReservationEvent]:
        request = {
            "connectorId": connector,
            "idTag": tag,
            "meterStart": 0,
            "timestamp": T0.isoformat(),
            **extra,
        }
        return self.frame(Direction.IN, [2, f"s{self.n}", "StartTransaction", request], ms=1000)


def test_reservation_ids_are_positions_unique_and_int32() -> None:
    ids = {reservation_id(p, o, 8) for p in range(8) for o in range(100)}
    assert len(ids) == 800 and min(ids) == 1
    assert reservation_id(7, (INT32_MAX - 8) // 8, 8) <= INT32_MAX
    with pytest.raises(OverflowError):
        reservation_id(7, INT32_MAX // 8, 8)


def test_accepted_reservation_is_active_and_used_by_its_reservation_id() -> None:
    log = Log()
    log.reserve(11)
    r = log.state.reservations[11]
    assert r.status == "active" and r.partition == 3 and r.connector_id == 1
    assert log.state.holding("CP1", 1, T0) == [r] and log.state.holding("CP1", 2, T0) == []
    assert log.state.pending == {}
    assert log.start(2, "STRANGER") == []  # another connector: not this reservation's business
    (used,) = log.start(1, "OWNER", reservationId=11)
    assert isinstance(used, ReservationEnded) and used.status == "used" and used.connector_id == 1
    assert r.status == "used" and log.state.open_at("CP1") == []


def test_reservation_used_by_the_reserved_tag_or_its_group_without_reservation_id() -> None:
    log = Log()
    log.reserve(12, parentIdTag="GROUP")
    assert log.start(1, "STRANGER") == []
    (used,) = log.start(1, "SIBLING")  # a tag of the reservation's group
    assert isinstance(used, ReservationEnded) and used.id_tag == "SIBLING" and "group" in used.reason
    log.reserve(13, connector=2)
    (used,) = log.start(2, "owner")  # IdToken is a CiString: compared case-insensitively
    assert isinstance(used, ReservationEnded) and used.reservation_id == 13 and "group" not in used.reason


@pytest.mark.parametrize("answer", ["Faulted", "Occupied", "Rejected", "Unavailable"])
def test_refused_reservation_holds_nothing(answer: str) -> None:
    log = Log()
    log.reserve(13, answer=answer)
    assert log.state.reservations[13].status == answer.lower()
    assert log.state.holding("CP1", 1, T0) == [] and log.state.open_at("CP1") == []


def test_answers_are_paired_by_epoch_and_message_id() -> None:
    log = Log()
    log.frame(
        Direction.OUT,
        [
            2,
            "x",
            "ReserveNow",
            {"connectorId": 1, "expiryDate": T0.isoformat(), "idTag": "OWNER", "reservationId": 5},
        ],
    )
    assert log.frame(Direction.IN, [3, "x", {"status": "Accepted"}], action="ReserveNow", epoch=8) == []
    assert log.state.reservations[5].status == "requested"
    log.frame(Direction.IN, [4, "x", "NotSupported", "", {}], action="ReserveNow")
    assert log.state.reservations[5].status == "failed"


def test_cancel_accepted_ends_it_rejected_keeps_it() -> None:
    log = Log()
    log.reserve(14)
    log.frame(Direction.OUT, [2, "c1", "CancelReservation", {"reservationId": 14}])
    log.frame(Direction.IN, [3, "c1", {"status": "Rejected"}], action="CancelReservation")
    assert log.state.reservations[14].status == "active"
    log.frame(Direction.OUT, [2, "c2", "CancelReservation", {"reservationId": 14}])
    events = log.frame(Direction.IN, [3, "c2", {"status": "Accepted"}], action="CancelReservation")
    assert [type(e).__name__ for e in events] == ["ReservationAnswered", "ReservationEnded"]
    assert log.state.reservations[14].status == "cancelled"
    assert log.start(1, "OWNER", reservationId=14) == []  # ended: never used afterwards


def test_status_available_ends_a_reservation_the_station_dropped() -> None:
    log = Log()
    log.reserve(15)
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Reserved"}
    assert log.frame(Direction.IN, [2, "n1", "StatusNotification", status]) == []
    (ended,) = log.frame(Direction.IN, [2, "n2", "StatusNotification", {**status, "status": "Available"}])
    assert isinstance(ended, ReservationEnded) and ended.status == "cancelled"
    log.reserve(16)
    late = 11 * 60 * 1000
    (ended,) = log.frame(
        Direction.IN, [2, "n3", "StatusNotification", {**status, "status": "Available"}], ms=late
    )
    assert isinstance(ended, ReservationEnded) and ended.status == "expired"


def test_status_reserved_confirms_a_reservation_whose_answer_was_lost() -> None:
    log = Log()
    request = {
        "connectorId": 2,
        "expiryDate": (T0 + timedelta(minutes=10)).isoformat(),
        "idTag": "OWNER",
        "reservationId": 17,
    }
    log.frame(Direction.OUT, [2, "r17", "ReserveNow", request])  # the answer never comes
    assert log.state.reservations[17].status == "requested"
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Reserved"}
    assert log.frame(Direction.IN, [2, "n1", "StatusNotification", status]) == []  # another connector
    (confirmed,) = log.frame(Direction.IN, [2, "n2", "StatusNotification", {**status, "connectorId": 2}])
    assert isinstance(confirmed, ReservationConfirmed) and confirmed.reservation_id == 17
    assert log.state.reservations[17].status == "active"
    assert start_verdict(log.state, "STRANGER", connector=2) == "Invalid"  # it holds the connector now
    # Reported again (a station's retry): nothing new.
    assert log.frame(Direction.IN, [2, "n3", "StatusNotification", {**status, "connectorId": 2}]) == []


def test_expiry_is_due_only_for_owned_partitions_and_dated_at_expiry() -> None:
    log = Log()
    log.reserve(17)
    expiry = T0 + timedelta(minutes=10)
    assert log.state.due(expiry - timedelta(seconds=1), {3}) == []
    assert log.state.due(expiry, {0, 1}) == []
    (due,) = log.state.due(expiry, {3})
    event = expire(due)
    assert event.status == "expired" and event.at == expiry
    evolve(log.state, event)
    evolve(log.state, event)
    assert log.state.reservations[17].status == "expired" and log.state.due(expiry, {3}) == []
    # The first end wins: a later "used" changes nothing.
    evolve(
        log.state, ReservationEnded(reservation_id=17, station_id="CP1", status="used", reason="", at=expiry)
    )
    assert log.state.reservations[17].status == "expired"


def test_the_sweep_decides_the_expiries_of_owned_partitions_only() -> None:
    log = Log()
    log.reserve(17)
    expiry = T0 + timedelta(minutes=10)
    assert sweep(log.state, expiry, {0, 1}) == (None, [])
    reply, (event,) = sweep(log.state, expiry, {3})
    assert reply is None and event == expire(log.state.reservations[17])


def test_rebuilt_from_events_alone() -> None:
    """A restart: the events (not the frames) rebuild the same open reservations and pending calls."""
    log = Log()
    log.reserve(18)
    log.reserve(19)
    log.start(1, "OWNER", reservationId=18)
    log.frame(Direction.OUT, [2, "c9", "CancelReservation", {"reservationId": 19}])
    rebuilt = State()
    for e in log.events:
        evolve(rebuilt, decode_event(encode(e)))  # type: ignore[arg-type]
    assert {k: v.status for k, v in rebuilt.reservations.items()} == {18: "used", 19: "active"}
    assert rebuilt.pending == {("CP1", 7, "c9"): ("CancelReservation", 19)}


def start_verdict(reservations: State, tag: str, connector: int = 1, **extra: Any) -> str:
    ctx = TransactionsContext(
        now=T0,
        station_id="CP1",
        partition=0,
        offset=1,
        id_tag=TAGS.get,
        reservations=reservations,
    )
    request = StartTransactionRequest(
        connector_id=connector, id_tag=tag, meter_start=0, timestamp=T0, **extra
    )
    response, _ = ROUTES["StartTransaction"].decide(TransactionsState(partitions=8), request, ctx)
    status: str = response.id_tag_info.status  # type: ignore[attr-defined]
    return status


def test_start_on_a_reserved_connector_is_for_its_tag_and_group_only() -> None:
    log = Log()
    log.reserve(20, parentIdTag="GROUP")
    assert start_verdict(log.state, "STRANGER") == "Invalid"
    assert start_verdict(log.state, "STRANGER", connector=2) == "Accepted"
    assert start_verdict(log.state, "OWNER", reservation_id=20) == "Accepted"
    assert start_verdict(log.state, "SIBLING") == "Accepted"
    assert start_verdict(log.state, "UNKNOWN") == "Invalid"


def test_a_whole_station_reservation_does_not_block_other_tags_unless_named() -> None:
    log = Log()
    log.reserve(21, connector=0)
    assert start_verdict(log.state, "STRANGER") == "Accepted"
    assert start_verdict(log.state, "STRANGER", reservation_id=21) == "Invalid"


def test_an_expired_reservation_blocks_nobody_before_its_event_arrives() -> None:
    log = Log()
    log.reserve(22)
    assert start_verdict(log.state, "STRANGER") == "Invalid"
    later = TransactionsContext(
        now=T0 + timedelta(minutes=11),
        station_id="CP1",
        partition=0,
        offset=1,
        id_tag=TAGS.get,
        reservations=log.state,
    )
    request = StartTransactionRequest(connector_id=1, id_tag="STRANGER", meter_start=0, timestamp=T0)
    response, _ = ROUTES["StartTransaction"].decide(TransactionsState(partitions=8), request, later)
    assert response.id_tag_info.status == "Accepted"  # type: ignore[attr-defined]
