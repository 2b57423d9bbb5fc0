"""The system under test, in-process: a real gateway and real services on real Kafka/PostgreSQL.

Running them in the test's event loop (instead of subprocesses) lets a test install an in-memory
span exporter and look inside; the wire path is unchanged: WebSocket -> gateway -> Kafka ->
service -> Kafka -> gateway -> WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.gateway.app import Gateway
from services.stations.projection import StationsProjection
from services.stations.service import StationsHandler
from shared import telemetry
from shared.commands import CommandClient
from shared.config import Settings
from shared.events.topics import Topics
from shared.kafka import wait_for_kafka
from shared.projection import DbTarget, ProjectionRunner, connect_pool
from shared.service import FrameServiceRunner

SPANS = InMemorySpanExporter()


@dataclass
class System:
    settings: Settings
    gateway: Gateway
    spans: InMemorySpanExporter
    projection: ProjectionRunner

    def station_url(self, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.gateway.port}/ocpp/{station_id}"


def test_database_url(url: str) -> str:
    """The tests' own database (csms_test beside csms), unless CSMS_TEST_DATABASE_URL names one."""
    return os.environ.get("CSMS_TEST_DATABASE_URL") or url.rsplit("/", 1)[0] + "/csms_test"


@pytest.fixture(scope="session")
def settings() -> Settings:
    base = Settings.from_env()
    return dataclasses.replace(
        base,
        database_url=test_database_url(base.database_url),
        gateway_port=0,
        gateway_id=f"test-{uuid.uuid4().hex[:8]}",
        service_reply_timeout=10.0,
        station_call_timeout=5.0,
        instance_id=f"test-api-{uuid.uuid4().hex[:8]}",
    )


@pytest.fixture(scope="session")
async def system(settings: Settings) -> AsyncIterator[System]:
    telemetry.install_provider("csms-tests", [SPANS])
    try:
        await wait_for_kafka(settings.kafka_bootstrap, timeout=30)
    except TimeoutError as exc:
        pytest.fail(f"{exc}: start it with `make infra` (make test does)")
    gateway = Gateway(settings)
    await gateway.start()
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    projection = ProjectionRunner(
        StationsProjection(topics),
        settings.kafka_bootstrap,
        DbTarget(settings.database_url, settings.db_schema),
    )
    runners: list[FrameServiceRunner | ProjectionRunner] = [
        FrameServiceRunner(StationsHandler(), settings),
        projection,
    ]
    tasks = [asyncio.create_task(r.run()) for r in runners]
    yield System(settings, gateway, SPANS, projection)
    for r in runners:
        r.stop()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(t, 15)
    await gateway.stop()


def unique_station(prefix: str = "CP") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
async def commands(system: System) -> AsyncIterator[CommandClient]:
    client = CommandClient(system.settings)
    await client.start()
    yield client
    await client.stop()


async def eventually(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll until ``predicate()``; for state that converges through Kafka."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - the state lives in other tasks' Kafka consumers
            await asyncio.sleep(0.05)


async def read_frames(
    bootstrap: str, station_id: str, until: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """Every ``ocpp.frames`` record of one station, read with a plain consumer, until ``until`` holds."""
    consumer = AIOKafkaConsumer(
        "ocpp.frames",
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(30):
            while not until(found):
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for msg in records:
                        if msg.key == station_id.encode():
                            found.append(json.loads(msg.value))
    finally:
        await consumer.stop()
    return found


@pytest.fixture(scope="session")
async def db(system: System) -> AsyncIterator[asyncpg.Pool]:
    pool = await connect_pool(DbTarget(system.settings.database_url, system.settings.db_schema))
    yield pool
    await pool.close()
