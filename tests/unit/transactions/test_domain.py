"""Pure tests of the transactions domain: id striping, evolve, authorization and the four handlers.

No Kafka, no database: a ``Station`` helper plays the service's part (builds the ``Context`` with a
fixed clock and the frame's position, calls the route, applies the events it returns with ``evolve``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from msgspec import UNSET

from services.transactions.context import Context
from services.transactions.events import TransactionEvent, TransactionStarted, TransactionStopped
from services.transactions.routes import ROUTES
from services.transactions.state import RECENT_STARTS, State, evolve, start_key
from shared.events.idtags import IdTagRecord, id_tag_info
from shared.ocpp.v16.constraints import INT32_MAX
from shared.ocpp.v16.messages import (
    AuthorizeRequest,
    AuthorizeResponse,
    MeterValue,
    MeterValuesRequest,
    MeterValuesResponse,
    SampledValue,
    StartTransactionRequest,
    StartTransactionResponse,
    StopTransactionRequest,
    StopTransactionResponse,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PARTITIONS = 4

TAGS: dict[str, IdTagRecord] = {
    "GOOD": IdTagRecord(id_tag="GOOD", status="Accepted"),
    "OTHER": IdTagRecord(id_tag="OTHER", status="Accepted"),
    "CHILD": IdTagRecord(
        id_tag="CHILD", status="Accepted", expiry_date=NOW + timedelta(days=30), parent_id_tag="PARENT"
    ),
    "OLD": IdTagRecord(id_tag="OLD", status="Accepted", expiry_date=NOW - timedelta(seconds=1)),
    "BLOCKED": IdTagRecord(id_tag="BLOCKED", status="Blocked"),
}


@dataclass
class System:
    """The service's loop without Kafka: one state, frame offsets per partition, the event log."""

    partitions: int = PARTITIONS
    tags: dict[str, IdTagRecord] = field(default_factory=lambda: dict(TAGS))
    state: State = field(init=False)
    offsets: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    log: list[TransactionEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = State(partitions=self.partitions)

    def call(
        self, action: str, request: msgspec.Struct, *, station: str = "CP1", partition: int = 0
    ) -> tuple[msgspec.Struct, list[TransactionEvent]]:
        offset = self.offsets[partition]
        self.offsets[partition] += 1
        ctx = Context(
            now=NOW,
            station_id=station,
            partition=partition,
            offset=offset,
            id_tag=self.tags.get,
        )
        response, decided = ROUTES[action].decide(self.state, request, ctx)
        events = list(decided)
        for event in events:
            evolve(self.state, event)
        self.log.extend(events)
        return response, events

    def start(
        self,
        id_tag: str = "GOOD",
        *,
        connector: int = 1,
        meter_start: int = 1000,
        timestamp: datetime = NOW,
        station: str = "CP1",
        partition: int = 0,
    ) -> tuple[StartTransactionResponse, list[TransactionEvent]]:
        request = StartTransactionRequest(
            connector_id=connector, id_tag=id_tag, meter_start=meter_start, timestamp=timestamp
        )
        response, events = self.call("StartTransaction", request, station=station, partition=partition)
        assert isinstance(response, StartTransactionResponse)
        return response, events

    def stop(
        self,
        transaction_id: int,
        *,
        meter_stop: int = 2000,
        id_tag: str | None = None,
        station: str = "CP1",
        partition: int = 0,
    ) -> tuple[StopTransactionResponse, list[TransactionEvent]]:
        request = StopTransactionRequest(
            meter_stop=meter_stop,
            timestamp=NOW + timedelta(hours=1),
            transaction_id=transaction_id,
            id_tag=id_tag if id_tag is not None else UNSET,
        )
        response, events = self.call("StopTransaction", request, station=station, partition=partition)
        assert isinstance(response, StopTransactionResponse)
        return response, events

    def authorize(self, id_tag: str, *, station: str = "CP1") -> AuthorizeResponse:
        response, events = self.call("Authorize", AuthorizeRequest(id_tag=id_tag), station=station)
        assert isinstance(response, AuthorizeResponse)
        assert events == []
        return response


def only_stopped(events: list[TransactionEvent]) -> TransactionStopped:
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, TransactionStopped)
    return event


def started(
    tx: int,
    *,
    partition: int = 0,
    offset: int,
    station: str = "CP1",
    connector: int = 1,
    id_tag: str = "GOOD",
) -> TransactionStarted:
    return TransactionStarted(
        transaction_id=tx,
        partition=partition,
        station_id=station,
        connector_id=connector,
        id_tag=id_tag,
        meter_start=0,
        started_at=NOW,
        id_tag_status="Accepted",
        frame_offset=offset,
    )


# --- State: id striping, evolve, is_known, allocate ---------------------------------------------


def test_fresh_state_allocates_the_first_id_of_each_stripe() -> None:
    state = State(partitions=PARTITIONS)
    assert [state.allocate(p) for p in range(PARTITIONS)] == [1, 2, 3, 4]


def test_ids_of_different_partitions_never_collide_and_follow_the_stripe() -> None:
    system = System()
    per_partition: dict[int, list[int]] = {}
    for partition in range(PARTITIONS):
        ids = []
        for n in range(5):
            response, events = system.start(connector=n + 1, station=f"CP-{partition}", partition=partition)
            assert len(events) == 1
            ids.append(response.transaction_id)
        per_partition[partition] = ids

    for partition, ids in per_partition.items():
        assert ids == [seq * PARTITIONS + partition + 1 for seq in range(5)]
        assert all((tx - 1) % PARTITIONS == partition for tx in ids)
    every_id = [tx for ids in per_partition.values() for tx in ids]
    assert len(set(every_id)) == len(every_id) == 5 * PARTITIONS
    # The next id of each stripe continues after the ones handed out.
    assert [system.state.allocate(p) for p in range(PARTITIONS)] == [
        5 * PARTITIONS + p + 1 for p in range(PARTITIONS)
    ]


def test_allocate_does_not_record_the_id_evolve_does() -> None:
    state = State(partitions=PARTITIONS)
    assert state.allocate(2) == state.allocate(2) == 3
    assert not state.is_known(3)


def test_allocate_after_started_events_returns_the_next_id_of_that_stripe() -> None:
    state = State(partitions=PARTITIONS)
    for offset, tx in enumerate([2, 6, 10]):  # partition 1, seq 0..2
        evolve(state, started(tx, partition=1, offset=offset, connector=offset + 1))
    assert state.allocate(1) == 14
    # Other stripes are untouched.
    assert state.allocate(0) == 1
    assert state.allocate(3) == 4


def test_allocate_continues_after_the_highest_id_seen_even_with_gaps() -> None:
    state = State(partitions=PARTITIONS)
    evolve(state, started(4 * 7 + 3, partition=2, offset=0))  # seq 7 of partition 2
    evolve(state, started(3, partition=2, offset=1, connector=2))  # seq 0, later in the log
    assert state.allocate(2) == 8 * 4 + 3


def test_rebuilt_state_replaying_each_event_twice_allocates_the_same_next_id() -> None:
    system = System()
    first, _ = system.start("GOOD", connector=1, partition=1)
    second, _ = system.start("OTHER", connector=2, partition=1)
    system.stop(first.transaction_id, partition=1)
    system.start("CHILD", connector=3, station="CP2", partition=3)
    assert len(system.log) == 4

    rebuilt = State(partitions=PARTITIONS)
    for event in system.log:
        evolve(rebuilt, event)
        evolve(rebuilt, event)  # a process sees its own events twice
    for event in system.log:  # and a whole replay again changes nothing
        evolve(rebuilt, event)

    for partition in range(PARTITIONS):
        assert rebuilt.allocate(partition) == system.state.allocate(partition)
    assert rebuilt.allocate(1) == 10
    assert rebuilt.next_seq == system.state.next_seq
    assert rebuilt.active == system.state.active
    assert set(rebuilt.active) == {second.transaction_id, 4}
    assert dict(rebuilt.by_tag) == dict(system.state.by_tag) == {"OTHER": {6}, "CHILD": {4}}
    assert rebuilt.applied == system.state.applied


def test_evolve_applied_twice_is_idempotent_for_a_stop() -> None:
    state = State(partitions=PARTITIONS)
    evolve(state, started(1, offset=0))
    stop = TransactionStopped(
        transaction_id=1,
        partition=0,
        station_id="CP1",
        known=True,
        meter_stop=5,
        stopped_at=NOW,
        frame_offset=1,
    )
    evolve(state, stop)
    evolve(state, stop)
    assert state.active == {}
    assert "GOOD" not in state.by_tag
    assert state.is_known(1)
    assert state.allocate(0) == 5


def test_evolve_skips_an_event_at_or_before_the_applied_offset_of_its_partition() -> None:
    state = State(partitions=PARTITIONS)
    evolve(state, started(1, partition=0, offset=10))
    evolve(state, started(5, partition=0, offset=10, connector=2))  # same frame: already applied
    evolve(state, started(9, partition=0, offset=3, connector=3))  # older frame
    assert set(state.active) == {1}
    assert state.allocate(0) == 5
    # The offsets of another partition are tracked separately.
    evolve(state, started(2, partition=1, offset=3, connector=4))
    assert set(state.active) == {1, 2}


def test_is_known_is_false_for_zero_and_negative_ids() -> None:
    state = State(partitions=PARTITIONS, next_seq=dict.fromkeys(range(PARTITIONS), 100))
    for tx in (0, -1, -2, -5, -(2**31)):
        assert not state.is_known(tx)
    assert state.is_known(1)


def test_is_known_follows_each_stripe_sequence() -> None:
    state = State(partitions=PARTITIONS)
    evolve(state, started(6, partition=1, offset=0))  # seq 1 of partition 1
    assert state.is_known(2) and state.is_known(6)  # seq 0 and 1 of partition 1
    assert not state.is_known(10)  # seq 2 of partition 1: not handed out yet
    assert not state.is_known(1)  # partition 0: nothing handed out
    assert not state.is_known(3) and not state.is_known(4)


def test_allocate_raises_overflow_past_int32() -> None:
    last_seq = (INT32_MAX - 3) // PARTITIONS  # id of partition 2 at this seq is exactly INT32_MAX
    state = State(partitions=PARTITIONS, next_seq={2: last_seq, 3: last_seq})
    assert state.allocate(2) == INT32_MAX
    with pytest.raises(OverflowError):
        state.allocate(3)  # INT32_MAX + 1
    state.next_seq[2] = last_seq + 1
    with pytest.raises(OverflowError):
        state.allocate(2)


def test_start_key_normalises_the_timestamp_to_utc() -> None:
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    assert start_key(1, "GOOD", plus_two, 10) == start_key(1, "GOOD", NOW, 10)
    assert start_key(1, "GOOD", NOW, 10) != start_key(2, "GOOD", NOW, 10)
    assert start_key(1, "GOOD", NOW, 10) != start_key(1, "GOOD", NOW, 11)
    assert start_key(1, "GOOD", NOW, 10) != start_key(1, "GOOD", NOW + timedelta(seconds=1), 10)


# --- authorization.id_tag_info ----------------------------------------------------------------


def test_unknown_tag_is_invalid() -> None:
    info = id_tag_info(None, NOW)
    assert info.status == "Invalid"
    assert info.expiry_date is UNSET and info.parent_id_tag is UNSET


def test_accepted_tag_past_its_expiry_is_expired() -> None:
    assert id_tag_info(TAGS["OLD"], NOW).status == "Expired"
    at_expiry = IdTagRecord(id_tag="X", status="Accepted", expiry_date=NOW)
    assert id_tag_info(at_expiry, NOW).status == "Expired"
    # Expired wins over ConcurrentTx: the tag is no longer valid at all.
    assert id_tag_info(TAGS["OLD"], NOW, charging_elsewhere=True).status == "Expired"


def test_accepted_tag_charging_elsewhere_is_concurrent() -> None:
    assert id_tag_info(TAGS["GOOD"], NOW).status == "Accepted"
    assert id_tag_info(TAGS["GOOD"], NOW, charging_elsewhere=True).status == "ConcurrentTx"
    # Only an Accepted tag can become ConcurrentTx.
    assert id_tag_info(TAGS["BLOCKED"], NOW, charging_elsewhere=True).status == "Blocked"


def test_parent_id_tag_and_expiry_date_are_passed_through() -> None:
    info = id_tag_info(TAGS["CHILD"], NOW)
    assert info.status == "Accepted"
    assert info.expiry_date == NOW + timedelta(days=30)
    assert info.parent_id_tag == "PARENT"
    expired = id_tag_info(TAGS["OLD"], NOW)
    assert expired.expiry_date == NOW - timedelta(seconds=1)
    assert expired.parent_id_tag is UNSET
    plain = id_tag_info(TAGS["GOOD"], NOW)
    assert plain.expiry_date is UNSET and plain.parent_id_tag is UNSET


def test_operator_status_other_than_accepted_is_kept() -> None:
    for status in ("Blocked", "Expired", "Invalid"):
        record = IdTagRecord(id_tag="T", status=status)
        assert id_tag_info(record, NOW).status == status


# --- StartTransaction ---------------------------------------------------------------------------


def test_start_transaction_emits_started_event_with_the_decision() -> None:
    system = System()
    response, events = system.start("CHILD", connector=2, meter_start=123, partition=2)
    assert response.transaction_id == 3
    assert response.id_tag_info.status == "Accepted"
    assert response.id_tag_info.parent_id_tag == "PARENT"
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, TransactionStarted)
    assert event.transaction_id == 3
    assert event.partition == 2
    assert event.station_id == "CP1"
    assert event.connector_id == 2
    assert event.id_tag == "CHILD"
    assert event.meter_start == 123
    assert event.started_at == NOW
    assert event.id_tag_status == "Accepted"
    assert event.parent_id_tag == "PARENT"
    assert event.reservation_id is None
    assert event.frame_offset == 0
    assert system.state.is_known(3)
    assert system.state.active[3].station_id == "CP1"


def test_repeated_start_returns_the_same_id_and_status_without_an_event() -> None:
    system = System()
    first, events = system.start("GOOD", connector=1, meter_start=500)
    assert len(events) == 1
    retry, retry_events = system.start("GOOD", connector=1, meter_start=500)
    assert retry_events == []
    assert retry.transaction_id == first.transaction_id
    assert retry.id_tag_info.status == first.id_tag_info.status == "Accepted"
    # The same instant written in another time zone is the same start.
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    again, again_events = system.start("GOOD", connector=1, meter_start=500, timestamp=plus_two)
    assert again_events == []
    assert again.transaction_id == first.transaction_id
    assert system.state.allocate(0) == 5  # only one id was consumed


def test_repeated_start_keeps_the_first_status_even_if_the_tag_changed() -> None:
    system = System()
    first, _ = system.start("GOOD")
    system.tags["GOOD"] = IdTagRecord(id_tag="GOOD", status="Blocked")
    retry, events = system.start("GOOD")
    assert events == []
    assert retry.transaction_id == first.transaction_id
    assert retry.id_tag_info.status == "Accepted"


def test_repeated_concurrent_start_answers_concurrent_again() -> None:
    system = System()
    system.start("GOOD", station="CP1")
    first, _ = system.start("GOOD", station="CP2")
    assert first.id_tag_info.status == "ConcurrentTx"
    retry, events = system.start("GOOD", station="CP2")
    assert events == []
    assert retry.transaction_id == first.transaction_id
    assert retry.id_tag_info.status == "ConcurrentTx"


def test_a_different_start_gets_a_new_id() -> None:
    system = System()
    first, _ = system.start("GOOD", connector=1, meter_start=500)
    for kwargs in (
        {"meter_start": 501},
        {"timestamp": NOW + timedelta(seconds=1)},
    ):
        response, events = system.start("GOOD", connector=1, **kwargs)
        assert len(events) == 1
        assert response.transaction_id != first.transaction_id
    # The same start data from another station is another transaction.
    other, events = system.start("GOOD", connector=1, meter_start=500, station="CP9")
    assert len(events) == 1
    assert other.transaction_id != first.transaction_id


def test_the_most_recent_starts_of_a_station_are_recognised() -> None:
    system = System()
    ids = [system.start("GOOD", meter_start=m)[0].transaction_id for m in range(RECENT_STARTS)]
    for m, tx in enumerate(ids):
        retry, events = system.start("GOOD", meter_start=m)
        assert events == []
        assert retry.transaction_id == tx


def test_start_with_unknown_tag_gets_a_positive_id_and_invalid() -> None:
    system = System()
    response, events = system.start("NOBODY", partition=1)
    assert response.transaction_id > 0
    assert response.transaction_id == 2
    assert response.id_tag_info.status == "Invalid"
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, TransactionStarted)
    assert event.id_tag_status == "Invalid"
    assert event.parent_id_tag is None
    assert system.state.is_known(2)


def test_start_with_blocked_or_expired_tag_still_gets_an_id() -> None:
    system = System()
    blocked, _ = system.start("BLOCKED", connector=1)
    expired, _ = system.start("OLD", connector=2)
    assert blocked.id_tag_info.status == "Blocked"
    assert expired.id_tag_info.status == "Expired"
    assert {blocked.transaction_id, expired.transaction_id} == {1, 5}


def test_start_with_a_tag_active_on_another_station_is_concurrent() -> None:
    system = System()
    system.start("GOOD", station="CP1", connector=1)
    response, events = system.start("GOOD", station="CP2", connector=1)
    assert response.id_tag_info.status == "ConcurrentTx"
    assert response.transaction_id > 0
    assert len(events) == 1 and isinstance(events[0], TransactionStarted)
    assert events[0].id_tag_status == "ConcurrentTx"


def test_start_with_a_tag_active_on_another_connector_is_concurrent() -> None:
    system = System()
    system.start("GOOD", connector=1)
    response, _ = system.start("GOOD", connector=2, meter_start=7)
    assert response.id_tag_info.status == "ConcurrentTx"


def test_start_on_the_same_connector_is_not_concurrent() -> None:
    system = System()
    system.start("GOOD", connector=1, meter_start=1)
    response, events = system.start("GOOD", connector=1, meter_start=2)
    assert len(events) == 1
    assert response.id_tag_info.status == "Accepted"


def test_start_after_the_other_transaction_stopped_is_accepted() -> None:
    system = System()
    first, _ = system.start("GOOD", station="CP1")
    system.stop(first.transaction_id, station="CP1")
    response, _ = system.start("GOOD", station="CP2")
    assert response.id_tag_info.status == "Accepted"


def test_start_of_another_tag_is_not_concurrent() -> None:
    system = System()
    system.start("GOOD", station="CP1")
    response, _ = system.start("OTHER", station="CP2")
    assert response.id_tag_info.status == "Accepted"


def test_start_passes_the_reservation_id_to_the_event() -> None:
    system = System()
    request = StartTransactionRequest(
        connector_id=1, id_tag="GOOD", meter_start=0, timestamp=NOW, reservation_id=42
    )
    _, events = system.call("StartTransaction", request)
    assert len(events) == 1 and isinstance(events[0], TransactionStarted)
    assert events[0].reservation_id == 42


def test_start_overflow_propagates_when_the_stripe_is_exhausted() -> None:
    system = System()
    system.state.next_seq[3] = (INT32_MAX - 3) // PARTITIONS  # next id of stripe 3 is 2**31
    with pytest.raises(OverflowError):
        system.start("GOOD", partition=3)


# --- StopTransaction ----------------------------------------------------------------------------


@pytest.mark.parametrize("transaction_id", [0, -1, 999, 1])
def test_stop_of_an_unknown_id_is_recorded_as_not_known(transaction_id: int) -> None:
    system = System()  # nothing started: even 1 was never handed out
    response, events = system.stop(transaction_id, meter_stop=42)
    assert response == StopTransactionResponse()
    assert response.id_tag_info is UNSET
    event = only_stopped(events)
    assert event.known is False
    assert event.transaction_id == transaction_id
    assert event.meter_stop == 42
    assert event.station_id == "CP1"
    assert event.anomaly is None
    assert event.frame_offset == 0


def test_stop_of_an_active_transaction_ends_it() -> None:
    system = System()
    start, _ = system.start("GOOD", meter_start=1000)
    request = StopTransactionRequest(
        meter_stop=2500,
        timestamp=NOW + timedelta(hours=2),
        transaction_id=start.transaction_id,
        reason="Local",
    )
    response, events = system.call("StopTransaction", request)
    assert response == StopTransactionResponse()
    event = only_stopped(events)
    assert event.known is True
    assert event.transaction_id == start.transaction_id
    assert event.meter_stop == 2500
    assert event.stopped_at == NOW + timedelta(hours=2)
    assert event.reason == "Local"
    assert event.id_tag is None
    assert event.anomaly is None
    assert event.frame_offset == 1
    assert start.transaction_id not in system.state.active
    assert "GOOD" not in system.state.by_tag


def test_stop_of_an_already_stopped_transaction_produces_no_event() -> None:
    system = System()
    start, _ = system.start("GOOD")
    _, first = system.stop(start.transaction_id)
    assert len(first) == 1
    response, again = system.stop(start.transaction_id)
    assert again == []
    assert response == StopTransactionResponse()
    # Still answered with the idTagInfo when the retry carries an idTag.
    with_tag, again_with_tag = system.stop(start.transaction_id, id_tag="GOOD")
    assert again_with_tag == []
    assert isinstance(with_tag.id_tag_info, msgspec.Struct)
    assert with_tag.id_tag_info.status == "Accepted"


def test_stop_with_meter_below_start_is_flagged() -> None:
    system = System()
    start, _ = system.start("GOOD", meter_start=1000)
    _, events = system.stop(start.transaction_id, meter_stop=999)
    event = only_stopped(events)
    assert event.known is True
    assert event.anomaly is not None
    assert "999" in event.anomaly and "1000" in event.anomaly
    assert start.transaction_id not in system.state.active


def test_stop_with_meter_equal_to_start_is_not_flagged() -> None:
    system = System()
    start, _ = system.start("GOOD", meter_start=1000)
    _, events = system.stop(start.transaction_id, meter_stop=1000)
    assert only_stopped(events).anomaly is None


def test_stop_with_id_tag_answers_id_tag_info() -> None:
    system = System()
    start, _ = system.start("CHILD")
    response, events = system.stop(start.transaction_id, id_tag="CHILD")
    info = response.id_tag_info
    assert not isinstance(info, type(UNSET))
    assert info.status == "Accepted"
    assert info.parent_id_tag == "PARENT"
    assert info.expiry_date == NOW + timedelta(days=30)
    assert only_stopped(events).id_tag == "CHILD"


def test_stop_with_unknown_id_tag_answers_invalid() -> None:
    system = System()
    start, _ = system.start("GOOD")
    response, events = system.stop(start.transaction_id, id_tag="NOBODY")
    assert not isinstance(response.id_tag_info, type(UNSET))
    assert response.id_tag_info.status == "Invalid"
    assert only_stopped(events).known is True


def test_stop_without_id_tag_has_no_id_tag_info() -> None:
    system = System()
    start, _ = system.start("GOOD")
    response, events = system.stop(start.transaction_id)
    assert response.id_tag_info is UNSET
    assert msgspec.json.encode(response) == b"{}"
    assert only_stopped(events).id_tag is None


def test_stop_of_another_stations_transaction_is_not_matched() -> None:
    system = System()
    start, _ = system.start("GOOD", station="CP1")
    _, events = system.stop(start.transaction_id, station="CP2", meter_stop=0)
    event = only_stopped(events)
    assert event.known is False
    assert event.station_id == "CP2"
    assert event.anomaly is None  # not compared with another station's meterStart
    # CP1's transaction is untouched.
    assert start.transaction_id in system.state.active
    assert system.state.by_tag["GOOD"] == {start.transaction_id}


# --- Authorize ----------------------------------------------------------------------------------


def test_authorize_known_unknown_and_expired_tags() -> None:
    system = System()
    assert system.authorize("GOOD").id_tag_info.status == "Accepted"
    assert system.authorize("NOBODY").id_tag_info.status == "Invalid"
    assert system.authorize("OLD").id_tag_info.status == "Expired"
    assert system.authorize("BLOCKED").id_tag_info.status == "Blocked"
    child = system.authorize("CHILD").id_tag_info
    assert child.parent_id_tag == "PARENT"
    assert child.expiry_date == NOW + timedelta(days=30)


def test_authorize_is_concurrent_only_when_charging_at_another_station() -> None:
    system = System()
    start, _ = system.start("GOOD", station="CP1", connector=1)
    # At the same station (e.g. to stop it, or on another connector) the tag is accepted.
    assert system.authorize("GOOD", station="CP1").id_tag_info.status == "Accepted"
    assert system.authorize("GOOD", station="CP2").id_tag_info.status == "ConcurrentTx"
    # Another tag is not affected.
    assert system.authorize("OTHER", station="CP2").id_tag_info.status == "Accepted"
    system.stop(start.transaction_id, station="CP1")
    assert system.authorize("GOOD", station="CP2").id_tag_info.status == "Accepted"


def test_authorize_does_not_change_the_state() -> None:
    system = System()
    system.authorize("GOOD")
    assert system.state.active == {}
    assert system.state.next_seq == {}
    assert system.state.allocate(0) == 1


# --- MeterValues --------------------------------------------------------------------------------


@pytest.mark.parametrize("transaction_id", [UNSET, 1, 0, -1, 12345])
def test_meter_values_is_answered_empty_without_events(transaction_id: Any) -> None:
    system = System()
    system.start("GOOD")
    request = MeterValuesRequest(
        connector_id=1,
        meter_value=[MeterValue(timestamp=NOW, sampled_value=[SampledValue(value="1500")])],
        transaction_id=transaction_id,
    )
    response, events = system.call("MeterValues", request)
    assert isinstance(response, MeterValuesResponse)
    assert msgspec.json.encode(response) == b"{}"
    assert events == []
    assert set(system.state.active) == {1}


def test_routes_cover_the_four_actions() -> None:
    assert set(ROUTES) == {"Authorize", "StartTransaction", "StopTransaction", "MeterValues"}


def test_a_newer_start_on_the_same_connector_supersedes_a_lost_transaction() -> None:
    """A station that lost a transaction (no stop ever came) must not block its tag forever."""
    system = System()
    lost, _ = system.start("GOOD", connector=1, station="CP1")
    assert system.authorize("GOOD", station="CP2").id_tag_info.status == "ConcurrentTx"
    newer, _ = system.start("OTHER", connector=1, station="CP1", meter_start=5000)
    assert lost.transaction_id not in system.state.active
    assert newer.transaction_id in system.state.active
    assert system.authorize("GOOD", station="CP2").id_tag_info.status == "Accepted"
    # The lost one is still known: its late stop is recorded and matched, once.
    assert system.state.is_known(lost.transaction_id)
    stopped = only_stopped(system.stop(lost.transaction_id, meter_stop=1500)[1])
    assert stopped.known and stopped.anomaly is None
    assert system.stop(lost.transaction_id, meter_stop=1500)[1] == []
    assert newer.transaction_id in system.state.active
