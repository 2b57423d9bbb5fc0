"""One holder at a time among a service's replicas, from Kafka's group protocol.

Every replica joins the consumer group ``<prefix>csms.lease.<name>`` on a one-partition topic; the
member the partition is assigned to holds the lease. No data is read: the topic only gives the
group something to assign. When the holder stops or dies (session timeout), the group reassigns
the partition and another replica holds it.

:meth:`Lease.held` is a lock the holder keeps while it acts; a revocation waits for it, so the
previous holder finishes the step it is in (e.g. making a dispatch event durable) before the next
one starts. Like every lease without fencing tokens, a holder cut off from Kafka may act until its
session times out; what it does must be safe to see twice (the services make the event durable
before they act, so the next holder sees it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from shared.config import Settings
from shared.events.topics import Topics
from shared.kafka import ensure_topics, make_consumer, stop_reader

log = logging.getLogger(__name__)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, lease: Lease) -> None:
        self._lease = lease

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked and self._lease.holding:
            async with self._lease.held:  # let the step in progress finish first
                self._lease.holding = False
            log.info("lease %s released", self._lease.name)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if assigned:
            self._lease.holding = True
            log.info("lease %s acquired", self._lease.name)


class Lease:
    def __init__(self, settings: Settings, name: str) -> None:
        self.name = name
        self.settings = settings
        self.topic = Topics(settings.topic_prefix, settings.frame_partitions).lease(name)
        self.holding = False
        self.held = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        s = self.settings
        topics = Topics(s.topic_prefix, s.frame_partitions)
        await ensure_topics(s.kafka_bootstrap, [topics.lease_spec(self.name)], s.replication_factor)
        self._consumer = make_consumer(
            s.kafka_bootstrap,
            client_id=f"lease-{self.name}-{s.instance_id}",
            group_id=Topics(s.topic_prefix).lease(self.name),
        )
        self._consumer.subscribe([self.topic], listener=_Listener(self))
        await self._consumer.start()
        self._task = asyncio.create_task(self._keep(), name=f"lease:{self.name}")

    async def _keep(self) -> None:
        """Poll now and then: a member that does not poll is dropped from the group."""
        assert self._consumer is not None
        while True:
            await self._consumer.getmany(timeout_ms=1000)

    async def stop(self) -> None:
        """Leave the group: another replica gets the lease at once (no session timeout to wait)."""
        async with self.held:
            self.holding = False
        with contextlib.suppress(Exception):
            await stop_reader(self._task, self._consumer)
