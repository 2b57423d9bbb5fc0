"""Projections: read models in PostgreSQL, built from Kafka, rebuildable at any time.

Each projection writes its rows and the Kafka offsets it consumed in ONE transaction
(``projection_offsets``), and on start seeks to the stored offsets rather than a consumer group's:
a redelivered record is never applied twice, and a crash between Kafka and PostgreSQL loses nothing.
When PostgreSQL is unavailable the runner waits and retries from the last stored offsets, so the
OCPP path (which never touches PostgreSQL) keeps answering and projections catch up afterwards.
A record PostgreSQL refuses (shared/dberrors.py: poison, not an outage) is not retried forever: the
batch is re-applied record by record in savepoints, the bad record goes to the dead-letter topic with
the reason, and the rest are applied (ADR 0018).

Rebuild (``csms replay``): a projection is written into its own PostgreSQL schema; replaying into an
empty schema from offset 0 yields the same rows as the live one (tests/e2e/test_stations_projection.py).
A projection whose shape (its DDL and ``version``) differs from the one its rows were written with
(``projection_shapes``) is dropped and rebuilt from offset 0 when it starts: a new release never
serves rows an older one wrote differently.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.config import Settings
from shared.dberrors import is_poison, is_transient
from shared.events.deadletters import DeadLetter, encode_dead_letter
from shared.events.envelope import Direction, FrameRecord, FramesRecord, decode_frame_record
from shared.events.topics import Topics
from shared.kafka import connection, ensure_topics, make_producer
from shared.ocpp.errors import OcppError
from shared.ocpp.frames import Call, CallError, CallResult, Frame, FrameError, parse_frame
from shared.ocpp.v16 import codec

log = logging.getLogger(__name__)

OFFSETS_DDL = """
CREATE TABLE IF NOT EXISTS projection_offsets (
    projection text NOT NULL,
    topic text NOT NULL,
    partition int NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (projection, topic, partition)
)"""


# CREATE TABLE IF NOT EXISTS is not safe against itself: projections starting together may each try
# to create the bookkeeping tables, and all but one fail on pg_type's unique index. One lock
# (this project's own number) serializes that DDL.
_BOOKKEEPING_LOCK = 0x63736D73


async def create_bookkeeping(conn: asyncpg.Connection, ddl: str) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _BOOKKEEPING_LOCK)
        await conn.execute(ddl)


SHAPES_DDL = """
CREATE TABLE IF NOT EXISTS projection_shapes (
    projection text PRIMARY KEY,
    shape text NOT NULL
)"""


class Projection(Protocol):
    name: str
    # Bump when what ``apply`` writes changes while the DDL does not (the DDL is part of the shape).
    version: int

    def topics(self) -> Sequence[str]: ...

    def ddl(self) -> Sequence[str]:
        """Idempotent CREATE statements; a projection whose shape changes is dropped and replayed."""

    def tables(self) -> Sequence[str]:
        """Its tables, for a rebuild (dropped in this order)."""

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        """Apply records in log order, inside the runner's transaction. Must be deterministic."""


@dataclass(frozen=True)
class DbTarget:
    url: str
    schema: str = "csms"


async def _no_reset(conn: asyncpg.Connection) -> None:
    return None


async def connect_pool(
    target: DbTarget, *, min_size: int = 1, max_size: int = 4, private: bool = False
) -> asyncpg.Pool:
    """A pool whose connections see ``target.schema`` first (created if missing).

    ``private``: only one component uses it and leaves no session state behind, so the reset asyncpg
    runs on every release (a round trip per batch) is skipped.
    """
    conn = await asyncpg.connect(target.url)
    try:
        # IF NOT EXISTS still races with a concurrent creator; the loser's error means "exists".
        with contextlib.suppress(asyncpg.UniqueViolationError):
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{target.schema}"')
    finally:
        await conn.close()
    pool: asyncpg.Pool = await asyncpg.create_pool(
        target.url,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": target.schema},
        command_timeout=30,
        **({"reset": _no_reset} if private else {}),
    )
    return pool


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
    def __init__(
        self,
        projection: Projection,
        bootstrap: str,
        target: DbTarget,
        *,
        dead_letters: str | None = None,
        replication_factor: int = 1,
    ) -> None:
        self.projection = projection
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
                    log.exception("projection %s failed; restarting it", self.projection.name)
                log.warning(
                    "projection %s: database unavailable (%s); retrying in %.1fs",
                    self.projection.name,
                    exc,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, 10.0)

    async def _run_once(self, until_caught_up: bool) -> None:
        pool = await connect_pool(self.target, private=True)
        consumer = AIOKafkaConsumer(
            **connection(),
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
            max_poll_records=5000,
            # A rebuild reads millions of records: big fetches, few round trips.
            max_partition_fetch_bytes=8 * 2**20,
            fetch_max_bytes=64 * 2**20,
            isolation_level="read_committed",
        )
        try:
            await self._check_shape(pool)
            async with pool.acquire() as conn:
                await create_bookkeeping(conn, OFFSETS_DDL)
                for statement in self.projection.ddl():
                    await conn.execute(statement)
                stored = await conn.fetch(
                    "SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = $1",
                    self.projection.name,
                )
            await consumer.start()
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            known = {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in stored}
            log_ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
            if any(offset > log_ends.get(tp, 0) for tp, offset in known.items()):
                # The projection has seen more than the log holds: the log was reset (a new
                # cluster, a wiped dev broker). Its rows describe another history: rebuild.
                log.error(
                    "projection %s is ahead of the log; rebuilding it from offset 0", self.projection.name
                )
                await drop_projection(pool, self.projection)
                async with pool.acquire() as conn:
                    for statement in self.projection.ddl():
                        await conn.execute(statement)
                known = {}
            for tp in partitions:
                if tp in known:
                    consumer.seek(tp, known[tp])
                else:
                    await consumer.seek_to_beginning(tp)
            ends: dict[TopicPartition, int] = (
                await consumer.end_offsets(partitions) if until_caught_up else {}
            )
            while not self._stopping.is_set():
                if until_caught_up and await self._caught_up(consumer, ends):
                    return
                batches = await consumer.getmany(timeout_ms=200)
                if not batches:
                    continue
                await self._apply(pool, batches)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            pool.terminate()  # close() would wait on connections to a server that may be gone

    async def _check_shape(self, pool: asyncpg.Pool) -> None:
        """A projection whose shape (DDL, version) is not the one its rows were written with is
        dropped and rebuilt from offset 0: old rows would not equal what a replay writes."""
        shape = shape_of(self.projection)
        async with pool.acquire() as conn:
            await create_bookkeeping(conn, SHAPES_DDL)
            stored = await conn.fetchval(
                "SELECT shape FROM projection_shapes WHERE projection = $1", self.projection.name
            )
        if stored == shape:
            return
        if stored is not None:
            log.warning("projection %s changed shape; rebuilding it from offset 0", self.projection.name)
        await drop_projection(pool, self.projection)
        async with pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO projection_shapes (projection, shape) VALUES ($1, $2)
                   ON CONFLICT (projection) DO UPDATE SET shape = $2""",
                self.projection.name,
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
        for topic in self.projection.topics():
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

    async def _apply(self, pool: asyncpg.Pool, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        records = [r for rs in batches.values() for r in rs]
        try:
            async with pool.acquire() as conn, conn.transaction():
                await self.projection.apply(conn, records)
                await self._store_offsets(conn, batches)
        except Exception as exc:
            if not is_poison(exc):
                raise
            log.warning(
                "projection %s: a record of a batch of %d was refused (%s); applying them one by one",
                self.projection.name,
                len(records),
                exc,
            )
            await self._apply_one_by_one(pool, batches, records)
        self.applied += len(records)

    async def _apply_one_by_one(
        self,
        pool: asyncpg.Pool,
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
                        await self.projection.apply(conn, [record])
                except Exception as exc:
                    if not is_poison(exc):
                        raise
                    letters.append(dead_letter(self.projection.name, record, exc))
            if letters:
                await self._publish(letters)
            await self._store_offsets(conn, batches)
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

    async def _publish(self, letters: Sequence[DeadLetter]) -> None:
        """Dead letters are rare: a producer per poisoned batch costs nothing in the steady state."""
        await ensure_topics(
            self.bootstrap, [Topics().dead_letter_spec(self.dead_letters)], self.replication_factor
        )
        producer = make_producer(self.bootstrap, client_id=f"deadletters-{self.projection.name}")
        await producer.start()
        try:
            for letter in letters:
                await producer.send_and_wait(
                    self.dead_letters, encode_dead_letter(letter), key=self.projection.name.encode()
                )
        finally:
            await producer.stop()

    async def _store_offsets(
        self, conn: asyncpg.Connection, batches: dict[TopicPartition, list[ConsumerRecord]]
    ) -> None:
        await conn.executemany(
            """INSERT INTO projection_offsets (projection, topic, partition, next_offset)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset""",
            [
                (self.projection.name, tp.topic, tp.partition, rs[-1].offset + 1)
                for tp, rs in batches.items()
                if rs
            ],
        )


def shape_of(projection: Projection) -> str:
    """What a projection's rows depend on besides the log: its DDL and its version."""
    text = "\n".join([str(projection.version), *projection.ddl()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def drop_projection(pool: asyncpg.Pool, projection: Projection) -> None:
    """Forget a projection entirely, so the next run rebuilds it from offset 0."""
    async with pool.acquire() as conn, conn.transaction():
        for table in projection.tables():
            await conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
        await create_bookkeeping(conn, OFFSETS_DDL)
        await conn.execute("DELETE FROM projection_offsets WHERE projection = $1", projection.name)


def as_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def opt(value: object) -> Any:
    """An OCPP optional field as a column value: UNSET becomes NULL."""
    return None if value is msgspec.UNSET else value


def call_payload(
    record: FramesRecord | None, actions: Container[str], direction: Direction
) -> tuple[FrameRecord, Any] | None:
    """The decoded payload of a CALL record of ``actions`` in ``direction``; None for anything else."""
    if not (
        isinstance(record, FrameRecord)
        and record.direction is direction
        and record.message_type == 2
        and record.error_code is None
        and record.action in actions
    ):
        return None
    assert record.action is not None
    try:
        frame = parse_frame(record.raw)
        if not isinstance(frame, Call):
            return None
        return record, codec.decode_request(record.action, bytes(frame.payload))
    except (FrameError, OcppError):
        return None


def frames_of(
    batch: Sequence[ConsumerRecord], actions: Container[str]
) -> Iterator[tuple[FrameRecord, Frame]]:
    """The valid frames of ``actions`` (CALLs and the answers to them) in a batch, parsed; a frame the
    gateway found invalid, or one without a message id, is skipped."""
    for msg in batch:
        record = decode_frame_record(msg.value)
        if (
            not isinstance(record, FrameRecord)
            or record.action not in actions
            or record.error_code is not None
            or record.unique_id is None
        ):
            continue
        try:
            yield record, parse_frame(record.raw)
        except FrameError:
            continue


def pending_calls_ddl(table: str) -> str:
    """A table of CALLs sent and not yet answered, for projections that pair answers with requests."""
    return f"""CREATE TABLE IF NOT EXISTS {table} (
        station_id text NOT NULL,
        epoch bigint NOT NULL,
        unique_id text NOT NULL,
        action text NOT NULL,
        request jsonb NOT NULL,
        PRIMARY KEY (station_id, epoch, unique_id)
    )"""


async def remember_call(conn: asyncpg.Connection, table: str, record: FrameRecord, frame: Call) -> None:
    """Keep a CALL until its answer comes (a redelivered frame is a no-op)."""
    await conn.execute(
        f"""INSERT INTO {table} (station_id, epoch, unique_id, action, request)
            VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING""",
        record.station_id,
        record.epoch,
        record.unique_id,
        frame.action,
        bytes(frame.payload).decode(),
    )


async def answered_call(
    conn: asyncpg.Connection, table: str, record: FrameRecord, frame: CallResult | CallError
) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(action, request, response) for an answer to a CALL kept in ``table`` (paired by connection
    epoch and message id), which is removed; the response is {} for a CALLERROR."""
    row = await conn.fetchrow(
        f"""DELETE FROM {table} WHERE station_id = $1 AND epoch = $2 AND unique_id = $3
            RETURNING action, request""",
        record.station_id,
        record.epoch,
        record.unique_id,
    )
    if row is None:
        return None
    request = msgspec.json.decode(row["request"])
    response = msgspec.json.decode(bytes(frame.payload)) if isinstance(frame, CallResult) else {}
    return (
        row["action"],
        request if isinstance(request, dict) else {},
        response if isinstance(response, dict) else {},
    )


@dataclass(frozen=True)
class Rebuilt:
    projection: str
    records: int
    seconds: float


async def rebuild(
    projections: Sequence[Projection], bootstrap: str, target: DbTarget, *, dead_letters: str | None = None
) -> list[Rebuilt]:
    """Drop each projection and replay it from offset 0 into ``target`` (``csms replay``)."""
    results: list[Rebuilt] = []
    pool = await connect_pool(target)
    try:
        for projection in projections:
            await drop_projection(pool, projection)
            runner = ProjectionRunner(projection, bootstrap, target, dead_letters=dead_letters)
            started = asyncio.get_running_loop().time()
            await runner.run(until_caught_up=True)
            elapsed = asyncio.get_running_loop().time() - started
            results.append(Rebuilt(projection.name, runner.applied, elapsed))
            log.info("replayed %s: %d records in %.1fs", projection.name, runner.applied, elapsed)
    finally:
        await pool.close()
    return results


class TableProjection:
    """What every projection shares: its tables, their DDL, and the topics it reads (default: frames).

    Subclasses set ``name``, ``statements`` (idempotent DDL) and ``table_names`` (drop order), and
    implement ``apply``.
    """

    name: str
    version: int = 1
    statements: Sequence[str] = ()
    table_names: Sequence[str] = ()

    def __init__(self, topics: Topics) -> None:
        self._topics = topics

    def topics(self) -> Sequence[str]:
        return [self._topics.frames]

    def ddl(self) -> Sequence[str]:
        return self.statements

    def tables(self) -> Sequence[str]:
        return self.table_names


def projection_runners(projections: Sequence[Projection], settings: Settings) -> list[ProjectionRunner]:
    """One runner per projection, writing into the configured database and schema."""
    target = DbTarget(settings.database_url, settings.db_schema)
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    return [
        ProjectionRunner(
            p,
            settings.kafka_bootstrap,
            target,
            dead_letters=topics.dead_letters,
            replication_factor=settings.replication_factor,
        )
        for p in projections
    ]
