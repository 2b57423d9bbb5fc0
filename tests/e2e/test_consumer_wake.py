"""Consumers against the real broker (ADR 0041): an idle BATCH consumer waits like an EACH one and
wakes at the first record; while records flow it waits for a batch; when they stop, it is idle again."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import TopicPartition

from shared.events.topics import TopicSpec
from shared.kafka import Wake, ensure_topics, fetch_options, make_consumer, make_producer
from tests.e2e.conftest import System, eventually

pytestmark = pytest.mark.e2e


async def test_a_batching_consumer_batches_only_while_records_flow(system: System) -> None:
    s = system.settings
    topic = f"{s.topic_prefix}wake.{uuid.uuid4().hex[:8]}"
    await ensure_topics(s.kafka_bootstrap, [TopicSpec(topic, 1, {})], s.replication_factor)
    producer = make_producer(s.kafka_bootstrap, client_id="wake-test")
    consumer = make_consumer(s.kafka_bootstrap, wake=Wake.BATCH)
    await producer.start()
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        fetcher = consumer._fetcher
        idle, batching = fetch_options(Wake.BATCH), fetch_options(Wake.BATCH, batch_under_way=True)
        assert (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms) == tuple(idle.values())

        await producer.send_and_wait(topic, b"first")
        got = await consumer.getmany(timeout_ms=10_000)
        assert [r.value for rs in got.values() for r in rs] == [b"first"]
        # The fetch that brought it made the next one wait for a batch...
        assert (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms) == tuple(batching.values())

        await producer.send_and_wait(topic, b"second")
        got = await consumer.getmany(timeout_ms=10_000)
        assert [r.value for rs in got.values() for r in rs] == [b"second"]

        # ...and once a fetch comes back empty (after the batch lag; the fetcher runs on its own),
        # it is idle again.
        def idle_again() -> bool:
            return (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms) == tuple(idle.values())

        await eventually(idle_again, timeout=10, what="the consumer back to its idle wait")
    finally:
        await consumer.stop()
        await producer.stop()
