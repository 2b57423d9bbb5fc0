"""A projection whose shape changed (DDL or version) is rebuilt from offset 0 at start: rows written
by an older version would not equal what a replay writes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from shared.events.topics import Topics, TopicSpec
from shared.kafka import ensure_topics, make_producer
from shared.projection.base import TableProjection
from shared.projection.pool import DbTarget, connect_pool
from shared.projection.runner import ProjectionRunner
from tests.e2e.conftest import System

pytestmark = pytest.mark.e2e


class Counting(TableProjection):
    """Counts the records of one topic."""

    name = "shape_test"
    statements = ["CREATE TABLE IF NOT EXISTS shape_test (id int PRIMARY KEY, records bigint NOT NULL)"]
    table_names = ["shape_test"]

    def __init__(self, topic: str) -> None:
        super().__init__(Topics())
        self._topic = topic

    def topics(self) -> Sequence[str]:
        return [self._topic]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        await conn.execute(
            """INSERT INTO shape_test VALUES (1, $1)
               ON CONFLICT (id) DO UPDATE SET records = shape_test.records + $1""",
            len(batch),
        )


async def test_a_changed_version_rebuilds_from_offset_zero(system: System) -> None:
    s = system.settings
    topic = f"{s.topic_prefix}test.shapes.{s.instance_id}"  # removed with the session's topics
    await ensure_topics(s.kafka_bootstrap, [TopicSpec(topic, 1, {})], s.replication_factor)
    producer = make_producer(s.kafka_bootstrap, client_id="test-shapes")
    await producer.start()
    for i in range(3):
        await producer.send_and_wait(topic, str(i).encode())
    await producer.stop()
    target = DbTarget(s.database_url, f"shape_{uuid.uuid4().hex[:8]}")
    pool = await connect_pool(target)
    try:
        first = Counting(topic)
        await ProjectionRunner(first, system.settings.kafka_bootstrap, target).run(until_caught_up=True)
        assert await pool.fetchval("SELECT records FROM shape_test") == 3
        await pool.execute("UPDATE shape_test SET records = -1")  # what an older version would have left

        await ProjectionRunner(first, system.settings.kafka_bootstrap, target).run(until_caught_up=True)
        assert await pool.fetchval("SELECT records FROM shape_test") == -1  # same shape: continues

        second = Counting(topic)
        second.version = 2
        await ProjectionRunner(second, system.settings.kafka_bootstrap, target).run(until_caught_up=True)
        assert await pool.fetchval("SELECT records FROM shape_test") == 3  # rebuilt from offset 0
    finally:
        await pool.execute(f'DROP SCHEMA IF EXISTS "{target.schema}" CASCADE')
        await pool.close()
