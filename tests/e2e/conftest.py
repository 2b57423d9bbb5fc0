"""The system under test, in-process: a real gateway and real services on real Kafka/PostgreSQL.

Running them in the test's event loop (instead of subprocesses) lets a test install an in-memory
span exporter and look inside; the wire path is unchanged: WebSocket -> gateway -> Kafka ->
service -> Kafka -> gateway -> WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.gateway.app import Gateway
from services.stations.service import StationsHandler
from shared import telemetry
from shared.config import Settings
from shared.kafka import wait_for_kafka
from shared.service import FrameServiceRunner

SPANS = InMemorySpanExporter()


@dataclass
class System:
    settings: Settings
    gateway: Gateway
    spans: InMemorySpanExporter

    def station_url(self, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.gateway.port}/ocpp/{station_id}"


@pytest.fixture(scope="session")
def settings() -> Settings:
    base = Settings.from_env()
    return dataclasses.replace(
        base,
        gateway_port=0,
        gateway_id=f"test-{uuid.uuid4().hex[:8]}",
        service_reply_timeout=10.0,
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
    runners = [FrameServiceRunner(StationsHandler(), settings)]
    tasks = [asyncio.create_task(r.run()) for r in runners]
    yield System(settings, gateway, SPANS)
    for r in runners:
        r.stop()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(t, 15)
    await gateway.stop()


def unique_station(prefix: str = "CP") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
