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
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from opentelemetry import metrics as otel_metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.api.app import OperatorApi
from services.firmware import main as firmware
from services.gateway.app import Gateway
from services.locallists import main as locallists
from services.smartcharging import main as smartcharging
from services.stations import main as stations
from services.transactions import main as transactions
from shared import telemetry
from shared.apitokens import mint
from shared.commands import CommandClient
from shared.config import Settings
from shared.events.apitokens import Role
from shared.events.envelope import encode
from shared.events.topics import Topics
from shared.kafka import configure, wait_for_kafka
from shared.projection.pool import DbTarget, connect_pool
from shared.service import FrameServiceRunner, Runner, run_until
from shared.teardown import remove_system

SPANS = InMemorySpanExporter()
# The system's metrics (shared/metrics.py), read by the tests as an exporter would read them. One
# provider per process: the system fixture is set up again where a tier builds its own (tests/faults).
METRICS = InMemoryMetricReader()
_METER_PROVIDER = MeterProvider(metric_readers=[METRICS])


def metric_sum(name: str, **attributes: object) -> float:
    """The value of the counter ``name`` over the points whose attributes include ``attributes``."""
    data = METRICS.get_metrics_data()
    total = 0.0
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != name:
                    continue
                for point in metric.data.data_points:
                    matches = all((point.attributes or {}).get(k) == v for k, v in attributes.items())
                    if isinstance(point, NumberDataPoint) and matches:
                        total += point.value
    return total


@dataclass
class System:
    settings: Settings
    gateway: Gateway
    spans: InMemorySpanExporter
    api: OperatorApi
    # What the services run in this process (to look inside one, e.g. who holds a lease).
    runners: list[Runner]
    # An admin token of this system's operator API: the tests are clients like any other (ADR 0036).
    api_token: str

    def station_url(self, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.gateway.port}/ocpp/{station_id}"

    def tls_station_url(self, station_id: str) -> str:
        """The wss endpoint (profiles 2 and 3, ADR 0035); ``ca_file`` verifies it."""
        return f"wss://127.0.0.1:{self.gateway.tls_port}/ocpp/{station_id}"

    @property
    def ca_file(self) -> Path:
        """The development CA's certificate (``~/.cache/csms/tls/ca.pem`` under ``make run``)."""
        return Path(self.settings.tls_dir) / "ca.pem"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api.port}"


def test_database_url(url: str) -> str:
    """The tests' own database (csms_test beside csms), unless CSMS_TEST_DATABASE_URL names one."""
    return os.environ.get("CSMS_TEST_DATABASE_URL") or url.rsplit("/", 1)[0] + "/csms_test"


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return session_settings(tmp_path_factory)


def session_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """This session's own topics (prefix), consumer groups (named after them) and PostgreSQL schema:
    a session neither sees earlier sessions' logs, nor a running `make run`, nor leftover group
    members; what it made is removed at its end."""
    base = Settings.from_env()
    session = uuid.uuid4().hex[:8]
    return dataclasses.replace(
        base,
        topic_prefix=f"{base.topic_prefix}t{session}.",
        db_schema=f"{base.db_schema}_t{session}",
        database_url=test_database_url(base.database_url),
        gateway_port=0,
        # The wss listener on a port of its own, with development certificates made for the session.
        gateway_tls_port=0,
        tls_dir=str(tmp_path_factory.mktemp("tls")),
        tls_reload_interval=0.2,
        gateway_id=f"test-{uuid.uuid4().hex[:8]}",
        service_reply_timeout=10.0,
        station_call_timeout=5.0,
        instance_id=f"test-api-{uuid.uuid4().hex[:8]}",
        api_port=0,
        files_dir=str(tmp_path_factory.mktemp("files")),
        files_http_port=0,
        files_ftp_port=0,
        firmware_tick=0.2,
        firmware_station_timeout=5.0,
        diagnostics_max_bytes=100_000,
    )


@pytest.fixture(scope="session")
async def system(settings: Settings) -> AsyncIterator[System]:
    telemetry.install_provider("csms-tests", [SPANS])
    if otel_metrics.get_meter_provider() is not _METER_PROVIDER:
        otel_metrics.set_meter_provider(_METER_PROVIDER)
    configure(settings)  # a secured broker (CSMS_KAFKA_SECURITY_PROTOCOL, ...) works for the tests too
    try:
        await wait_for_kafka(settings.kafka_bootstrap, timeout=30)
    except TimeoutError as exc:
        pytest.fail(f"{exc}: start it with `make infra` (make test does)")
    gateway = Gateway(settings)
    await gateway.start()
    runners = [
        *stations.runners(settings),
        *transactions.runners(settings),
        *smartcharging.runners(settings),
        *firmware.runners(settings),
        *locallists.runners(settings),
    ]
    stop = asyncio.Event()
    services = asyncio.create_task(run_until(runners, stop))
    # A member of an earlier test process that died without leaving the group keeps its partitions
    # until its session times out: wait until our services decide for every partition.
    deciders = [r for r in runners if isinstance(r, FrameServiceRunner)]
    async with asyncio.timeout(60):
        while not all(len(r.assigned) == settings.frame_partitions for r in deciders):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    api = OperatorApi(settings)
    await api.start()
    token = await create_token(api, "tests", "admin")
    yield System(settings, gateway, SPANS, api, runners, token)
    await api.stop()
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(services, 15)
    await gateway.stop()
    await remove_session(settings)


async def create_token(api: OperatorApi, name: str, role: Role) -> str:
    """A new token of ``role``, written as ``csms token create`` does and visible to ``api``."""
    record, token = mint(name, role, api.clock.now_ms())
    await api.write(api.tokens, api.topics.api_tokens, record.id, encode(record))
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def remove_session(settings: Settings) -> None:
    """Delete this session's topics and schema: a long-lived local broker and database would pile
    them up (and the frames of every earlier session would slow every replay)."""
    try:
        await remove_system(
            settings.kafka_bootstrap, settings.database_url, settings.topic_prefix, settings.db_schema
        )
    except KafkaError as exc:  # leftovers are harmless: say so, do not fail the session
        print(f"could not delete this session's topics: {exc}")


def topics(system: System) -> Topics:
    return Topics(system.settings.topic_prefix, system.settings.frame_partitions)


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


async def frames_consumer(settings: Settings) -> AIOKafkaConsumer:
    """A started plain consumer of this session's ``ocpp.frames`` from its first record (the
    session's topics are its own: nothing from earlier runs is in them)."""
    consumer = AIOKafkaConsumer(
        Topics(settings.topic_prefix, settings.frame_partitions).frames,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    return consumer


async def read_frames(
    settings: Settings, station_id: str, until: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """Every ``ocpp.frames`` record of one station, read with a plain consumer, until ``until`` holds."""
    consumer = await frames_consumer(settings)
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


class Api:
    """The operator API over real HTTP, as an outside tool uses it."""

    def __init__(
        self, session: aiohttp.ClientSession, base: str, headers: dict[str, str] | None = None
    ) -> None:
        """``headers``: on top of the session's (another token's Authorization, say)."""
        self.session, self.base, self.headers = session, base, headers

    async def request(self, method: str, path: str, body: Any = None, **params: str) -> tuple[int, Any]:
        url = self.base + path
        async with self.session.request(
            method, url, json=body, params=params or None, headers=self.headers
        ) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)

    async def get(self, path: str, **params: str) -> tuple[int, Any]:
        return await self.request("GET", path, **params)

    async def put(self, path: str, body: Any) -> tuple[int, Any]:
        return await self.request("PUT", path, body)

    async def post(self, path: str, body: Any, **params: str) -> tuple[int, Any]:
        return await self.request("POST", path, body, **params)

    async def until(self, path: str, predicate: Callable[[Any], bool], timeout: float = 20.0) -> Any:
        """GET ``path`` until it is 200 and ``predicate(body)``: read models converge through Kafka."""
        body: Any = None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    status, body = await self.get(path)
                    if status == 200 and predicate(body):
                        return body
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"GET {path} never satisfied the condition; last body: {body}") from None


@pytest.fixture(scope="session")
async def api(system: System) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(headers=bearer(system.api_token)) as session:
        yield Api(session, system.api_url)
