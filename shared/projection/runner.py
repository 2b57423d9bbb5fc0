"""Runs a process's projections: apply batches from Kafka with their offsets in one transaction per
projection, survive outages, dead-letter records PostgreSQL refuses or nothing can decode (ADR 0018,
ADR 0025). The projections of one process share one consumer (ADR 0041): one fetch feeds them all,
and each skips what it has already applied (its own offsets)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.config import Settings
from shared.dberrors import is_poison, is_transient
from shared.events import undecodable
from shared.events.deadletters import DeadLetter, encode_dead_letter
from shared.events.topics import Topics
from shared.events.versioned import UndecodableRecord
from shared.kafka import Wake, ensure_topics, make_consumer, make_producer
from shared.projection.base import Projection
from shared.projection.bookkeeping import (
    OFFSETS_DDL,
    SHAPES_DDL,
    create_bookkeeping,
    drop_projection,
    shape_of,
)
from shared.projection.pool import DbTarget, connect_pool

log = logging.getLogger(__name__)


def dead_letter(projection: str, record: ConsumerRecord, exc: BaseException) -> DeadLetter:
    """What the dead-letter topic keeps of a record ``projection`` could not apply."""
    sqlstate = getattr(exc, "sqlstate", None)
    return DeadLetter(
        projection=projection,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        error=f"{type(exc).__name__}: {exc}",
        sqlstate=sqlstate if isinstance(sqlstate, str) else None,
        timestamp_ms=record.timestamp,
        key=record.key,
        value=record.value,
    )


class ProjectionRunner:
    @property
    def name(self) -> str:
        """The projections it runs, for logs."""
        return ",".join(p.name for p in self.projections)

    def __init__(
        self,
        projection: Projection | Sequence[Projection],
        bootstrap: str,
        target: DbTarget,
        *,
        dead_letters: str | None = None,
        replication_factor: int = 1,
    ) -> None:
        self.projections: list[Projection] = (
            list(projection) if isinstance(projection, Sequence) else [projection]
        )
        self.bootstrap = bootstrap
        self.target = target
        self.dead_letters = dead_letters or Topics().dead_letters
        self.replication_factor = replication_factor
        self._stopping = asyncio.Event()
        self._positions: dict[TopicPartition, int] = {}
        self.applied = 0  # records applied since start, for progress and benchmarks
        self.dead_lettered = 0  # records refused since start (each also logged as an error)
        self.outages = 0  # times the runner lost PostgreSQL or Kafka and started over

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, *, until_caught_up: bool = False) -> None:
        """Apply forever (or until the end offsets seen at start, for a rebuild); survive DB outages."""
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self._run_once(until_caught_up)
                return
            except Exception as exc:
                # A record's own fault never gets here (``_apply`` dead-letters it), so anything
                # else is an outage of PostgreSQL or Kafka: wait, reconnect, resume from the
                # stored offsets. Nothing may end the process (ADR 0018).
                self.outages += 1
                if not is_transient(exc):
                    log.exception("projection %s failed; restarting it", self.name)
                log.warning(
                    "projection %s: database unavailable (%s); retrying in %.1fs",
                    self.name,
                    exc,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, 10.0)

    async def _run_once(self, until_caught_up: bool) -> None:
        pool = await connect_pool(self.target, private=True)
        consumer = make_consumer(
            self.bootstrap,
            # A read model lags by up to a batch's wait: one transaction per batch, not per record.
            wake=Wake.BATCH,
            max_poll_records=5000,
            # A rebuild reads millions of records: big fetches, few round trips.
            max_partition_fetch_bytes=8 * 2**20,
            fetch_max_bytes=64 * 2**20,
        )
        try:
            known: dict[str, dict[TopicPartition, int]] = {}
            for projection in self.projections:
                known[projection.name] = await self._prepare(pool, projection)
            await consumer.start()
            partitions = await self._partitions(consumer)
            log_ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
            for projection in self.projections:
                if any(offset > log_ends.get(tp, 0) for tp, offset in known[projection.name].items()):
                    # The projection has seen more than the log holds: the log was reset (a new
                    # cluster, a wiped dev broker). Its rows describe another history: rebuild.
                    log.error(
                        "projection %s is ahead of the log; rebuilding it from offset 0", projection.name
                    )
                    await drop_projection(pool, projection)
                    async with pool.acquire() as conn:
                        for statement in projection.ddl():
                            await conn.execute(statement)
                    known[projection.name] = {}
            ends = log_ends if until_caught_up else {}
            # Positions are set before the first fetch goes out (no await in between): a seek after
            # it would wait behind that fetch, parked at the broker. A partition starts where the
            # projection furthest behind on it stands; without a stored offset, at the beginning
            # (no group: auto_offset_reset).
            consumer.assign(partitions)
            for tp in partitions:
                readers = [known[p.name] for p in self.projections if tp.topic in p.topics()]
                if all(tp in offsets for offsets in readers):
                    consumer.seek(tp, min(offsets[tp] for offsets in readers))
            while not self._stopping.is_set():
                if until_caught_up and await self._caught_up(consumer, ends):
                    return
                batches = await consumer.getmany(timeout_ms=1000)
                if not batches:
                    continue
                for projection in self.projections:
                    offsets = known[projection.name]
                    mine = {
                        tp: [r for r in records if r.offset >= offsets.get(tp, 0)]
                        for tp, records in batches.items()
                        if tp.topic in projection.topics()
                    }
                    mine = {tp: records for tp, records in mine.items() if records}
                    if mine:
                        await self._apply(pool, projection, mine)
                        offsets.update({tp: records[-1].offset + 1 for tp, records in mine.items()})
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            pool.terminate()  # close() would wait on connections to a server that may be gone

    async def _prepare(self, pool: asyncpg.Pool, projection: Projection) -> dict[TopicPartition, int]:
        """Check the projection's shape, create its tables, and return its stored offsets."""
        await self._check_shape(pool, projection)
        async with pool.acquire() as conn:
            await create_bookkeeping(conn, OFFSETS_DDL)
            for statement in projection.ddl():
                await conn.execute(statement)
            stored = await conn.fetch(
                "SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = $1",
                projection.name,
            )
        return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in stored}

    @staticmethod
    async def _check_shape(pool: asyncpg.Pool, projection: Projection) -> None:
        """A projection whose shape (DDL, version) is not the one its rows were written with is
        dropped and rebuilt from offset 0: old rows would not equal what a replay writes."""
        shape = shape_of(projection)
        async with pool.acquire() as conn:
            await create_bookkeeping(conn, SHAPES_DDL)
            stored = await conn.fetchval(
                "SELECT shape FROM projection_shapes WHERE projection = $1", projection.name
            )
        if stored == shape:
            return
        if stored is not None:
            log.warning("projection %s changed shape; rebuilding it from offset 0", projection.name)
        await drop_projection(pool, projection)
        async with pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO projection_shapes (projection, shape) VALUES ($1, $2)
                   ON CONFLICT (projection) DO UPDATE SET shape = $2""",
                projection.name,
                shape,
            )

    @staticmethod
    async def _caught_up(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
        for tp, end in ends.items():
            position: int = await consumer.position(tp)
            if position < end:
                return False
        return True

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        result: list[TopicPartition] = []
        for topic in dict.fromkeys(t for p in self.projections for t in p.topics()):
            parts = None
            for _ in range(100):
                parts = consumer.partitions_for_topic(topic)
                if parts:
                    break
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.1)
            if not parts:
                raise RuntimeError(f"topic {topic} does not exist")
            result += [TopicPartition(topic, p) for p in sorted(parts)]
        return result

    async def _apply(
        self,
        pool: asyncpg.Pool,
        projection: Projection,
        batches: dict[TopicPartition, list[ConsumerRecord]],
    ) -> None:
        records = [r for rs in batches.values() for r in rs]
        try:
            async with pool.acquire() as conn, conn.transaction():
                await projection.apply(conn, records)
                await self._store_offsets(conn, projection, batches)
        except Exception as exc:
            if not is_poison(exc):
                raise
            log.warning(
                "projection %s: a record of a batch of %d was refused (%s); applying them one by one",
                projection.name,
                len(records),
                exc,
            )
            await self._apply_one_by_one(pool, projection, batches, records)
        self.applied += len(records)

    async def _apply_one_by_one(
        self,
        pool: asyncpg.Pool,
        projection: Projection,
        batches: dict[TopicPartition, list[ConsumerRecord]],
        records: list[ConsumerRecord],
    ) -> None:
        """Apply each record in its own savepoint; those PostgreSQL refuses are dead-lettered (sent
        and acknowledged before the offsets commit, so none is lost; a crash in between sends it
        again: readers deduplicate by source topic, partition and offset)."""
        letters: list[DeadLetter] = []
        async with pool.acquire() as conn, conn.transaction():
            for record in records:
                try:
                    async with conn.transaction():
                        await projection.apply(conn, [record])
                except Exception as exc:
                    if not is_poison(exc):
                        raise
                    if isinstance(exc, UndecodableRecord):  # kept in the dead letter, and counted
                        undecodable.report(record.topic, record.partition, record.offset, exc)
                    letters.append(dead_letter(projection.name, record, exc))
            if letters:
                await self._publish(projection, letters)
            await self._store_offsets(conn, projection, batches)
        for letter in letters:
            # The alert: an operator must look at it (csms.deadletters holds the record).
            log.error(
                "projection %s: dead-lettered %s[%d]@%d: %s",
                letter.projection,
                letter.topic,
                letter.partition,
                letter.offset,
                letter.error,
            )
        self.dead_lettered += len(letters)

    async def _publish(self, projection: Projection, letters: Sequence[DeadLetter]) -> None:
        """Dead letters are rare: a producer per poisoned batch costs nothing in the steady state."""
        await ensure_topics(
            self.bootstrap, [Topics().dead_letter_spec(self.dead_letters)], self.replication_factor
        )
        producer = make_producer(self.bootstrap, client_id=f"deadletters-{projection.name}")
        await producer.start()
        try:
            for letter in letters:
                await producer.send_and_wait(
                    self.dead_letters, encode_dead_letter(letter), key=projection.name.encode()
                )
        finally:
            await producer.stop()

    @staticmethod
    async def _store_offsets(
        conn: asyncpg.Connection,
        projection: Projection,
        batches: dict[TopicPartition, list[ConsumerRecord]],
    ) -> None:
        await conn.executemany(
            """INSERT INTO projection_offsets (projection, topic, partition, next_offset)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset""",
            [
                (projection.name, tp.topic, tp.partition, rs[-1].offset + 1)
                for tp, rs in batches.items()
                if rs
            ],
        )


def projection_runners(projections: Sequence[Projection], settings: Settings) -> list[ProjectionRunner]:
    """The process's projections in one runner (one consumer), writing into the configured
    database and schema; none for none."""
    if not projections:
        return []
    target = DbTarget(settings.database_url, settings.db_schema)
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    return [
        ProjectionRunner(
            projections,
            settings.kafka_bootstrap,
            target,
            dead_letters=topics.dead_letters,
            replication_factor=settings.replication_factor,
        )
    ]
