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

log = logging.getLogger(__name__)

V = TypeVar("V")


class CompactedView(Generic[V]):
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        decode: Callable[[bytes], V],
        *,
        merge: Callable[[V | None, V], V] | None = None,
    ) -> None:
        """``merge(old, new)`` lets a view keep the winner instead of the last record (e.g. max epoch)."""
        self._bootstrap = bootstrap
        self._topic = topic
        self._decode = decode
        self._merge = merge
        self._data: dict[str, V] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()
        self._listeners: list[Callable[[str, V | None], None]] = []

    def get(self, key: str) -> V | None:
        return self._data.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def items(self) -> Iterator[tuple[str, V]]:
        return iter(list(self._data.items()))

    def on_change(self, listener: Callable[[str, V | None], None]) -> None:
        self._listeners.append(listener)

    async def start(self, timeout: float = 60.0) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
        )
        await self._consumer.start()
        partitions = [TopicPartition(self._topic, p) for p in sorted(await self._partitions())]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(partitions)
        self._task = asyncio.create_task(self._follow(ends), name=f"view:{self._topic}")
        await asyncio.wait_for(self._caught_up.wait(), timeout)

    async def _partitions(self) -> set[int]:
        assert self._consumer is not None
        for _ in range(100):
            parts = self._consumer.partitions_for_topic(self._topic)
            if parts:
                return set(parts)
            await self._consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {self._topic} does not exist; run `csms topics create`")

    async def _follow(self, ends: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        pending = {tp for tp, end in ends.items() if end > 0}
        if not pending:
            self._caught_up.set()
        while True:
            batches = await self._consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                for msg in records:
                    self._apply(msg.key, msg.value)
                if tp in pending and records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
            if not pending:
                self._caught_up.set()

    def _apply(self, raw_key: bytes | None, raw_value: bytes | None) -> None:
        if raw_key is None:
            return
        key = raw_key.decode()
        if raw_value is None:
            if self._data.pop(key, None) is not None:
                self._notify(key, None)
            return
        try:
            value = self._decode(raw_value)
        except Exception:
            log.exception("bad record in %s for key %s", self._topic, key)
            return
        if self._merge is not None:
            value = self._merge(self._data.get(key), value)
        self._data[key] = value
        self._notify(key, value)

    def _notify(self, key: str, value: V | None) -> None:
        for listener in self._listeners:
            listener(key, value)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
