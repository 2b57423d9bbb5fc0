"""One station's WebSocket: the I/O adapter around the Sans-I/O OCPP-J session core.

Rules this adapter adds to the session core:
- every inbound frame is appended to ``ocpp.frames`` (acks=all) before anything is decided about it;
- every outbound frame is appended before it is written to the socket, in the order the core
  released them (one writer at a time per connection);
- a station CALL is validated here (payload model, direction); invalid ones are answered with the
  precise CALLERROR right away, and the few the gateway answers itself (routes.py: no state, no
  event) with their result, each appended together with its answer; the others wait for the owning service's reply from the
  inbox, or get InternalError when no service answers in time (the session core keeps that
  deadline, ``service_reply_timeout``, and reports it with ``AnswerOverdue``; a reply after it is
  dropped);
- a frame Kafka does not acknowledge in time (``LogUnavailable``) is never acted on: a station CALL
  that could not be logged, or whose answer could not be, is answered InternalError (OCPP-J 4.2.3:
  "not able to process the requested Action"), never a CALLRESULT; that CALLERROR is written to the
  socket unlogged and its record queued for when Kafka is back (docs/reliability.md);
- the outcome of an operator command goes to the caller's replies topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec
from opentelemetry import trace
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from services.gateway import profiles
from services.gateway.context import LocalContext
from services.gateway.logstate import NOT_LOGGED, LogRefused, LogUnavailable
from services.gateway.routes import ROUTES
from services.gateway.tls import TransportSecurity
from shared import telemetry
from shared.config import Settings
from shared.events.commands import NULL, CommandOutcome, OutcomeStatus, SendCall, StationReply
from shared.events.envelope import Direction, FrameRecord, SecurityEvent, encode
from shared.ocpp import session as ocpp_session
from shared.ocpp.errors import ErrorCode, OcppError
from shared.ocpp.frames import CALL, CALLERROR, encode_error
from shared.ocpp.v16 import codec
from shared.ocpp.v16.actions import ACTIONS, Initiator, spec_for
from shared.ocpp.v16.registration import station_call_refusal
from shared.ocpp.v16.write_only import redacted_call

log = logging.getLogger(__name__)
_tracer = telemetry.tracer("csms.gateway")
# RFC 6455 7.4.1: the endpoint received a message that violates its policy.
POLICY_VIOLATION = 1008


def validate_station_call(action: str, payload: bytes) -> OcppError | None:
    """The CALLERROR a station CALL deserves, or None when it is a valid 1.6 request we serve."""
    spec = spec_for(action, Initiator.CHARGE_POINT)
    if spec is None:
        if action in ACTIONS:
            return OcppError(ErrorCode.NOT_SUPPORTED, f"{action} is not sent by a charge point")
        return OcppError(ErrorCode.NOT_IMPLEMENTED, f"unknown action {action!r}")
    if spec.owner is None:
        # Known but answered by no service: OCPP-J 1.6 4.2.3 NotSupported ("Requested Action is
        # recognized but not supported"; NotImplemented is for an action "not known"), at once
        # instead of after the reply timeout (ADR 0024).
        return OcppError(ErrorCode.NOT_SUPPORTED, f"no service of this central system answers {action}")
    try:
        codec.decode_request(action, payload)
    except OcppError as error:
        return error
    return None


def validate_station_answer(action: str | None, payload: bytes) -> OcppError | None:
    """Why a station's CALLRESULT is not a valid 1.6 response to our ``action`` CALL, or None.

    Nobody downstream may take an invalid answer for a valid one: the operator API's contract
    (the OpenAPI response schemas) and the projections rely on the response model."""
    if action is None:
        return None  # an answer to no CALL of ours: the session core reported it as unexpected
    try:
        codec.decode_response(action, payload)
    except OcppError as error:
        return error
    return None


class GatewayPort(Protocol):
    """What a connection needs from the gateway process holding it: ``app.Gateway`` is one, unit
    tests pass plain fakes; this module never imports ``app.py``."""

    settings: Settings
    gateway_id: str

    def clock(self) -> float:
        """Monotonic seconds: the session core's deadlines."""

    def now_ms(self) -> int:
        """Wall-clock milliseconds: the time a frame is recorded with."""

    async def publish(
        self,
        value: bytes,
        station_id: str,
        headers: list[tuple[str, bytes]] | None = None,
        topic: str | None = None,
    ) -> Any:
        """Append and wait for the log's acknowledgement (raises LogUnavailable)."""

    async def publish_frames(
        self, frames: list[tuple[bytes, list[tuple[str, bytes]]]], station_id: str
    ) -> None:
        """Append records of one station (value, headers) to ``ocpp.frames`` in one go, in order, and
        wait for all their acknowledgements (raises LogUnavailable)."""

    def publish_later(self, value: bytes, station_id: str) -> None:
        """Append the record of a frame that went (or was refused) unlogged, once the log is back."""

    async def publish_nowait(self, topic: str, key: str, value: bytes) -> None:
        """Hand a record to the producer without waiting for its acknowledgement."""

    def watch(self, conn: StationConnection) -> None:
        """Drive ``conn``'s timeouts from the gateway's ticker."""

    def boot_status(self, station_id: str) -> str | None:
        """How the station's last BootNotification was answered."""

    def note_boot_answer(self, station_id: str, status: str) -> None:
        """Remember a boot answer relayed on this gateway."""

    async def learn(
        self, station_id: str, *, upgrade: int | None = None, serial_number: str | None = None
    ) -> None:
        """Store what a station's answers say about its security profile (ADR 0037)."""

    async def security_event(self, event: SecurityEvent) -> None:
        """Record a security event of the station (logged, never raising)."""


class StationConnection:
    # One per connection: slots, not an instance dict (ADR 0042).
    __slots__ = (
        "_closed",
        "_commands",
        "_flush_more",
        "_flush_task",
        "_serial_seen",
        "_violation",
        "_write_lock",
        "by_certificate",
        "connection_id",
        "epoch",
        "gateway",
        "security",
        "session",
        "station_id",
        "ws",
    )

    def __init__(
        self,
        gateway: GatewayPort,
        ws: ServerConnection,
        station_id: str,
        connection_id: str,
        epoch: int,
        *,
        security: TransportSecurity | None = None,
        by_certificate: bool = False,
    ) -> None:
        self.gateway = gateway
        # Authenticated by its client certificate (profile 3, ADR 0037): its BootNotification
        # must report the certificate's CN as serial number.
        self.by_certificate = by_certificate
        # What TLS agreed, a verified client certificate included (None: plain ws; ADR 0035).
        self.security = security
        self.ws = ws
        self.station_id = station_id
        self.connection_id = connection_id
        self.epoch = epoch
        self.session = ocpp_session.Session(
            call_timeout=gateway.settings.station_call_timeout,
            answer_timeout=gateway.settings.service_reply_timeout,
        )
        self._commands: dict[str, SendCall] = {}
        self._write_lock = asyncio.Lock()
        self._flush_task: asyncio.Task[None] | None = None
        self._flush_more = False
        self._closed = False
        # Why the connection is to be closed once the frame at hand is answered (1008), if so,
        # and a serial number to learn once the BootNotification carrying it is logged.
        self._violation: str | None = None
        self._serial_seen: str | None = None

    # -- inbound ------------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async for message in self.ws:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                await self._on_text(text)
        except ConnectionClosed:
            pass

    async def _on_text(self, text: str) -> None:
        at_ms = self.gateway.now_ms()
        self._serial_seen = None
        events = self.session.receive_text(text, self.gateway.clock())
        record = FrameRecord(
            station_id=self.station_id,
            gateway_id=self.gateway.gateway_id,
            connection_id=self.connection_id,
            epoch=self.epoch,
            direction=Direction.IN,
            at_ms=at_ms,
            raw=text,
        )
        error: OcppError | None = None
        invalid_answer: OcppError | None = None
        call_event: ocpp_session.CallReceived | None = None
        for event in events:
            if isinstance(event, ocpp_session.CallReceived):
                call_event = event
                record.message_type, record.unique_id, record.action = 2, event.unique_id, event.action
                record.payload = event.payload  # parsed once, here: services decode this (ADR 0025)
                error = validate_station_call(event.action, bytes(event.payload))
                if error is None:
                    refused = station_call_refusal(self.gateway.boot_status(self.station_id), event.action)
                    if refused is not None:
                        error = OcppError(ErrorCode.SECURITY_ERROR, refused)
                if error is None and event.action == "BootNotification":
                    error = self._boot_security(event.payload)
            elif isinstance(event, ocpp_session.ResultReceived | ocpp_session.ErrorReceived):
                record.message_type = 3 if isinstance(event, ocpp_session.ResultReceived) else 4
                record.unique_id, record.action = event.unique_id, event.action
                record.command_id = event.ref if isinstance(event.ref, str) else None
                if isinstance(event, ocpp_session.ResultReceived):
                    record.payload = event.payload
                    invalid_answer = validate_station_answer(event.action, bytes(event.payload))
            elif isinstance(event, ocpp_session.ProtocolViolation):
                record.unique_id = event.unique_id
                record.error_code, record.error_description = str(event.code), event.description
            elif isinstance(event, (ocpp_session.Ignored, ocpp_session.UnexpectedReply)):
                record.message_type, record.unique_id = event.message_type, event.unique_id
        if error is not None:
            record.error_code, record.error_description = str(error.code), error.description
        if invalid_answer is not None:  # logged as received, marked: not to be applied as valid
            record.error_code = str(invalid_answer.code)
            record.error_description = f"invalid {record.action}Response: {invalid_answer.description}"
        with telemetry.span(
            _tracer, f"ocpp.receive {record.action or 'frame'}", kind=trace.SpanKind.SERVER
        ) as span:
            span.set_attribute("ocpp.station_id", self.station_id)
            if record.unique_id:
                span.set_attribute("ocpp.message_id", record.unique_id)
            headers = telemetry.inject_headers()
            local = self._local_answer(call_event) if call_event is not None and error is None else None
            if call_event is not None and (local is not None or error is not None):
                # Answered here (an error, or a CALL of routes.py): the CALL and its answer are
                # appended together (one produce, one wake of each consumer), and the answer is
                # sent once both are acknowledged.
                if error is not None:
                    self.session.reply_error(
                        call_event.unique_id, error.code, error.description, error.details
                    )
                elif local is not None:
                    self.session.reply(call_event.unique_id, local)
                if not await self.flush(leading=(record, headers, call_event)):
                    return
            else:
                # The session already waits for the CALL's answer (since receive_text): a fast
                # service's reply can reach this gateway before the publish's acknowledgement does.
                try:
                    await self.gateway.publish(encode(record), self.station_id, headers)
                except LogUnavailable as exc:
                    self._inbound_unlogged(exc, record, call_event)
                    # An unlogged reply to one of our CALLs is not reported: the command times out.
                    await self.flush(logged=False)
                    return
                if call_event is not None:
                    self.gateway.watch(self)
        for event in events:
            await self._report_outcome(event, invalid_answer)
        await self.flush()
        if self._violation is not None:
            await self._close_for_security(self._violation)
        elif self._serial_seen is not None:
            serial, self._serial_seen = self._serial_seen, None
            await self.gateway.learn(self.station_id, serial_number=serial)

    def _local_answer(self, call: ocpp_session.CallReceived) -> bytes | None:
        """The answer to a valid CALL the gateway answers itself (routes.py), else None."""
        local = ROUTES.get(call.action)
        if local is None:
            return None
        request = codec.decode_request(call.action, bytes(call.payload))
        now = datetime.fromtimestamp(self.gateway.now_ms() / 1000, UTC)
        reply, _ = local.decide(None, request, LocalContext(now=now))
        return codec.encode(reply)

    def _inbound_unlogged(
        self, exc: LogUnavailable, record: FrameRecord, call: ocpp_session.CallReceived | None
    ) -> None:
        """A station's frame the log did not take: never acted on (a CALL is answered InternalError)."""
        if isinstance(exc, LogRefused):
            # Never handed to the producer: queue its record, a CALL marked as answered
            # InternalError so that no service acts on it when it lands (ADR 0023).
            if call is not None and record.error_code is None:
                record.error_code, record.error_description = str(ErrorCode.INTERNAL_ERROR), NOT_LOGGED
            self.gateway.publish_later(encode(record), self.station_id)
        else:
            log.warning("frame from %s not logged: %s", self.station_id, record.action or "reply")
        if call is not None:
            self.session.reply_error(call.unique_id, ErrorCode.INTERNAL_ERROR, NOT_LOGGED)

    async def _report_outcome(self, event: object, invalid_answer: OcppError | None = None) -> None:
        """Tell the operator who sent a command how it ended."""
        code: str | None = None
        description = ""
        details: dict[str, Any] | None = None
        payload = NULL
        if isinstance(event, ocpp_session.ResultReceived) and invalid_answer is not None:
            status, code = OutcomeStatus.INVALID, str(invalid_answer.code)
            description = (
                f"the station's answer is not a valid {event.action}Response: {invalid_answer.description}"
            )
            details = {**invalid_answer.details, "response": msgspec.json.decode(bytes(event.payload))}
        elif isinstance(event, ocpp_session.ResultReceived):
            status, payload = OutcomeStatus.RESULT, event.payload
        elif isinstance(event, ocpp_session.ErrorReceived):
            status, code, description = OutcomeStatus.ERROR, event.error_code, event.error_description
            details = msgspec.json.decode(bytes(event.error_details))
        elif isinstance(event, ocpp_session.CallTimedOut):
            status = OutcomeStatus.TIMEOUT
        elif isinstance(event, ocpp_session.CallExpired):
            status = OutcomeStatus.EXPIRED
        else:
            return
        command = self._commands.pop(str(event.ref), None)
        if command is None:
            return
        if status is OutcomeStatus.RESULT and command.action == "ChangeConfiguration":
            await self._learn_upgrade(command, payload)
        outcome = CommandOutcome(
            command_id=command.command_id,
            station_id=self.station_id,
            status=status,
            payload=payload,
            error_code=code,
            error_description=description,
            error_details=details,
            at_ms=self.gateway.now_ms(),
        )
        await self.gateway.publish_nowait(command.reply_to, self.station_id, encode(outcome))

    # -- security profiles (ADR 0037) ---------------------------------------------------------------

    def _boot_security(self, payload: msgspec.Raw) -> OcppError | None:
        """A certificate's CN must be the serial number the station boots with (A00.FR.405):
        otherwise the BootNotification is answered SecurityError and the connection closed
        (A00.FR.407); else its serial number is learnt (when none is known yet) once it is logged."""
        request = msgspec.json.decode(bytes(payload))
        serial = request.get("chargePointSerialNumber") if isinstance(request, dict) else None
        certificate = self.security.client_certificate if self.security and self.by_certificate else None
        why = profiles.boot_refusal(certificate, serial if isinstance(serial, str) else None)
        if why is not None:
            self._violation = why
            return OcppError(ErrorCode.SECURITY_ERROR, why)
        if isinstance(serial, str):
            self._serial_seen = serial
        return None

    async def _close_for_security(self, reason: str) -> None:
        log.warning("station %s: %s; closing", self.station_id, reason)
        event = SecurityEvent(
            station_id=self.station_id,
            gateway_id=self.gateway.gateway_id,
            at_ms=self.gateway.now_ms(),
            kind=profiles.INVALID_CERTIFICATE,
            reason=reason,
            close_code=POLICY_VIOLATION,
            presented=3,
            client_certificate=self.security.client_certificate if self.security is not None else None,
        )
        await self.gateway.security_event(event)
        await self.close(POLICY_VIOLATION, "certificate is not this charge point's")

    async def _learn_upgrade(self, command: SendCall, answer: msgspec.Raw) -> None:
        """Accepted ChangeConfiguration(SecurityProfile): the upgrade the station will reconnect
        with (A05.FR.05-07)."""
        requested = profiles.requested_profile(msgspec.json.decode(bytes(command.payload)))
        response = msgspec.json.decode(bytes(answer))
        if requested is not None and isinstance(response, dict) and response.get("status") == "Accepted":
            await self.gateway.learn(self.station_id, upgrade=requested)

    # -- from the inbox -----------------------------------------------------------------------------

    def deliver_reply(self, reply: StationReply, headers: list[tuple[str, bytes]]) -> None:
        """Hand a service's answer to the session; the write happens in the background.

        The inbox carries answers for thousands of stations: waiting here for each one's Kafka ack
        would serialize them all. The session keeps the order per connection; ``request_flush``
        writes in that order.
        """
        if not self.session.awaits_answer(reply.unique_id):
            late = "late" if self.session.overdue(reply.unique_id) else "unknown"
            log.warning("%s reply %s for %s", late, reply.unique_id, self.station_id)
            return
        ctx = telemetry.extract_headers(headers)
        with telemetry.span(_tracer, f"ocpp.reply {reply.action}", context=ctx):
            if reply.error_code is None and reply.action == "BootNotification":
                answer = msgspec.json.decode(bytes(reply.payload))
                if isinstance(answer, dict) and isinstance(answer.get("status"), str):
                    self.gateway.note_boot_answer(self.station_id, answer["status"])
            if reply.error_code is not None:
                self.session.reply_error(
                    reply.unique_id, reply.error_code, reply.error_description, reply.error_details or {}
                )
            else:
                self.session.reply(reply.unique_id, bytes(reply.payload))
            self.request_flush()  # the task inherits this span's context

    def request_flush(self) -> None:
        """Flush soon, in order, without making the caller wait for Kafka."""
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush_until_drained())
        else:
            self._flush_more = True

    async def _flush_until_drained(self) -> None:
        try:
            while True:
                self._flush_more = False
                await self.flush()
                if not self._flush_more:
                    break
        except Exception:
            log.exception("writing to %s failed", self.station_id)
        # A finished task kept here would be 300 bytes on every idle connection.
        self._flush_task = None

    async def send_command(self, command: SendCall) -> None:
        deadline = self.gateway.clock() + max(0.0, (command.deadline_ms - self.gateway.now_ms()) / 1000)
        try:
            self.session.send_call(
                command.action,
                bytes(command.payload),
                self.gateway.clock(),
                ref=command.command_id,
                deadline=deadline,
            )
        except ocpp_session.QueueFull:
            outcome = CommandOutcome(
                command_id=command.command_id,
                station_id=self.station_id,
                status=OutcomeStatus.REJECTED,
                error_description="station's command queue is full",
                at_ms=self.gateway.now_ms(),
            )
            await self.gateway.publish_nowait(command.reply_to, self.station_id, encode(outcome))
            return
        self._commands[command.command_id] = command
        self.gateway.watch(self)
        self.request_flush()  # like replies: the inbox loop does not wait for this station's ack

    # -- outbound -----------------------------------------------------------------------------------

    async def flush(
        self,
        *,
        logged: bool = True,
        leading: tuple[FrameRecord, list[tuple[str, bytes]], ocpp_session.CallReceived] | None = None,
    ) -> bool:
        """Publish, then send, every frame the core released, strictly in order, in one append.

        A frame Kafka does not take (or every frame, ``logged=False``: the log just failed) is not
        sent as it is: an answer becomes InternalError, our CALL is held back (it times out).
        ``leading`` is a station CALL the gateway answered itself (a result or an error): appended
        first, in the same append as its answer; False when it was not logged (then InternalError
        went instead of the answer).
        """
        async with self._write_lock:
            outs = self.session.data_to_send()
            records = [self._outbound_record(out) for out in outs]
            writes = [(encode(r), telemetry.inject_headers()) for r in records]
            if leading is not None:
                writes.insert(0, (encode(leading[0]), leading[1]))
            texts: list[str | None] = [out.text for out in outs]
            try:
                if not logged:
                    raise LogUnavailable("not tried: the log just failed")
                if writes:
                    await self.gateway.publish_frames(writes, self.station_id)
            except LogUnavailable as exc:
                if leading is not None:
                    self._inbound_unlogged(exc, leading[0], leading[2])
                texts = [self._send_unlogged(record) for record in records]
                logged = False
            for text in texts:
                if text is None or self._closed:
                    continue  # logged, but the socket is gone: the station never saw it
                with contextlib.suppress(ConnectionClosed):
                    await self.ws.send(text)
            return logged

    def _outbound_record(self, out: ocpp_session.Outgoing) -> FrameRecord:
        return FrameRecord(
            station_id=self.station_id,
            gateway_id=self.gateway.gateway_id,
            connection_id=self.connection_id,
            epoch=self.epoch,
            direction=Direction.OUT,
            at_ms=self.gateway.now_ms(),
            # What we send, except a write-only configuration value (A01.FR.09).
            raw=redacted_call(out.action, out.text) if out.message_type == CALL else out.text,
            message_type=out.message_type,
            unique_id=out.unique_id,
            action=out.action,
            command_id=out.ref if isinstance(out.ref, str) else None,
        )

    def _send_unlogged(self, record: FrameRecord) -> str | None:
        """What goes to the station instead of a frame that is not in the log: nothing for our CALL;
        InternalError for an answer, whose record is queued so the log ends up saying what was sent."""
        if record.message_type == CALL or record.unique_id is None:
            return None
        text = encode_error(record.unique_id, ErrorCode.INTERNAL_ERROR, NOT_LOGGED)
        record.raw, record.message_type = text, CALLERROR
        record.error_code, record.error_description = str(ErrorCode.INTERNAL_ERROR), NOT_LOGGED
        self.gateway.publish_later(encode(record), self.station_id)
        return text

    async def tick(self, now: float) -> None:
        """Timeouts, all kept by the session core: a station CALL no service answered in time gets
        InternalError (answered before any await, so no late reply can slip in); our CALLs time out."""
        events = self.session.tick(now)
        for event in events:
            if isinstance(event, ocpp_session.AnswerOverdue):
                log.error("no service answered %s %s from %s", event.action, event.unique_id, self.station_id)
                self.session.reply_error(
                    event.unique_id, ErrorCode.INTERNAL_ERROR, "no answer from the central system in time", {}
                )
        for event in events:
            await self._report_outcome(event)
        self.request_flush()

    def has_deadlines(self) -> bool:
        return bool(self._commands) or self.session.next_deadline() is not None

    @property
    def abandoned(self) -> bool:
        return self._closed

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)

    def abandon(self) -> None:
        """The socket is gone: nothing more goes out; open commands end as undeliverable."""
        self._closed = True
        self.session.drop_peer_calls()
        for command in self._commands.values():
            outcome = CommandOutcome(
                command_id=command.command_id,
                station_id=self.station_id,
                status=OutcomeStatus.UNDELIVERABLE,
                error_description="station disconnected",
                at_ms=self.gateway.now_ms(),
            )
            asyncio.get_running_loop().create_task(
                self.gateway.publish_nowait(command.reply_to, self.station_id, encode(outcome))
            )
        self._commands.clear()
