"""Gateway process: WebSocket server, Kafka producer, station registry view and its inbox consumer.

Life cycle: topics exist -> producer up -> registry caught up -> inbox positioned at its end ->
accept connections. On SIGTERM: stop accepting, close every station with 1001 (going away) so it
reconnects elsewhere, flush the producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from services.gateway.connection import LogUnavailable, StationConnection
from services.gateway.handshake import Admission, Refusal, admit
from shared.config import Settings
from shared.events.commands import InboxRecord, SendCall, StationReply, inbox_decoder
from shared.events.envelope import (
    ConnectionClosed,
    ConnectionOpened,
    DeliveryDropped,
    StationRegistration,
    encode,
    registration_decoder,
)
from shared.events.topics import Topics
from shared.kafka import connection, ensure_topics, make_producer
from shared.security import PasswordVerifier
from shared.tables import CompactedView

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Gateway:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix, settings.frame_partitions)
        self.gateway_id = settings.gateway_id
        self.inbox_topic = self.topics.gateway_inbox(self.gateway_id)
        self.clock = clock
        self.connections: dict[str, StationConnection] = {}
        # Connections with something that can time out; the ticker looks at these only.
        self._watched: set[StationConnection] = set()
        self.registry: CompactedView[StationRegistration] = CompactedView(
            settings.kafka_bootstrap, self.topics.stations, registration_decoder.decode
        )
        self.verifier = PasswordVerifier()
        self._producer: AIOKafkaProducer | None = None
        self._inbox: AIOKafkaConsumer | None = None
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        await ensure_topics(
            s.kafka_bootstrap,
            [*self.topics.shared_specs(), self.topics.ephemeral_spec(self.inbox_topic)],
            s.replication_factor,
        )
        self._producer = make_producer(s.kafka_bootstrap, client_id=f"gateway-{self.gateway_id}")
        await self._producer.start()
        await self.registry.start()
        self._inbox = AIOKafkaConsumer(
            **connection(),
            bootstrap_servers=s.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=5,
            isolation_level="read_committed",
        )
        await self._inbox.start()
        tp = TopicPartition(self.inbox_topic, 0)
        self._inbox.assign([tp])
        # Anything in the inbox from before this start was meant for connections that are gone.
        await self._inbox.seek_to_end(tp)
        await self._inbox.position(tp)
        self._tasks.append(asyncio.create_task(self._consume_inbox(), name="gateway-inbox"))
        self._tasks.append(asyncio.create_task(self._ticker(), name="gateway-ticker"))
        self._server = await serve(
            self._handle,
            s.gateway_host,
            s.gateway_port,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            process_request=self._process_request,
            compression=None,
            max_size=s.max_frame_bytes,
            max_queue=16,
            ping_interval=s.ping_interval,
            ping_timeout=s.ping_timeout,
            close_timeout=5,
            server_header=None,
        )
        log.info(
            "gateway %s listening on ws://%s:%s/ocpp/{chargePointId}",
            self.gateway_id,
            s.gateway_host,
            self.port,
        )

    @property
    def port(self) -> int:
        assert self._server is not None
        sockets = list(self._server.sockets)
        return int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Graceful: no new stations, 1001 to connected ones, then flush what they produced."""
        if self._server is not None:
            # Stops accepting and closes every connection, also one still registering, with 1001
            # (going away); handlers then log their `closed` records while the producer is up.
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._inbox is not None:
            await self._inbox.stop()
        await self.registry.stop()
        if self._producer is not None:
            await self._producer.flush()
            await self._producer.stop()
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    # -- Kafka ------------------------------------------------------------------------------------

    async def publish(
        self,
        value: bytes,
        station_id: str,
        headers: list[tuple[str, bytes]] | None = None,
        topic: str | None = None,
    ) -> RecordMetadata:
        """Append to ``ocpp.frames`` (or ``topic``) and wait for acks=all: the durability point.

        Bounded by ``log_timeout``: with too few in-sync replicas the idempotent producer retries
        forever, and a station must get an answer (LogUnavailable) instead of a hang.
        """
        assert self._producer is not None
        try:
            async with asyncio.timeout(self.settings.log_timeout):
                future = await self._producer.send(
                    topic or self.topics.frames, value, key=station_id.encode(), headers=headers or []
                )
                metadata: RecordMetadata = await future
        except (TimeoutError, KafkaError) as exc:
            raise LogUnavailable(f"Kafka did not acknowledge a frame of {station_id}: {exc!r}") from exc
        return metadata

    def publish_later(self, value: bytes, station_id: str) -> None:
        """Append to ``ocpp.frames`` when Kafka can take it, without waiting: the record of a frame
        that had to be sent unlogged (the producer keeps the order of what it was given)."""

        async def send() -> None:
            assert self._producer is not None
            try:
                await self._producer.send(self.topics.frames, value, key=station_id.encode())
            except KafkaError:
                log.exception("could not queue the record of an unlogged frame of %s", station_id)

        task = asyncio.get_running_loop().create_task(send())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def publish_nowait(self, topic: str, key: str, value: bytes) -> None:
        assert self._producer is not None
        await self._producer.send(topic, value, key=key.encode())

    # -- WebSocket ---------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        decision = admit(
            request.path,
            request.headers.get("Authorization"),
            self._registration_for(request.path),
            auto_register=self.settings.auto_register,
            verifier=self.verifier,
        )
        if isinstance(decision, Refusal):
            response = connection.respond(decision.status, decision.reason + "\n")
            if decision.status == HTTPStatus.UNAUTHORIZED:
                response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
            return response
        connection.admission = decision  # type: ignore[attr-defined]
        return None

    def _registration_for(self, path: str) -> StationRegistration | None:
        from services.gateway.handshake import station_id_from_path

        try:
            station_id = station_id_from_path(path)
        except UnicodeDecodeError:
            return None
        return self.registry.get(station_id) if station_id else None

    async def _handle(self, ws: ServerConnection) -> None:
        admission: Admission = ws.admission  # type: ignore[attr-defined]
        station_id = admission.station_id
        connection_id = uuid.uuid4().hex
        remote = ws.remote_address
        opened = ConnectionOpened(
            station_id=station_id,
            gateway_id=self.gateway_id,
            connection_id=connection_id,
            at_ms=now_ms(),
            remote=f"{remote[0]}:{remote[1]}" if remote else None,
            authenticated=admission.authenticated,
        )
        try:
            metadata = await self.publish(encode(opened), station_id)
        except LogUnavailable as exc:
            # No epoch without the log: the station retries its connection later (RFC 6455 1011).
            log.warning("refusing %s: %s", station_id, exc)
            await ws.close(1011, "central system log unavailable")
            return
        epoch = metadata.offset
        conn = StationConnection(self, ws, station_id, connection_id, epoch)
        previous = self.connections.get(station_id)
        self.connections[station_id] = conn
        if previous is not None:
            # A second connection with the same identity replaces the first (the station rebooted
            # or its old TCP connection is half-open).
            await previous.close(1000, "replaced by a newer connection")
        log.info("station %s connected (epoch %s)", station_id, epoch)
        close_code: int | None = None
        close_reason = ""
        try:
            await conn.run()
        finally:
            if self.connections.get(station_id) is conn:
                del self.connections[station_id]
            if ws.close_code is not None:
                close_code, close_reason = ws.close_code, ws.close_reason or ""
            conn.abandon()
            closed = ConnectionClosed(
                station_id=station_id,
                gateway_id=self.gateway_id,
                connection_id=connection_id,
                epoch=epoch,
                at_ms=now_ms(),
                code=close_code,
                reason=close_reason,
            )
            try:
                await self.publish(encode(closed), station_id)
            except LogUnavailable:
                self.publish_later(encode(closed), station_id)
            log.info("station %s disconnected (epoch %s, code %s)", station_id, epoch, close_code)

    # -- inbox: replies from services, commands from operators -------------------------------------

    async def _consume_inbox(self) -> None:
        assert self._inbox is not None
        while True:
            batches = await self._inbox.getmany(timeout_ms=500)
            for records in batches.values():
                for msg in records:
                    try:
                        item: InboxRecord = inbox_decoder.decode(msg.value)
                    except Exception:
                        log.exception("undecodable inbox record at offset %s", msg.offset)
                        continue
                    try:
                        await self._dispatch(item, msg.headers or ())
                    except Exception:
                        log.exception("failed to dispatch inbox record at offset %s", msg.offset)

    async def _dispatch(self, item: InboxRecord, headers: object) -> None:
        conn = self.connections.get(item.station_id)
        target_epoch = item.epoch
        if conn is None or (target_epoch is not None and conn.epoch != target_epoch):
            await self._drop(item, conn)
            return
        if isinstance(item, StationReply):
            conn.deliver_reply(item, headers)  # type: ignore[arg-type]
        else:
            await conn.send_command(item)

    async def _drop(self, item: InboxRecord, conn: StationConnection | None) -> None:
        """The addressed connection is gone or replaced: never deliver to another one; report."""
        dropped = DeliveryDropped(
            station_id=item.station_id,
            gateway_id=self.gateway_id,
            at_ms=now_ms(),
            target_epoch=item.epoch if item.epoch is not None else -1,
            current_epoch=conn.epoch if conn is not None else None,
            unique_id=item.unique_id if isinstance(item, StationReply) else None,
            command_id=item.command_id if isinstance(item, SendCall) else None,
            reason="connection replaced" if conn is not None else "not connected to this gateway",
        )
        log.warning("dropped %s for %s: %s", type(item).__name__, item.station_id, dropped.reason)
        await self.publish(encode(dropped), item.station_id)
        if isinstance(item, SendCall):
            from shared.events.commands import CommandOutcome, OutcomeStatus

            outcome = CommandOutcome(
                command_id=item.command_id,
                station_id=item.station_id,
                status=OutcomeStatus.UNDELIVERABLE,
                error_description=dropped.reason,
                at_ms=now_ms(),
            )
            await self.publish_nowait(item.reply_to, item.station_id, encode(outcome))

    def watch(self, conn: StationConnection) -> None:
        self._watched.add(conn)

    async def _ticker(self) -> None:
        """Drive timeouts: one task for all connections instead of a timer per connection."""
        while True:
            await asyncio.sleep(0.25)
            now = self.clock()
            for conn in list(self._watched):
                try:
                    await conn.tick(now)
                except Exception:
                    log.exception("tick failed for %s", conn.station_id)
                if not conn.has_deadlines() or conn.abandoned:
                    self._watched.discard(conn)
