"""Gateway process: WebSocket server, Kafka producer, station registry view and its inbox consumer.

Life cycle: topics exist -> producer up -> registry caught up -> inbox positioned at its end ->
accept connections. On SIGTERM: stop accepting, close every station with 1001 (going away) so it
reconnects elsewhere, flush the producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import ssl
import sys
import uuid
import weakref
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from cryptography import x509
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed as SocketClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from services.gateway import profiles
from services.gateway.connection import StationConnection
from services.gateway.handshake import (
    Admission,
    PasswordCheck,
    Refusal,
    finish_admit,
    pre_admit,
    station_id_from_path,
)
from services.gateway.keepalive import KeepaliveSchedule
from services.gateway.logstate import LogCircuit, LogRefused, LogUnavailable
from services.gateway.throttle import FailureThrottle
from services.gateway.tls import ReloadingContext, TransportSecurity, server_files, transport_security
from shared import certificates, metrics
from shared.clock import SYSTEM, Clock
from shared.config import Settings
from shared.events import undecodable
from shared.events.commands import InboxRecord, SendCall, StationReply, inbox_decoder
from shared.events.envelope import (
    ConnectionClosed,
    ConnectionOpened,
    ConnectionRefused,
    DeliveryDropped,
    SecurityEvent,
    StationRegistration,
    encode,
    presence_decoder,
    registration_decoder,
)
from shared.events.security import StationSecurity, security_decoder
from shared.events.topics import Topics
from shared.events.versioned import UndecodableRecord, UnknownRecordType
from shared.kafka import ensure_topics, make_consumer, make_producer
from shared.security import PasswordVerifier
from shared.tables import CompactedView

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
# RFC 6455 7.4.1 "protocol error": no OCPP version was agreed, so nothing else may follow (ADR 0019).
NO_SUBPROTOCOL_CLOSE = 1002
# GET on the station port: whether this gateway can log (for probes and load balancers, ADR 0023).
HEALTH_PATH = "/health"
# Records of unlogged frames held while the log is down (about 0.5 KiB each), and appended per batch.
UNLOGGED_QUEUE_MAX = 100_000
UNLOGGED_BATCH = 500


def select_subprotocol(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """``ocpp1.6`` when offered; otherwise None, so the handshake completes without the header.

    OCPP-J 1.6 section 3.2: a Central System that does not agree to one of the offered subprotocols
    "MUST complete the WebSocket handshake with a response without a Sec-WebSocket-Protocol header and
    then immediately close". websockets' default answers HTTP 400 instead; the close follows in
    :meth:`Gateway._handle`. The same applies when nothing is offered (ADR 0019).
    """
    return Subprotocol(SUBPROTOCOL) if SUBPROTOCOL in offered else None


# One write the gateway waits for: topic, value, key (the station id), headers.
Write = tuple[str, bytes, str, list[tuple[str, bytes]]]


def _described(records: list[Write]) -> str:
    """Which writes an error is about (only formatted when one happens, never on the hot path)."""
    first = f"a frame of {records[0][2]}"
    return first if len(records) == 1 else f"{len(records)} records, the first {first}"


def _boot_status_of(raw: bytes) -> str:
    """A presence record's boot status ("" before the first boot), interned."""
    return sys.intern(presence_decoder.decode(raw).boot_status or "")


@dataclass(slots=True)
class _Admitted:
    admission: Admission
    security: TransportSecurity | None
    profile: profiles.Admitted | None


class Gateway:
    def __init__(self, settings: Settings, *, clock: Clock = SYSTEM) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix, settings.frame_partitions)
        self.gateway_id = settings.gateway_id
        self.inbox_topic = self.topics.gateway_inbox(self.gateway_id)
        self.clock = clock.monotonic
        self.now_ms = clock.now_ms
        self.connections: dict[str, StationConnection] = {}
        # Connections with something that can time out; the ticker looks at these only.
        self._watched: set[StationConnection] = set()
        # OCPP-J 5.3: WebSocket pings find a station whose TCP connection died silently.
        self._pings: KeepaliveSchedule[StationConnection] = KeepaliveSchedule(
            settings.ping_interval, settings.ping_timeout
        )
        self._closing: set[asyncio.Task[None]] = set()
        self.registry: CompactedView[StationRegistration] = CompactedView(
            settings.kafka_bootstrap, self.topics.stations, registration_decoder.decode
        )
        # The registration status of every station (ocpp.presence boot_status), and what this
        # gateway itself relayed since: a boot answered on one connection holds on the next.
        # Only the status is kept, one shared string per status: a whole Presence is 0.7 KB
        # more for each station (ADR 0042).
        self.boot_statuses: CompactedView[str] = CompactedView(
            settings.kafka_bootstrap, self.topics.presence, _boot_status_of
        )
        self._boot_answers: dict[str, str] = {}
        # Each station's security profile (ADR 0037), what this gateway wrote itself (in force at
        # once, before its own view reads it back), and which station each known serial number
        # (a certificate's CN) belongs to: one certificate per station.
        self.security: CompactedView[StationSecurity] = CompactedView(
            settings.kafka_bootstrap, self.topics.security, security_decoder.decode
        )
        self._security_written: dict[str, StationSecurity] = {}
        self._serials: dict[str, str] = {}
        self._serial_of: dict[str, str] = {}
        self.security.on_change(self._index_serial)
        self.trusted_proxies = profiles.trusted_networks(settings.gateway_trusted_proxies)
        self._client_ca: x509.Certificate | None = None
        self.verifier = PasswordVerifier()
        # Upgrade requests being decided right now (admission control, ADR 0021).
        self.handshaking = 0
        # What admission decided about an upgrade, for its handler. Kept beside the connection,
        # not as attributes on it: an attribute its class does not define costs every connection
        # its own instance dict (1.5 KB measured, ADR 0042). Weak: a failed handshake leaves none.
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, _Admitted] = weakref.WeakKeyDictionary()
        self._hash_pool = ThreadPoolExecutor(settings.auth_hash_workers, thread_name_prefix="gateway-auth")
        self._station_failures = FailureThrottle(
            settings.auth_failures_per_station, settings.auth_failure_window
        )
        self._address_failures = FailureThrottle(
            settings.auth_failures_per_address, settings.auth_failure_window
        )
        self._producer: AIOKafkaProducer | None = None
        self._inbox: AIOKafkaConsumer | None = None
        self._server: Server | None = None
        # The wss listener (ADR 0035) and its certificates, reloaded when their files change.
        self._tls_server: Server | None = None
        self.tls: ReloadingContext | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Whether the log takes writes (a write failed: refuse at once, probe; ADR 0023), and the
        # records of frames sent or refused while it did not, appended in order once it does.
        self.log_circuit = LogCircuit()
        self._unlogged: deque[tuple[bytes, str]] = deque()
        self._unlogged_dropped = 0
        self._unlogged_ready = asyncio.Event()

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
        await self.boot_statuses.start()
        await self.security.start()
        # Anything in the inbox from before this start was meant for connections that are gone:
        # with no group, "latest" puts the first fetch at the end.
        self._inbox = make_consumer(s.kafka_bootstrap, auto_offset_reset="latest")
        await self._inbox.start()
        tp = TopicPartition(self.inbox_topic, 0)
        self._inbox.assign([tp])
        await self._inbox.position(tp)
        self._tasks.append(asyncio.create_task(self._consume_inbox(), name="gateway-inbox"))
        self._tasks.append(asyncio.create_task(self._ticker(), name="gateway-ticker"))
        self._tasks.append(asyncio.create_task(self._keepalive(), name="gateway-keepalive"))
        self._tasks.append(asyncio.create_task(self._append_unlogged(), name="gateway-unlogged"))
        if s.gateway_tls_port >= 0:
            # Making the development certificates (RSA key generation) takes a moment: off the loop.
            self.tls = ReloadingContext(await asyncio.to_thread(server_files, s))
            if self.tls.files.client_ca is not None:
                self._client_ca = x509.load_pem_x509_certificate(self.tls.files.client_ca.read_bytes())
            self._tasks.append(
                asyncio.create_task(self.tls.watch(s.tls_reload_interval), name="gateway-tls-reload")
            )
        self._server = await self._serve(s.gateway_port, None)
        log.info(
            "gateway %s listening on ws://%s:%s/ocpp/{chargePointId}",
            self.gateway_id,
            s.gateway_host,
            self.port,
        )
        if self.tls is not None:
            self._tls_server = await self._serve(s.gateway_tls_port, self.tls.listener)
            log.info(
                "gateway %s listening on wss://%s:%s/ocpp/{chargePointId} (server certificates %s, %s)",
                self.gateway_id,
                s.gateway_host,
                self.tls_port,
                self.tls.files.rsa_cert,
                self.tls.files.ecdsa_cert,
            )

    async def _serve(self, port: int, ssl_context: ssl.SSLContext | None) -> Server:
        """One listener; ws and wss differ in nothing but TLS (same admission, same handler)."""
        s = self.settings
        return await serve(
            self._handle,
            s.gateway_host,
            port,
            ssl=ssl_context,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            select_subprotocol=select_subprotocol,
            process_request=self._process_request,
            compression=None,
            max_size=s.max_frame_bytes,
            max_queue=16,
            # The gateway pings (services/gateway/keepalive.py): not a task per connection.
            ping_interval=None,
            close_timeout=5,
            server_header=None,
        )

    @property
    def port(self) -> int:
        assert self._server is not None
        sockets = list(self._server.sockets)
        return int(sockets[0].getsockname()[1])

    @property
    def tls_port(self) -> int:
        assert self._tls_server is not None, "the TLS listener is off (CSMS_GATEWAY_TLS_PORT=-1)"
        sockets = list(self._tls_server.sockets)
        return int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Graceful: no new stations, 1001 to connected ones, then flush what they produced."""
        # Stops accepting and closes every connection, also one still registering, with 1001
        # (going away); handlers then log their `closed` records while the producer is up.
        for server in (self._server, self._tls_server):
            if server is not None:
                server.close(close_connections=True)
        for server in (self._server, self._tls_server):
            if server is not None:
                await server.wait_closed()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._inbox is not None:
            await self._inbox.stop()
        await self.registry.stop()
        await self.boot_statuses.stop()
        await self.security.stop()
        if self._producer is not None:
            await self._producer.flush()
            await self._producer.stop()
        self._hash_pool.shutdown(wait=False, cancel_futures=True)

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
        forever, and a station must get an answer (LogUnavailable) instead of a hang. Once a write
        failed, writes are refused at once (LogRefused) but for one probe a second (ADR 0023).
        """
        written = await self._append([(topic or self.topics.frames, value, station_id, headers or [])])
        return written[0]

    async def publish_frames(
        self, frames: list[tuple[bytes, list[tuple[str, bytes]]]], station_id: str
    ) -> None:
        """Append one station's frames to ``ocpp.frames`` in one go (one batch of its partition, so
        one wake of each consumer) and wait for acks=all, as :meth:`publish` does for one."""
        await self._append([(self.topics.frames, value, station_id, headers) for value, headers in frames])

    async def _append(self, records: list[Write]) -> list[RecordMetadata]:
        """The one path of the gateway's waited-for writes (topic, value, key, headers): through
        the log circuit (LogRefused while open, but for a probe), bounded by ``log_timeout``
        (LogUnavailable), and what it sees opens or closes the circuit."""
        assert self._producer is not None
        if not self.log_circuit.allow(self.clock()):
            raise LogRefused(f"the log is unavailable: {_described(records)} not tried")
        try:
            async with asyncio.timeout(self.settings.log_timeout):
                futures = [
                    await self._producer.send(t, v, key=k.encode(), headers=h) for t, v, k, h in records
                ]
                written: list[RecordMetadata] = [await f for f in futures]
        except (TimeoutError, KafkaError) as exc:
            self._log_failed(exc)
            raise LogUnavailable(f"Kafka did not acknowledge {_described(records)}: {exc!r}") from exc
        self._log_acknowledged()
        return written

    def _log_failed(self, exc: BaseException) -> None:
        if self.log_circuit.failed(self.clock()):
            log.error(
                "the log is unavailable (%r): frames are refused at once, CALLs answered InternalError, "
                "new connections closed with 1011, until a write is acknowledged again",
                exc,
            )

    def _log_acknowledged(self) -> None:
        down_since = self.log_circuit.succeeded()
        if down_since is not None:
            log.warning(
                "the log is available again after %.1fs; %d records of unlogged frames to append",
                self.clock() - down_since,
                len(self._unlogged),
            )

    def publish_later(self, value: bytes, station_id: str) -> None:
        """Append to ``ocpp.frames`` when Kafka can take it, without waiting: the record of a frame
        that had to be sent (or was refused) unlogged. In order; bounded (UNLOGGED_QUEUE_MAX)."""
        if len(self._unlogged) >= UNLOGGED_QUEUE_MAX:
            self._unlogged_dropped += 1
            if self._unlogged_dropped % 1000 == 1:
                log.error("%d records of unlogged frames dropped: the queue is full", self._unlogged_dropped)
            return
        self._unlogged.append((value, station_id))
        self._unlogged_ready.set()

    async def _append_unlogged(self) -> None:
        """Append the queued records of unlogged frames, a batch at a time, once the log takes writes
        (through the circuit: while it is open this is its probe, at most once per retry_after)."""
        while True:
            await self._unlogged_ready.wait()
            self._unlogged_ready.clear()
            while self._unlogged:
                batch = list(itertools.islice(self._unlogged, UNLOGGED_BATCH))
                try:
                    await self._append([(self.topics.frames, v, k, []) for v, k in batch])
                except LogRefused:
                    await asyncio.sleep(self.log_circuit.retry_after / 4)
                    continue
                except LogUnavailable:
                    # Some may be appended later by the producer's retries, and again from here:
                    # at-least-once, like any record (each is marked as unlogged when it is a CALL).
                    continue
                for _ in batch:
                    self._unlogged.popleft()

    def health(self) -> tuple[bool, dict[str, object]]:
        """What ``GET /health`` on the station port says: unhealthy while the log takes no writes."""
        c = self.log_circuit
        body: dict[str, object] = {
            "status": "ok" if c.available else "log unavailable",
            "log": {
                "available": c.available,
                "downForSeconds": round(self.clock() - c.down_since, 1) if c.down_since is not None else 0,
                "refusedWrites": c.refused,
                "unloggedQueued": len(self._unlogged),
                "unloggedDropped": self._unlogged_dropped,
            },
            "connections": len(self.connections),
        }
        if self.tls is not None:
            # The wss listener (ADR 0035): certificate reloads, refused handshakes by reason.
            body["tls"] = {"reloads": self.tls.reloads, "refusedHandshakes": dict(self.tls.refusals.counts)}
        return c.available, body

    async def publish_nowait(self, topic: str, key: str, value: bytes) -> None:
        assert self._producer is not None
        await self._producer.send(topic, value, key=key.encode())

    # -- WebSocket ---------------------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Admission control first (cheap, ADR 0021), then who the station is (ADR 0020)."""
        s = self.settings
        if request.path == HEALTH_PATH:
            return self._health_response(connection)
        if self.handshaking >= s.gateway_max_handshakes or len(self.connections) >= s.gateway_max_connections:
            response = connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "gateway busy, retry later\n")
            response.headers["Retry-After"] = str(s.gateway_busy_retry_after)
            return response
        self.handshaking += 1
        try:
            return await self._admit(connection, request)
        finally:
            self.handshaking -= 1

    def _health_response(self, connection: ServerConnection) -> Response:
        healthy, body = self.health()
        status = HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE
        response = connection.respond(status, json.dumps(body) + "\n")
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response

    async def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        remote = connection.remote_address
        address = str(remote[0]) if remote else ""
        # What TLS agreed (None on ws), or what a trusted ingress says it did (ADR 0035, 0037).
        security = transport_security(connection.transport.get_extra_info("ssl_object"))
        registration = self._registration_for(request.path)
        station_id = self._station_id(request.path)
        decision: Admission | Refusal | PasswordCheck
        verdict: profiles.Admitted | profiles.ProfileRefusal | None = None
        admitted: profiles.Admitted | None = None
        if station_id is not None and (registration is not None or self.settings.auto_register):
            try:
                security = self._forwarded(request, address, station_id) or security
            except ValueError as exc:
                verdict = profiles.ProfileRefusal(
                    HTTPStatus.FORBIDDEN, profiles.INVALID_CERTIFICATE, f"forwarded certificate: {exc}", 3
                )
            if verdict is None:
                certificate = security.client_certificate if security is not None else None
                verdict = profiles.decide(
                    station_id,
                    self.security_of(station_id),
                    tls=security is not None,
                    certificate=certificate,
                    password=registration is not None and registration.password_hash is not None,
                    cpo_name=self.cpo_name,
                    bound_to=self._serials.get(certificate.common_name or "") if certificate else None,
                )
            if isinstance(verdict, profiles.ProfileRefusal):
                await self._security_refusal(connection, station_id, verdict, security, address)
                return connection.respond(verdict.status, verdict.reason + "\n")
            admitted = verdict
        if admitted is not None and not admitted.password_needed and station_id is not None:
            decision = Admission(station_id, authenticated=True)  # the certificate (A00.FR.401)
        else:
            decision = pre_admit(
                request.path,
                request.headers.get("Authorization"),
                registration,
                auto_register=self.settings.auto_register,
            )
        if isinstance(decision, PasswordCheck):
            decision = await self._check_password(decision, address)
        if isinstance(decision, Refusal):
            response = connection.respond(decision.status, decision.reason + "\n")
            if decision.status == HTTPStatus.UNAUTHORIZED:
                response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
            if decision.retry_after is not None:
                response.headers["Retry-After"] = str(decision.retry_after)
            return response
        self._admitted[connection] = _Admitted(decision, security, admitted)
        return None

    @property
    def cpo_name(self) -> str:
        """``CSMS_CPO_NAME``; unset, the development CA's organization when that CA signs the
        stations' certificates, else nothing (no certificate is the CPO's)."""
        dev = self.tls is not None and self.tls.files.server_ca is not None
        return certificates.cpo_name(self.settings.cpo_name, development_ca=dev)

    def _forwarded(self, request: Request, address: str, station_id: str) -> TransportSecurity | None:
        """TLS terminated at an ingress (ADR 0037): its client certificate header, believed only
        from ``CSMS_GATEWAY_TRUSTED_PROXIES``; from anyone else it is ignored (and logged).
        ``X-Forwarded-Proto: https`` from a trusted proxy alone is TLS without a certificate."""
        values = [v for h in profiles.FORWARDED_HEADERS for v in request.headers.get_all(h)]
        trusted = profiles.is_trusted(address, self.trusted_proxies)
        if not trusted:
            if values:
                log.warning(
                    "station %s: forwarded client certificate from %s ignored (not a trusted proxy)",
                    station_id,
                    address,
                )
            return None
        if values:
            return TransportSecurity(None, None, profiles.forwarded_certificate(values[0], self._client_ca))
        if request.headers.get("X-Forwarded-Proto", "").lower() == "https":
            return TransportSecurity(None, None, None)
        return None

    async def _security_refusal(
        self,
        connection: ServerConnection,
        station_id: str,
        refusal: profiles.ProfileRefusal,
        security: TransportSecurity | None,
        address: str,
    ) -> None:
        """Record a refused upgrade as the station's security event (A00.FR.408); without the log
        the refusal stands and is only logged."""
        stored = self.security_of(station_id)
        remote = connection.remote_address
        event = SecurityEvent(
            station_id=station_id,
            gateway_id=self.gateway_id,
            at_ms=self.now_ms(),
            remote=f"{remote[0]}:{remote[1]}" if remote else None,
            kind=refusal.kind,
            reason=refusal.reason,
            status=int(refusal.status),
            profile=stored.profile if stored is not None else 0,
            presented=refusal.presented,
            client_certificate=security.client_certificate if security is not None else None,
        )
        log.warning("station %s from %s refused: %s", station_id, address, refusal.reason)
        await self.security_event(event)

    async def security_event(self, event: SecurityEvent) -> None:
        metrics.security_event(event.kind, "csms")
        try:
            await self.publish(encode(event), event.station_id)
        except LogUnavailable as exc:
            log.warning("security event of %s not logged: %s", event.station_id, exc)

    # -- security profiles (ADR 0037) ---------------------------------------------------------------

    def security_of(self, station_id: str) -> StationSecurity | None:
        """The station's profile record: the view's, or this gateway's newer own write."""
        viewed = self.security.get(station_id)
        written = self._security_written.get(station_id)
        if written is None or (viewed is not None and viewed.at_ms >= written.at_ms):
            return viewed
        return written

    def _index_serial(self, station_id: str, value: StationSecurity | None) -> None:
        old = self._serial_of.pop(station_id, None)
        if old is not None and self._serials.get(old) == station_id:
            del self._serials[old]
        if value is not None and value.serial_number:
            self._serial_of[station_id] = value.serial_number
            self._serials[value.serial_number] = station_id

    async def _write_security(self, value: StationSecurity | None) -> None:
        if value is None:
            return
        self._security_written[value.station_id] = value
        self._index_serial(value.station_id, value)
        try:
            await self.publish(encode(value), value.station_id, topic=self.topics.security)
        except LogUnavailable as exc:
            log.error("security profile of %s not stored: %s", value.station_id, exc)

    async def learn(
        self, station_id: str, *, upgrade: int | None = None, serial_number: str | None = None
    ) -> None:
        """What a station's answers tell: an Accepted SecurityProfile upgrade (pending until it
        connects with it) or its serial number (from its first BootNotification)."""
        now = self.now_ms()
        if upgrade is not None:
            await self._write_security(
                profiles.upgrade_accepted(self.security_of(station_id), station_id, upgrade, now)
            )
        if serial_number is not None:
            await self._write_security(
                profiles.serial_seen(self.security_of(station_id), station_id, serial_number, now)
            )

    async def _check_password(self, check: PasswordCheck, address: str) -> Admission | Refusal:
        """Verify off the loop; throttle failures per station and per address before hashing (ADR 0020)."""
        stored = check.hashes()
        if any(self.verifier.known(check.station_id, check.password, h) for h in stored):
            return finish_admit(check, True)
        now = self.clock()
        keys = ((self._station_failures, check.station_id), (self._address_failures, address))
        for throttle, key in keys:
            wait = throttle.retry_after(key, now)
            if wait is not None:
                log.warning(
                    "station %s from %s: too many failed logins, retry in %ss",
                    check.station_id,
                    address,
                    wait,
                )
                return Refusal(HTTPStatus.TOO_MANY_REQUESTS, "too many failed logins", wait)
        ok = False
        for h in stored:  # the current password; while an AuthorizationKey change is open, the new one
            ok = await self.verifier.verify_in(self._hash_pool, check.station_id, check.password, h)
            if ok:
                break
        if ok:
            self._station_failures.succeeded(check.station_id)
        else:
            for throttle, key in keys:
                throttle.failed(key, self.clock())
        return finish_admit(check, ok)

    def _registration_for(self, path: str) -> StationRegistration | None:
        station_id = self._station_id(path)
        return self.registry.get(station_id) if station_id else None

    @staticmethod
    def _station_id(path: str) -> str | None:
        try:
            return station_id_from_path(path)
        except UnicodeDecodeError:
            return None

    async def _handle(self, ws: ServerConnection) -> None:
        decided = self._admitted.pop(ws)
        admission, security, admitted = decided.admission, decided.security, decided.profile
        profile = admitted.presented if admitted is not None else 0
        station_id = admission.station_id
        remote = ws.remote_address
        if ws.subprotocol is None:
            await self._refuse_subprotocol(ws, station_id, remote)
            return
        # The handshake's request and response are read: their headers are 3.6 KB a connection
        # that nothing reads again (ADR 0042). The request is emptied in place: websockets'
        # parser keeps that object for the connection's life.
        if ws.request is not None:
            ws.request.headers.clear()
        ws.response = None
        connection_id = uuid.uuid4().hex
        opened = ConnectionOpened(
            station_id=station_id,
            gateway_id=self.gateway_id,
            connection_id=connection_id,
            at_ms=self.now_ms(),
            remote=f"{remote[0]}:{remote[1]}" if remote else None,
            authenticated=admission.authenticated,
            tls_version=security.version if security else None,
            tls_cipher=security.cipher if security else None,
            client_certificate=security.client_certificate if security else None,
            security_profile=profile,
        )
        try:
            metadata = await self.publish(encode(opened), station_id)
        except LogUnavailable as exc:
            # No epoch without the log: the station retries its connection later (RFC 6455 1011).
            log.warning("refusing %s: %s", station_id, exc)
            await ws.close(1011, "central system log unavailable")
            return
        epoch = metadata.offset
        # Connected on an upgraded profile: it is in force from now on (A05.FR.09).
        await self._write_security(profiles.connected(self.security_of(station_id), profile, opened.at_ms))
        conn = StationConnection(
            self,
            ws,
            station_id,
            connection_id,
            epoch,
            security=security,
            by_certificate=admitted is not None and admitted.by_certificate,
        )
        previous = self.connections.get(station_id)
        self.connections[station_id] = conn
        self._pings.add(conn, self.clock())
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
                at_ms=self.now_ms(),
                code=close_code,
                reason=close_reason,
            )
            try:
                await self.publish(encode(closed), station_id)
            except LogUnavailable:
                self.publish_later(encode(closed), station_id)
            log.info("station %s disconnected (epoch %s, code %s)", station_id, epoch, close_code)

    async def _refuse_subprotocol(self, ws: ServerConnection, station_id: str, remote: object) -> None:
        """Close an upgrade that agreed no subprotocol, and record the attempt with what was offered."""
        assert ws.request is not None
        offered = [
            p.strip()
            for value in ws.request.headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",")
            if p.strip()
        ]
        reason = f"{SUBPROTOCOL} not offered"
        refused = ConnectionRefused(
            station_id=station_id,
            gateway_id=self.gateway_id,
            at_ms=self.now_ms(),
            remote=f"{remote[0]}:{remote[1]}" if isinstance(remote, tuple) else None,
            offered=offered,
            code=NO_SUBPROTOCOL_CLOSE,
            reason=reason,
        )
        log.warning("station %s offered subprotocols %s, not %s: closing", station_id, offered, SUBPROTOCOL)
        await ws.close(NO_SUBPROTOCOL_CLOSE, reason)
        await self.publish(encode(refused), station_id)

    # -- inbox: replies from services, commands from operators -------------------------------------

    async def _consume_inbox(self) -> None:
        assert self._inbox is not None
        while True:
            batches = await self._inbox.getmany(timeout_ms=500)
            for records in batches.values():
                for msg in records:
                    try:
                        item: InboxRecord = inbox_decoder.decode(msg.value)
                    except (UndecodableRecord, UnknownRecordType) as exc:  # a reply nobody can deliver
                        undecodable.report(msg.topic, msg.partition, msg.offset, exc)
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
            at_ms=self.now_ms(),
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
                at_ms=self.now_ms(),
                never_sent=True,
            )
            await self.publish_nowait(item.reply_to, item.station_id, encode(outcome))

    def boot_status(self, station_id: str) -> str | None:
        """How the station's last BootNotification was answered (None: it has not booted)."""
        relayed = self._boot_answers.get(station_id)
        if relayed is not None:
            return relayed
        return self.boot_statuses.get(station_id) or None

    def note_boot_answer(self, station_id: str, status: str) -> None:
        self._boot_answers[station_id] = sys.intern(status)

    def watch(self, conn: StationConnection) -> None:
        self._watched.add(conn)

    async def _keepalive(self) -> None:
        """Ping every connection each ping interval; close one whose pong is ping_timeout late
        (1011, as websockets' own keepalive does)."""
        schedule = self._pings

        def is_open(conn: StationConnection) -> bool:
            return not conn.abandoned

        while True:
            due = schedule.next_due()
            await asyncio.sleep(min(1.0, max(0.05, due - self.clock())) if due is not None else 1.0)
            now = self.clock()
            for conn in schedule.to_ping(now, is_open):
                pong = None
                # A connection whose peer stopped reading holds its writers (drain): its ping is
                # not sent, and counts as unanswered.
                if not conn.ws.paused:
                    with contextlib.suppress(SocketClosed):
                        pong = asyncio.ensure_future(await conn.ws.ping())  # the pong future itself
                schedule.pinged(conn, now, pong)
            for conn in schedule.late(now, is_open):
                log.warning(
                    "station %s did not answer a ping in %ss: closing", conn.station_id, schedule.timeout
                )
                task = asyncio.create_task(conn.close(1011, "keepalive ping timeout"))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

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
