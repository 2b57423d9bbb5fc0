"""Thin Kafka adapters: one way to build producers, consumers and topics for every service.

The producer is always idempotent with acks=all: the gateway's promise that a station was never told
anything the log does not hold rests on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from shared.events.topics import TopicSpec

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]


def make_producer(bootstrap: str, *, client_id: str, linger_ms: int = 1) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
    )


def make_consumer(
    bootstrap: str,
    *,
    client_id: str,
    group_id: str | None,
    topics: Sequence[str] = (),
    auto_offset_reset: str = "earliest",
) -> AIOKafkaConsumer:
    """A consumer that never auto-commits: services commit after their outputs are durable."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        client_id=client_id,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset=auto_offset_reset,
        isolation_level="read_committed",
        fetch_max_wait_ms=5,
        max_poll_records=2000,
        # A member that died without leaving holds its partitions this long: keep it short.
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
    )


async def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], replication_factor: int = 1) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are.

    ``replication_factor`` is 1 for the local single broker and 3 in production
    (``CSMS_REPLICATION_FACTOR``).
    """
    wanted = list(specs)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
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
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
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


async def read_to_end(
    consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    """End offsets at this moment: a caller that replays until them has seen everything written before."""
    ends: dict[TopicPartition, int] = await consumer.end_offsets(list(partitions))
    return ends


async def stop_reader(task: asyncio.Task[None] | None, consumer: AIOKafkaConsumer | None) -> None:
    """Stop a task that reads with ``consumer``, then the consumer: the order avoids a read on a closed one."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if consumer is not None:
        await consumer.stop()
