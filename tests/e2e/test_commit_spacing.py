"""A service's offset commits against the real broker (ADR 0043): at most one a second however many
wakes, the last acknowledged offset committed without waiting for another record, and everything
committed by a stop.

The runner is the one every service runs (shared/service.py), on a private topic prefix, with a
handler that decides nothing: the records it is woken for are what a heartbeat is for most services.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
import uuid
from typing import Any

import msgspec
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared import service
from shared.config import Settings
from shared.events.envelope import Direction, FrameRecord
from shared.events.topics import Topics
from shared.kafka import make_producer
from shared.service import COMMIT_EVERY_S, FrameServiceRunner, Inbound, Output
from tests.e2e.conftest import System, eventually

pytestmark = pytest.mark.e2e


class Bystander:
    """A handler for which no record is its own: it only counts what it was woken for."""

    name = "stations"  # woken per record, as the services that answer station CALLs are (ADR 0041)

    def __init__(self) -> None:
        self.seen = 0

    async def start(self, topics: Topics, settings: Settings) -> None:
        return None

    def handle(self, inbound: Inbound) -> list[Output]:
        self.seen += 1
        return []

    async def stop(self) -> None:
        return None


def heartbeat(station_id: str, n: int) -> bytes:
    raw = f'[2,"hb-{n}","Heartbeat",{{}}]'
    return msgspec.json.encode(
        FrameRecord(
            station_id=station_id,
            gateway_id="gw-test",
            connection_id="c",
            epoch=1,
            direction=Direction.IN,
            at_ms=int(time.time() * 1000),
            raw=raw,
            message_type=2,
            unique_id=f"hb-{n}",
            action="Heartbeat",
            payload=msgspec.Raw(b"{}"),
        )
    )


class Harness:
    """A runner of :class:`Bystander` on a private topic prefix, a producer, and the group's offsets."""

    def __init__(self, system: System) -> None:
        prefix = f"{system.settings.topic_prefix}commit{uuid.uuid4().hex[:6]}."
        self.settings = dataclasses.replace(system.settings, topic_prefix=prefix)
        self.topics = Topics(prefix, self.settings.frame_partitions)
        self.handler = Bystander()
        self.runner = FrameServiceRunner(self.handler, self.settings)
        self.commits: list[float] = []
        self.sent = 0
        self._producer = make_producer(self.settings.kafka_bootstrap, client_id="commit-test")
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)

    async def __aenter__(self) -> Harness:
        self.task = asyncio.create_task(self.runner.run())
        await self._producer.start()
        await self._admin.start()
        partitions = self.settings.frame_partitions
        await eventually(lambda: len(self.runner.assigned) == partitions, timeout=60, what="assigned")
        consumer: Any = self.runner._consumer
        real_commit = consumer.commit

        async def counted(offsets: Any = None) -> None:
            self.commits.append(time.monotonic())
            await real_commit(offsets)

        consumer.commit = counted
        return self

    async def __aexit__(self, *_: object) -> None:
        self.runner.stop()
        if not self.task.done():
            self.task.cancel()
        await self._admin.close()
        await self._producer.stop()

    async def send(self) -> tuple[int, int]:
        """One heartbeat, handled: its partition and the offset after it."""
        self.sent += 1
        frame = heartbeat("CP-COMMIT", self.sent)
        meta = await self._producer.send_and_wait(self.topics.frames, frame, key=b"CP-COMMIT")
        sent = self.sent
        await eventually(lambda: self.handler.seen == sent, what=f"record {sent} handled")
        return meta.partition, meta.offset + 1

    async def committed(self) -> dict[int, int]:
        offsets = await self._admin.list_consumer_group_offsets(self.topics.group(self.handler.name))
        return {tp.partition: m.offset for tp, m in offsets.items() if tp.topic == self.topics.frames}


async def test_commits_are_spaced_and_the_last_one_follows_without_another_record(system: System) -> None:
    async with Harness(system) as h:
        started = time.monotonic()
        ends = dict([await h.send() for _ in range(30)])  # one record per wake, as heartbeats come
        elapsed = time.monotonic() - started
        assert h.handler.seen == 30
        # However many wakes: the first commit at once, then at most one per COMMIT_EVERY_S.
        assert len(h.commits) <= elapsed / COMMIT_EVERY_S + 2, (len(h.commits), elapsed)
        gaps = [b - a for a, b in itertools.pairwise(h.commits)]
        assert all(gap >= COMMIT_EVERY_S * 0.99 for gap in gaps), gaps
        latest: dict[int, int] = {}
        deadline = time.monotonic() + 10
        while {p: latest.get(p) for p in ends} != ends:  # no record after the last one
            assert time.monotonic() < deadline, (latest, ends)
            await asyncio.sleep(0.2)
            latest = await h.committed()


async def test_a_stop_commits_what_is_acknowledged_at_once(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "COMMIT_EVERY_S", 3600.0)  # no commit comes from the spacing
    async with Harness(system) as h:
        await h.send()
        await eventually(lambda: len(h.commits) == 1, what="the first commit, at once")
        partition, end = await h.send()
        await asyncio.sleep(0.5)
        assert len(h.commits) == 1  # the second waits for the interval...
        h.runner.stop()
        await asyncio.wait_for(h.task, 30)
        assert len(h.commits) == 2  # ...or for the stop, which commits it
        assert (await h.committed())[partition] == end
