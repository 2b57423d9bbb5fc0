"""State: transaction id striping per partition, evolve (idempotent, offset-guarded), is_known, allocate."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from services.transactions.events import TransactionStopped
from services.transactions.state import State, evolve, start_key
from shared.ocpp.v16.constraints import INT32_MAX
from tests.unit.transactions.builders import NOW, PARTITIONS, System, started


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
