"""Thin Kafka adapters: one way to build producers, consumers and topics for every service.

The producer is always idempotent with acks=all: the gateway's promise that a station was never told
anything the log does not hold rests on it.

How to reach the brokers (TLS, SASL) is process-wide: :func:`configure` sets it once from the
settings at start, and every client this project builds takes :func:`connection` (the same brokers,
the same credentials, whichever module opens the client).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from shared.config import Settings
from shared.events.topics import TopicSpec

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

_connection: dict[str, Any] = {}


class Wake(StrEnum):
    """When a consumer's fetch returns: the one choice every consumer makes (ADR 0041)."""

    # At the first record: whoever decides on a record or waits for one (the services that answer
    # station CALLs, the gateway's inbox, command outcomes, the views a decision reads).
    EACH = "each"
    # When a batch is there or the accepted lag is over: read models and services that only
    # follow frames. One fetch (and one database transaction) per batch, not per record.
    BATCH = "batch"


# The fetch waits of this process's consumers: ``configure`` sets them with the security.
_tuning = Settings()


def connection_options(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments for the settings' security; ValueError for an inconsistent set."""
    protocol = settings.kafka_security_protocol.upper()
    if protocol not in PROTOCOLS:
        raise ValueError(f"CSMS_KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}")
    options: dict[str, Any] = {}
    if protocol == "PLAINTEXT":
        return options
    options["security_protocol"] = protocol
    if protocol.startswith("SASL_"):
        mechanism = settings.kafka_sasl_mechanism.upper()
        if mechanism not in MECHANISMS or not settings.kafka_sasl_username:
            raise ValueError(
                f"{protocol} needs CSMS_KAFKA_SASL_MECHANISM ({', '.join(MECHANISMS)}) and a username"
            )
        options.update(
            sasl_mechanism=mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    if protocol.endswith("SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=settings.kafka_ssl_cafile or None,
            certfile=settings.kafka_ssl_certfile or None,
            keyfile=settings.kafka_ssl_keyfile or None,
        )
    return options


def configure(settings: Settings) -> None:
    """Use the settings' security for every Kafka client of this process from now on."""
    _connection.clear()
    _connection.update(connection_options(settings))
    global _tuning
    _tuning = settings


def connection() -> dict[str, Any]:
    """The process-wide security options, to pass to any aiokafka client."""
    return dict(_connection)


def make_producer(bootstrap: str, *, client_id: str, linger_ms: int = 1) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **connection(),
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
    )


def fetch_options(wake: Wake, *, batch_under_way: bool = False) -> dict[str, int]:
    """The next fetch of a consumer that wakes as ``wake`` says, from the process's tuning.

    A fetch the broker parks returns as soon as ``fetch_min_bytes`` are there, so a long wait
    costs no latency: it only sets how often an idle consumer asks (ADR 0041). An idle BATCH
    consumer waits like an EACH one; only once records flow (``batch_under_way``: its last
    fetch brought some) does it wait for a batch or its accepted lag, so that a quiet system is
    not asked twice a second by every read model.
    """
    if wake is Wake.EACH or not batch_under_way:
        return {"fetch_min_bytes": 1, "fetch_max_wait_ms": _tuning.kafka_fetch_wait_ms}
    return {"fetch_min_bytes": _tuning.kafka_batch_bytes, "fetch_max_wait_ms": _tuning.kafka_batch_lag_ms}


# aiokafka sends the next fetch for the other partitions of a broker once a partition's fetched
# records have waited 100 ms unread; when they are read, that partition waits for the fetch in
# flight (up to its whole wait). Every consumer here drains all its partitions from one task, so
# it fetches again only when everything fetched is read: no partition sits out a long wait.
_DRAIN_BEFORE_FETCH_S = 3600.0


class Consumer(AIOKafkaConsumer):  # type: ignore[misc]  # aiokafka is untyped
    """An aiokafka consumer that fetches again only when its fetched records are all read; an
    ``adaptive`` one (a BATCH consumer) waits at each fetch as ``fetch_options`` says after what
    the last one brought."""

    def __init__(self, *topics: str, adaptive: bool, **options: Any) -> None:
        super().__init__(*topics, **options)
        self._adaptive = adaptive

    async def start(self) -> None:
        await super().start()
        fetcher = self._fetcher
        fetcher._prefetch_backoff = _DRAIN_BEFORE_FETCH_S
        if not self._adaptive:
            return
        fetch = fetcher._proc_fetch_request  # the fetcher's routine looks it up on the instance

        async def fetch_and_adapt(assignment: Any, node_id: int, request: Any) -> bool:
            got: bool = await fetch(assignment, node_id, request)
            step = fetch_options(Wake.BATCH, batch_under_way=got)
            fetcher._fetch_min_bytes = step["fetch_min_bytes"]
            fetcher._fetch_max_wait_ms = step["fetch_max_wait_ms"]
            return got

        fetcher._proc_fetch_request = fetch_and_adapt

    async def stop(self) -> None:
        """Close, also when aiokafka's own close trips over a fetch that failed just before it.

        ``Fetcher.close`` cancels its fetch tasks and awaits them; one cancelled in its retry sleep
        (after a RequestTimedOutError) re-raises that CancelledError out of ``close``, before the
        client's connections are closed: a stop that raised, and a consumer left open. A
        cancellation of the caller itself still propagates."""
        try:
            await super().stop()
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            log.warning("a fetch failed while the consumer closed; closing its connections")
            await self._client.close()


def make_consumer(
    bootstrap: str,
    *,
    client_id: str | None = None,
    group_id: str | None = None,
    topics: Sequence[str] = (),
    auto_offset_reset: str = "earliest",
    wake: Wake = Wake.EACH,
    **options: Any,
) -> AIOKafkaConsumer:
    """The one way to build a consumer. It never auto-commits: services commit after their
    outputs are durable; without ``group_id`` it reads what it is assigned (views, projections).
    ``options`` are further aiokafka settings (bigger fetches for a read model's replay)."""
    settings: dict[str, Any] = {
        "enable_auto_commit": False,
        "auto_offset_reset": auto_offset_reset,
        "isolation_level": "read_committed",
        "max_poll_records": 2000,
        # The fetcher's own polling interval when nothing is in flight; fetches carry the waits.
        "consumer_timeout_ms": 1000,
        **fetch_options(wake),
        **options,
    }
    if group_id is not None:
        # A member that died without leaving holds its partitions this long: keep it short.
        settings.update(session_timeout_ms=10_000, heartbeat_interval_ms=3_000)
    if client_id is not None:
        settings["client_id"] = client_id
    # Explicit fetch options are kept as given: the wake policy steps aside.
    adaptive = wake is Wake.BATCH and not {"fetch_min_bytes", "fetch_max_wait_ms"} & set(options)
    return Consumer(
        *topics,
        adaptive=adaptive,
        **connection(),
        bootstrap_servers=bootstrap,
        group_id=group_id,
        **settings,
    )


async def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], replication_factor: int = 1) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are.

    ``replication_factor`` is 1 for the local single broker and 3 in production
    (``CSMS_REPLICATION_FACTOR``).
    """
    wanted = list(specs)
    admin = AIOKafkaAdminClient(**connection(), bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in wanted if s.name not in existing]
        if not missing:
            return
        # Another process may create one between list and create: that is fine.
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [
                    NewTopic(
                        name=s.name,
                        num_partitions=s.partitions,
                        replication_factor=replication_factor,
                        topic_configs=s.config,
                    )
                    for s in missing
                ]
            )
        log.info("created topics %s", [s.name for s in missing])
    finally:
        await admin.close()


async def wait_for_kafka(bootstrap: str, timeout: float = 60.0) -> None:
    """Block until the broker answers a metadata request (services may start before Kafka)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        admin = AIOKafkaAdminClient(**connection(), bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.describe_cluster()
            return
        except (TimeoutError, KafkaConnectionError, OSError) as exc:
            if loop.time() > deadline:
                raise TimeoutError(f"Kafka at {bootstrap} not reachable after {timeout:.0f}s") from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def stop_reader(task: asyncio.Task[None] | None, consumer: AIOKafkaConsumer | None) -> None:
    """Stop a task that reads with ``consumer``, then the consumer: the order avoids a read on a closed one."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if consumer is not None:
        await consumer.stop()
