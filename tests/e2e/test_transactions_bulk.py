"""The transactions read model's batch statements (shared/projection/bulk.py, ADR 0045) against the
real PostgreSQL: one batch with a start, two stops of the same transaction (the first wins, as in
log order), a stop that matches nothing, and repeated samples; applied twice (a redelivery) it
changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import asyncpg
import msgspec
import pytest
from aiokafka import ConsumerRecord

from services.transactions.events import TransactionStarted, TransactionStopped
from services.transactions.projection import TransactionsProjection
from shared.events.envelope import Direction, FrameRecord, encode
from shared.events.topics import Topics
from tests.e2e.conftest import System

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
T2 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
async def conn(system: System) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a schema of its own, with the projection's tables."""
    schema = f"bulk_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(system.settings.database_url)
    await connection.execute(f"CREATE SCHEMA {schema}")
    await connection.execute(f"SET search_path TO {schema}")
    try:
        yield connection
    finally:
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
        await connection.close()


def record(topic: str, offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord(topic, 0, offset, 0, 0, b"CP1", value, None, 3, len(value), ())


def meter_values(offset: int) -> bytes:
    body = (
        '{"connectorId":1,"transactionId":7,"meterValue":[{"timestamp":"2026-12-03T10:30:00Z",'
        '"sampledValue":[{"value":"1500"},{"value":"1500"},{"value":"230","measurand":"Voltage"}]}]}'
    )
    return encode(
        FrameRecord(
            station_id="CP1",
            gateway_id="gw",
            connection_id="c",
            epoch=1,
            direction=Direction.IN,
            at_ms=0,
            raw=f'[2,"mv{offset}","MeterValues",{body}]',
            message_type=2,
            unique_id=f"mv{offset}",
            action="MeterValues",
            payload=msgspec.Raw(body.encode()),
        )
    )


def stop(transaction_id: int, meter_stop: int, at: datetime, *, known: bool = True) -> bytes:
    return encode(
        TransactionStopped(
            transaction_id=transaction_id,
            partition=0,
            station_id="CP1",
            known=known,
            meter_stop=meter_stop,
            stopped_at=at,
            reason="Remote" if meter_stop == 3000 else None,
            frame_offset=meter_stop,
        )
    )


def batch(topics: Topics) -> Sequence[ConsumerRecord]:
    events, frames = topics.domain("transactions"), topics.frames
    start = TransactionStarted(
        transaction_id=7,
        partition=0,
        station_id="CP1",
        connector_id=1,
        id_tag="TAG",
        meter_start=1000,
        started_at=T0,
        id_tag_status="Accepted",
        frame_offset=1,
    )
    return [
        record(events, 0, encode(start)),
        record(frames, 1, meter_values(1)),
        record(frames, 2, meter_values(1)),  # the same sample again: stored once
        record(events, 3, stop(7, 3000, T1)),
        record(events, 4, stop(7, 9000, T2)),  # a second stop of the same transaction: ignored
        record(events, 5, stop(99, 500, T2, known=False)),
    ]


async def test_one_batch_keeps_log_order_and_a_redelivery_changes_nothing(
    system: System, conn: asyncpg.Connection
) -> None:
    topics = Topics(system.settings.topic_prefix, system.settings.frame_partitions)
    projection = TransactionsProjection(topics)
    for statement in projection.statements:
        await conn.execute(statement)
    for _ in range(2):  # applied, then redelivered
        async with conn.transaction():
            await projection.apply(conn, batch(topics))
        row = await conn.fetchrow("SELECT * FROM transactions")
        assert row is not None
        assert (row["transaction_id"], row["meter_start"], row["meter_stop"]) == (7, 1000, 3000)
        assert (row["stopped_at"], row["stop_reason"], row["energy_wh"]) == (T1, "Remote", 2000)
        unmatched = await conn.fetch("SELECT transaction_id, reason FROM unmatched_stops")
        assert [(u["transaction_id"], u["reason"]) for u in unmatched] == [(99, "Local")]
        samples = await conn.fetch("SELECT measurand, unit, value FROM meter_values ORDER BY measurand")
        assert [tuple(s) for s in samples] == [
            ("Energy.Active.Import.Register", "Wh", "1500"),
            ("Voltage", "", "230"),
        ]
