"""In-memory views of compacted topics (station registry, presence), kept current by a follower task.

A process that needs "the current value per key" reads the topic from the beginning without a
consumer group, applies tombstones, and then follows new records. :meth:`CompactedView.start` returns
once everything written before it was called has been applied, so a gateway never accepts a station
before it knows that station's credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.events import undecodable
from shared.events.versioned import UndecodableRecord, UnknownRecordType
from shared.kafka import make_consumer, stop_reader

log = logging.getLogger(__name__)

V = TypeVar("V")


class LogFollower:
    """Reads a topic from the beginning without a consumer group, then keeps following it.

    ``apply(partition, key, value)`` sees every record in log order per partition; one that raises
    UndecodableRecord is logged and counted (shared/events/undecodable.py), one of a type this
    reader does not know (UnknownRecordType) is skipped. :meth:`start`
    returns once everything written before it was called has been applied; :meth:`wait_for_end`
    does the same later, e.g. before deciding for a partition this process was just assigned.
    """

    def __init__(
        self, bootstrap: str, topic: str, apply: Callable[[int, bytes | None, bytes | None], None]
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._apply = apply
        self._consumer: AIOKafkaConsumer | None = None
        # Asks for end offsets on connections of its own: a request on the follower's connections
        # would wait behind its fetch parked at the broker (one request per connection at a time).
        self._offsets: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._positions: dict[int, int] = {}
        self._moved = asyncio.Event()
        self.applied = 0

    async def start(self, timeout: float = 60.0) -> None:
        self._consumer = make_consumer(self._bootstrap, max_poll_records=5000)
        self._offsets = make_consumer(self._bootstrap)
        await self._offsets.start()
        await self._consumer.start()
        partitions = [TopicPartition(self._topic, p) for p in sorted(await self._partitions())]
        self._consumer.assign(partitions)  # no group, no committed offset: from the beginning
        self._task = asyncio.create_task(self._follow(), name=f"follow:{self._topic}")
        await self.wait_for_end(timeout=timeout)

    async def wait_for_end(self, partitions: set[int] | None = None, timeout: float = 60.0) -> None:
        """Return when every record written before this call (to ``partitions``) has been applied."""
        assert self._consumer is not None and self._offsets is not None
        tps = [
            TopicPartition(self._topic, p)
            for p in (partitions if partitions is not None else await self._partitions())
        ]
        async with asyncio.timeout(timeout):
            ends: dict[TopicPartition, int] = await self._offsets.end_offsets(tps)
            look_again = 0.005
            while not await self._reached(ends):
                # Applied records wake this at once; a position that moves without records (a
                # compacted tail, a transaction marker) shows only when looked at: soon at first,
                # then less often (a long wait is not a busy loop).
                self._moved.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(look_again):
                        await self._moved.wait()
                look_again = min(look_again * 2, 0.2)

    async def _reached(self, ends: dict[TopicPartition, int]) -> bool:
        """Whether every record before ``ends`` is applied. The consumer's position is the offset
        after the last record it handed out, and :meth:`_follow` applies what it was handed before
        it awaits anything, so a position this task can see is applied."""
        assert self._consumer is not None
        for tp, end in ends.items():
            if max(self._positions.get(tp.partition, 0), await self._consumer.position(tp)) < end:
                return False
        return True

    async def _partitions(self) -> set[int]:
        assert self._consumer is not None
        for _ in range(100):
            parts = self._consumer.partitions_for_topic(self._topic)
            if parts:
                return set(parts)
            await self._consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {self._topic} does not exist; run `csms topics create`")

    async def _follow(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=10_000)  # woken by records
            for tp, records in batches.items():
                for msg in records:
                    try:
                        self._apply(tp.partition, msg.key, msg.value)
                    except UnknownRecordType as exc:  # a newer writer's type: ignored by contract
                        log.debug("skipping %s/%s@%s: %s", self._topic, tp.partition, msg.offset, exc)
                    except UndecodableRecord as exc:
                        undecodable.report(self._topic, tp.partition, msg.offset, exc)
                    except Exception:
                        log.exception("cannot apply %s/%s@%s", self._topic, tp.partition, msg.offset)
                    self.applied += 1
                if records:
                    self._positions[tp.partition] = records[-1].offset + 1
            self._moved.set()

    async def stop(self) -> None:
        await stop_reader(self._task, self._consumer)
        if self._offsets is not None:
            await self._offsets.stop()


class CompactedView(Generic[V]):
    """The current value per key of a compacted topic, kept current by a :class:`LogFollower`."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        decode: Callable[[bytes], V],
        *,
        merge: Callable[[V | None, V], V] | None = None,
    ) -> None:
        """``merge(old, new)`` lets a view keep the winner instead of the last record (e.g. max epoch)."""
        self._topic = topic
        self._decode = decode
        self._merge = merge
        self._data: dict[str, V] = {}
        self._follower = LogFollower(bootstrap, topic, lambda _p, k, v: self._apply(k, v))
        self._listeners: list[Callable[[str, V | None], None]] = []

    def get(self, key: str) -> V | None:
        return self._data.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def items(self) -> Iterator[tuple[str, V]]:
        return iter(list(self._data.items()))

    def keys(self) -> list[str]:
        """A snapshot of the keys (cheaper than :meth:`items` when only they are needed)."""
        return list(self._data)

    def on_change(self, listener: Callable[[str, V | None], None]) -> None:
        self._listeners.append(listener)

    async def start(self, timeout: float = 60.0) -> None:
        await self._follower.start(timeout)

    async def wait_for_end(self, timeout: float = 60.0) -> None:
        await self._follower.wait_for_end(timeout=timeout)

    def _apply(self, raw_key: bytes | None, raw_value: bytes | None) -> None:
        if raw_key is None:
            return
        key = raw_key.decode()
        if raw_value is None:
            if self._data.pop(key, None) is not None:
                self._notify(key, None)
            return
        # A record that does not decode raises to the follower, which reports it with its position.
        value = self._decode(raw_value)
        if self._merge is not None:
            value = self._merge(self._data.get(key), value)
        self._data[key] = value
        self._notify(key, value)

    def _notify(self, key: str, value: V | None) -> None:
        for listener in self._listeners:
            listener(key, value)

    async def stop(self) -> None:
        await self._follower.stop()
