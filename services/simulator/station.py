"""One simulated OCPP 1.6J charge point, driven by the same Sans-I/O session core as the gateway.

The station keeps what a real one keeps (connector states, the running transaction per connector,
its configuration, accepted charging profiles, a local list version, an offline queue) and answers
every Central System CALL sensibly (``answers.ROUTES``). Scenarios (``scenarios.py``) drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from services.simulator.metrics import Answer, Metrics
from shared.ocpp.session import (
    CallReceived,
    CallTimedOut,
    ErrorReceived,
    Event,
    QueueFull,
    ResultReceived,
    Session,
)

log = logging.getLogger(__name__)


class CallFailed(Exception):
    """The CSMS answered CALLERROR, or nothing in time."""


def iso(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Connector:
    status: str = "Available"
    transaction_id: int | None = None
    id_tag: str | None = None
    meter_wh: int = 0
    reserved_for: int | None = None
    started_at: datetime | None = None
    stopping: bool = False  # a StopTransaction is in flight: do not send a second one
    # A StartTransaction is in flight: a real connector starts one transaction at a time. Without
    # this the open-loop load sent two starts in the same millisecond when it caught up after a
    # stall, identical in every field, and the CSMS rightly answered the second as a retry of the
    # first (services/transactions/handlers/start_transaction.py), with the same transaction id.
    starting: bool = False


@dataclass
class Offline:
    """Messages a disconnected station queued, sent in order when it is back (OCPP 1.6 4.9)."""

    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    went_offline: bool = False
    # The id the CSMS gave the queued StartTransaction being flushed (for its MeterValues and stop).
    transaction_id: int | None = None


# One function per Central System CALL a station answers: (station, request) -> (response, what it
# then does on its own, e.g. download the firmware). services/simulator/answers.py is the set.
FollowUp = Coroutine[Any, Any, None] | None
AnswerHandler = Callable[["SimStation", dict[str, Any]], tuple[dict[str, Any], FollowUp]]
AnswerRoutes = Mapping[str, AnswerHandler]


class SimStation:
    def __init__(
        self,
        station_id: str,
        url: str,
        metrics: Metrics,
        *,
        connectors: int = 2,
        call_timeout: float = 30.0,
        local_address: str | None = None,
        rng: random.Random | None = None,
        answers: AnswerRoutes | None = None,
    ) -> None:
        self.station_id = station_id
        # How it answers the central system's CALLs (the fleet passes answers.ROUTES; none: NotImplemented).
        self.answers: AnswerRoutes = answers or {}
        self.url = url
        self.metrics = metrics
        self.connectors = {c: Connector() for c in range(1, connectors + 1)}
        self.session = Session(call_timeout=call_timeout, max_queued_calls=1000)
        self.local_address = local_address
        self.rng = rng or random.Random(station_id)
        self.ws: ClientConnection | None = None
        self.heartbeat_interval = 300.0
        self.boot_status: str | None = None
        self.configuration: dict[str, str] = {
            "HeartbeatInterval": "300",
            "MeterValueSampleInterval": "60",
            "NumberOfConnectors": str(connectors),
            "ChargeProfileMaxStackLevel": "10",
            "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
            "LocalAuthListMaxLength": "1000",
            "SendLocalListMaxLength": "100",
            "SupportedFeatureProfiles": "Core,FirmwareManagement,LocalAuthListManagement,Reservation,"
            "SmartCharging,RemoteTrigger",
        }
        self.profiles: dict[
            int, dict[str, Any]
        ] = {}  # chargingProfileId -> {connectorId, csChargingProfiles}
        self.local_list_version = 0
        self.local_list: dict[str, Any] = {}
        self.offline = Offline()
        self.connected = asyncio.Event()
        # Set when the connection ends without the station wanting it (the fleet then reconnects).
        self.dropped = asyncio.Event()
        self._leaving = False
        self.on_reset: Callable[[], None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()

    # -- connection -------------------------------------------------------------------------------

    async def connect(self, open_timeout: float = 30.0) -> None:
        kwargs: dict[str, Any] = {}
        if self.local_address is not None:
            kwargs["local_addr"] = (self.local_address, 0)
        self.ws = await connect(
            f"{self.url}/{self.station_id}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            compression=None,
            open_timeout=open_timeout,
            ping_interval=None,  # the gateway pings; websockets answers its pings by itself
            max_queue=64,
            **kwargs,
        )
        self.session = Session(call_timeout=self.session.call_timeout, max_queued_calls=1000)
        self._leaving = False
        self.dropped.clear()
        self.metrics.on_connect()
        self.connected.set()
        self._reader = asyncio.create_task(self._read(self.ws), name=f"read:{self.station_id}")

    async def disconnect(self, code: int = 1000) -> None:
        """Close on purpose (going offline, rebooting): not a drop."""
        self._leaving = True
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(code)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 5)
            self._reader = None

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for text in ws:
                await self._on_events(self.session.receive_text(text, time.monotonic()))
        except ConnectionClosed:
            pass
        finally:
            if self.connected.is_set():
                self.connected.clear()
                self.metrics.on_disconnect()
            self._fail_pending()
            if self.ws is ws:
                self.ws = None
            if not self._leaving:
                self.dropped.set()

    def _fail_pending(self) -> None:
        """The connection is gone: callers waiting for answers get CallFailed, never a hang.

        Each tick at infinity times out the outstanding CALL and releases the next queued one.
        """
        while events := self.session.tick(float("inf")):
            for event in events:
                self._on_own_call_end(event, lost=True)

    async def _flush(self) -> None:
        ws = self.ws
        out = self.session.data_to_send()
        if ws is None or not out:
            return
        async with self._write_lock:
            for frame in out:
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(frame.text)

    # -- calls ------------------------------------------------------------------------------------

    async def call(self, action: str, payload: dict[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
        """Send a CALL and return the CALLRESULT payload; latency counts from now (queueing included)."""
        if self.ws is None:
            raise CallFailed("not connected")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        wanted = time.monotonic()
        try:
            self.session.send_call(action, msgspec.json.encode(payload), wanted, ref=future)
        except QueueFull as exc:
            raise CallFailed(str(exc)) from exc
        self.metrics.calls += 1
        await self._flush()
        try:
            # Not asyncio.wait_for: on 3.11 it returns the result instead of raising when the answer
            # and a cancellation arrive together, and a cancelled scenario would go on charging.
            async with asyncio.timeout(timeout):
                result = await future
        except TimeoutError as exc:
            self.metrics.on_timeout(self.station_id, action, on_wire=self.session.is_in_flight(future))
            raise CallFailed(f"{action}: no answer in {timeout:g}s") from exc
        self.metrics.latency[action].append(time.monotonic() - wanted)
        decoded: dict[str, Any] = msgspec.json.decode(result)
        return decoded

    def _on_own_call_end(self, event: Event, *, lost: bool = False) -> None:
        """``lost``: the connection closed under the CALL (not a timeout of the central system)."""
        ref = getattr(event, "ref", None)
        if not isinstance(ref, asyncio.Future) or ref.done():
            return
        if isinstance(event, ResultReceived | ErrorReceived) and self.metrics.answers is not None:
            error = event if isinstance(event, ErrorReceived) else None
            result = event if isinstance(event, ResultReceived) else None
            self.metrics.answers.append(
                Answer(
                    self.station_id,
                    event.unique_id,
                    event.action,
                    error.error_code if error else None,
                    error.error_description if error else "",
                    bytes(result.payload) if result else b"",
                    event.elapsed,
                )
            )
        if isinstance(event, ResultReceived):
            self.metrics.results += 1
            ref.set_result(bytes(event.payload))
        elif isinstance(event, ErrorReceived):
            self.metrics.errors += 1
            self.metrics.error_codes[event.error_code] += 1
            ref.set_exception(CallFailed(f"{event.action}: {event.error_code} {event.error_description}"))
        else:
            if isinstance(event, CallTimedOut):
                # The session's own call timeout (from the CALL on the wire) is a timeout too.
                if lost:
                    self.metrics.lost += 1
                else:
                    self.metrics.on_timeout(self.station_id, event.action, on_wire=True)
            ref.set_exception(CallFailed(f"{type(event).__name__}"))

    async def _on_events(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, CallReceived):
                await self._answer(event)
            elif isinstance(event, ResultReceived | ErrorReceived | CallTimedOut):
                self._on_own_call_end(event)
        await self._flush()

    def tick(self, now: float) -> None:
        for event in self.session.tick(now):
            self._on_own_call_end(event)

    async def _answer(self, event: CallReceived) -> None:
        self.metrics.received += 1
        handler = self.answers.get(event.action)
        if handler is None:
            self.session.reply_error(event.unique_id, "NotImplemented", f"{event.action} is not implemented")
            return
        try:
            request = msgspec.json.decode(bytes(event.payload))
            response, follow_up = handler(self, request)
        except Exception as exc:  # noqa: BLE001 - a station answers InternalError, it does not crash
            self.session.reply_error(event.unique_id, "InternalError", str(exc))
            return
        self.session.reply(event.unique_id, msgspec.json.encode(response))
        if follow_up is not None:
            task = asyncio.create_task(follow_up)
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # -- what a station says ------------------------------------------------------------------------

    async def boot(self) -> str:
        answer = await self.call(
            "BootNotification",
            {
                "chargePointVendor": "csms-sim",
                "chargePointModel": "Sim-2",
                "chargePointSerialNumber": self.station_id[-25:],
                "firmwareVersion": "1.0.0",
            },
        )
        self.boot_status = answer["status"]
        if answer.get("interval"):
            self.heartbeat_interval = float(answer["interval"])
        return self.boot_status or ""

    async def status(self, connector_id: int, status: str | None = None) -> None:
        if connector_id and status is not None:
            self.connectors[connector_id].status = status
        current = status or (self.connectors[connector_id].status if connector_id else "Available")
        await self.call(
            "StatusNotification",
            {"connectorId": connector_id, "errorCode": "NoError", "status": current, "timestamp": iso()},
        )

    async def heartbeat(self) -> None:
        await self.call("Heartbeat", {})

    async def start_transaction(
        self, connector_id: int, id_tag: str, reservation_id: int | None = None
    ) -> int:
        connector = self.connectors[connector_id]
        if connector.starting:
            raise CallFailed(f"connector {connector_id}: a StartTransaction is already in flight")
        payload: dict[str, Any] = {
            "connectorId": connector_id,
            "idTag": id_tag,
            "meterStart": connector.meter_wh,
            "timestamp": iso(),
        }
        if reservation_id is not None:
            payload["reservationId"] = reservation_id
        connector.starting = True
        try:
            answer = await self.call("StartTransaction", payload)
        finally:
            connector.starting = False
        tx = int(answer["transactionId"])
        connector.transaction_id, connector.id_tag, connector.status = tx, id_tag, "Charging"
        connector.started_at = datetime.now(UTC)
        return tx

    async def meter_values(self, connector_id: int, energy_step_wh: int = 250) -> None:
        connector = self.connectors[connector_id]
        connector.meter_wh += energy_step_wh
        payload: dict[str, Any] = {
            "connectorId": connector_id,
            "meterValue": [
                {
                    "timestamp": iso(),
                    "sampledValue": [
                        {
                            "value": str(connector.meter_wh),
                            "measurand": "Energy.Active.Import.Register",
                            "unit": "Wh",
                        },
                        {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                        {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
                    ],
                }
            ],
        }
        if connector.transaction_id is not None:
            payload["transactionId"] = connector.transaction_id
        await self.call("MeterValues", payload)

    async def stop_transaction(self, connector_id: int, reason: str = "Local") -> None:
        connector = self.connectors[connector_id]
        if connector.transaction_id is None or connector.stopping:
            return
        tx, id_tag = connector.transaction_id, connector.id_tag
        connector.status, connector.stopping = "Finishing", True
        payload: dict[str, Any] = {
            "transactionId": tx,
            "meterStop": connector.meter_wh,
            "timestamp": iso(),
            "reason": reason,
        }
        if id_tag is not None:
            payload["idTag"] = id_tag
        for profile_id in [p for p, v in self.profiles.items() if v.get("transactionId") == tx]:
            del self.profiles[profile_id]  # TxProfiles end with their transaction
        try:
            await self.call("StopTransaction", payload)
        finally:
            connector.stopping = False
        # Only an answered stop ends the transaction here: a station keeps an unanswered one and
        # sends it again when it is back (OCPP 1.6 section 4.10 and 4.9, queued messages).
        if connector.transaction_id == tx:
            connector.transaction_id, connector.id_tag = None, None
