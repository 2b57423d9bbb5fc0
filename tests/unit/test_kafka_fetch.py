"""How long consumers' fetches wait (ADR 0041): the tuning, and who decides at each record."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from shared.config import Settings
from shared.kafka import Wake, configure, fetch_options, make_consumer
from shared.ocpp.v16.actions import STATION_CALL_OWNERS
from shared.service import wake_for


@pytest.fixture(autouse=True)
def _default_tuning() -> Iterator[None]:
    yield
    configure(Settings())


def test_a_consumer_that_decides_is_answered_at_the_first_byte_and_waits_long_when_idle() -> None:
    configure(replace(Settings(), kafka_fetch_wait_ms=7000))
    assert fetch_options(Wake.EACH) == {"fetch_min_bytes": 1, "fetch_max_wait_ms": 7000}


def test_a_batching_consumer_waits_for_a_batch_or_its_accepted_lag_while_records_flow() -> None:
    configure(replace(Settings(), kafka_batch_lag_ms=300, kafka_batch_bytes=4096))
    assert fetch_options(Wake.BATCH, batch_under_way=True) == {
        "fetch_min_bytes": 4096,
        "fetch_max_wait_ms": 300,
    }


def test_an_idle_batching_consumer_waits_long_and_wakes_at_the_first_byte() -> None:
    configure(replace(Settings(), kafka_fetch_wait_ms=7000, kafka_batch_lag_ms=300))
    assert fetch_options(Wake.BATCH) == {"fetch_min_bytes": 1, "fetch_max_wait_ms": 7000}
    assert fetch_options(Wake.EACH, batch_under_way=True) == fetch_options(Wake.EACH)


def test_the_defaults_are_the_measured_ones() -> None:
    configure(Settings())
    assert fetch_options(Wake.EACH) == {"fetch_min_bytes": 1, "fetch_max_wait_ms": 5000}
    assert fetch_options(Wake.BATCH, batch_under_way=True) == {
        "fetch_min_bytes": 256 * 1024,
        "fetch_max_wait_ms": 500,
    }


def test_services_that_answer_station_calls_decide_at_each_frame() -> None:
    for owner in set(STATION_CALL_OWNERS.values()):
        assert wake_for(owner) is Wake.EACH


def test_reservations_decide_at_each_frame_because_a_start_transaction_reads_them() -> None:
    assert wake_for("reservations") is Wake.EACH


@pytest.mark.parametrize("service", ["smartcharging", "locallists", "firmware"])
def test_services_that_only_follow_frames_read_them_in_batches(service: str) -> None:
    assert wake_for(service) is Wake.BATCH


async def test_make_consumer_applies_the_wake_and_lets_options_override() -> None:
    configure(replace(Settings(), kafka_batch_lag_ms=321))
    consumer = make_consumer("127.0.0.1:1", wake=Wake.BATCH, max_poll_records=5)
    try:
        assert consumer._fetch_max_wait_ms == 5000  # idle until records flow
        assert consumer._adaptive is True
        assert consumer._max_poll_records == 5
        assert consumer._enable_auto_commit is False
    finally:
        await consumer.stop()


async def test_explicit_fetch_options_turn_the_adaptive_batching_off() -> None:
    consumer = make_consumer("127.0.0.1:1", wake=Wake.BATCH, fetch_max_wait_ms=50)
    try:
        assert consumer._fetch_max_wait_ms == 50
        assert consumer._adaptive is False
    finally:
        await consumer.stop()


class _FetcherClosingOnAFailedFetch:
    """aiokafka's Fetcher.close when a fetch task it cancels was in its retry sleep."""

    async def close(self) -> None:
        raise asyncio.CancelledError


async def test_a_stop_finishes_when_aiokafkas_close_trips_over_a_failed_fetch() -> None:
    consumer = make_consumer("127.0.0.1:1")
    closed: list[bool] = []

    async def client_close() -> None:
        closed.append(True)

    consumer._fetcher = _FetcherClosingOnAFailedFetch()
    consumer._client.close = client_close
    await consumer.stop()  # does not raise
    assert closed == [True]


async def test_a_stop_that_is_itself_cancelled_still_propagates() -> None:
    consumer = make_consumer("127.0.0.1:1")
    entered = asyncio.Event()

    class Slow:
        async def close(self) -> None:
            entered.set()
            await asyncio.sleep(60)

    consumer._fetcher = Slow()
    task = asyncio.create_task(consumer.stop())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await consumer._client.close()
