"""The firmware service: campaign driver, station-facing file servers, frame follower.

- State: rebuilt by following ``firmware.events`` (operator intents from the API, its own events).
- :class:`FirmwareFrames` reads ``ocpp.frames`` (its own consumer group) and turns FirmwareStatus-,
  DiagnosticsStatusNotification and BootNotification CALLs of stations with work in progress into
  events. It never answers them: the stations service does.
- The driver ticks (``CSMS_FIRMWARE_TICK``): silent stations time out, batches advance, UpdateFirmware
  and GetDiagnostics are sent through the gateway (:class:`CommandClient`) after the event saying so
  is durable (at most once: a crash does not send twice).
- HTTP (Range requests, for resumed downloads) and FTP serve images with per-campaign credentials and
  take diagnostics uploads with per-request credentials.

Replicas share the frames (consumer group) and all serve files; only the holder of the
``firmware-driver`` lease (``shared.lease``) drives campaigns, so an update is never sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
import ssl
from collections.abc import AsyncIterator, Coroutine, Sequence
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import BodyPartReader, web
from aiokafka import AIOKafkaProducer

from services.firmware import decide
from services.firmware.events import (
    DiagnosticsAnswered,
    DiagnosticsFileStored,
    DiagnosticsSent,
    FirmwareEvent,
    StationDispatched,
    encode_event,
    event_decoder,
    key_of,
)
from services.firmware.ftp import Account, FtpServer
from services.firmware.state import Campaign, Diagnostics, State, evolve
from services.firmware.storage import LocalStorage, Stored, TooLarge, safe_name
from shared.clock import SYSTEM, Clock, utc_now
from shared.commands import CommandClient, NotConnected
from shared.config import Settings
from shared.events.commands import CommandOutcome, OutcomeStatus
from shared.events.frames import station_request
from shared.events.topics import Topics
from shared.kafka import ensure_topics, make_producer
from shared.lease import Lease
from shared.service import Inbound, Output
from shared.tables import LogFollower

log = logging.getLogger(__name__)

SERVICE = "firmware"
WATCHED = ("FirmwareStatusNotification", "DiagnosticsStatusNotification", "BootNotification")


def iso_now() -> str:
    return utc_now().isoformat(timespec="seconds").replace("+00:00", "Z")


def port_range(text: str) -> range | None:
    """ "30000-30009" -> range(30000, 30010); "" -> None. A malformed range stops the start-up."""
    if not text:
        return None
    low, _, high = text.partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError as exc:
        raise ValueError(f"CSMS_FILES_FTP_PASSIVE_PORTS must look like 30000-30009, not {text!r}") from exc
    if not 0 < first <= last < 65536:
        raise ValueError(f"CSMS_FILES_FTP_PASSIVE_PORTS {text!r} is not a port range")
    return range(first, last + 1)


def describe(outcome: CommandOutcome) -> str | None:
    """None when the station answered with a CALLRESULT, else why the CALL did not work."""
    if outcome.status is OutcomeStatus.RESULT:
        return None
    if outcome.status is OutcomeStatus.ERROR:
        return f"CallError {outcome.error_code}: {outcome.error_description or ''}".strip()
    if outcome.status is OutcomeStatus.UNDELIVERABLE:
        return "NotConnected"
    return f"{outcome.status.value.capitalize()}: {outcome.error_description or 'no answer'}"


class FirmwareService:
    name = SERVICE

    def __init__(self, settings: Settings, clock: Clock = SYSTEM) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix, settings.frame_partitions)
        self.topic = self.topics.domain(SERVICE)
        self.clock = clock.now_ms
        self.state = State()
        self.storage = LocalStorage(settings.files_dir)
        self.ready = asyncio.Event()
        # Its own replies topic: the API instance of the same host has instance_id already.
        self.commands = CommandClient(
            dataclasses.replace(settings, instance_id=f"{settings.instance_id}-firmware")
        )
        self._follower = LogFollower(settings.kafka_bootstrap, self.topic, self._apply)
        # Only the holder drives campaigns and sends; every replica follows and serves files.
        self.lease = Lease(settings, "firmware-driver")
        self._producer: AIOKafkaProducer | None = None
        self._http: web.AppRunner | None = None
        self._ftp: FtpServer | None = None
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.http_port = settings.files_http_port
        self.ftp_port = settings.files_ftp_port
        self.startup_error: BaseException | None = None

    # -- life cycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._start()
        except BaseException as exc:
            self.startup_error = exc  # the frame handler waits on ``ready``: tell it, do not hang it
            self.ready.set()
            await self._close()
            raise
        self.ready.set()
        try:
            await self._drive()
        finally:
            await self._close()

    async def _start(self) -> None:
        s = self.settings
        self._loop = asyncio.get_running_loop()
        await ensure_topics(
            s.kafka_bootstrap,
            [*self.topics.shared_specs(), self.topics.domain_spec(SERVICE)],
            s.replication_factor,
        )
        self._producer = make_producer(s.kafka_bootstrap, client_id=f"firmware-{s.instance_id}")
        await self._producer.start()
        await self.commands.start()
        await self._follower.start()
        await self.lease.start()
        await self._start_http()
        if s.files_ftp_port >= 0:
            self._ftp = FtpServer(
                s.files_host,
                s.files_ftp_port,
                self._ftp_account,
                self._ftp_uploaded,
                s.diagnostics_max_bytes,
                passive_ports=port_range(s.files_ftp_passive_ports),
                masquerade_address=s.files_ftp_masquerade or None,
            )
            self.ftp_port = self._ftp.port
            self._ftp.start()
        log.info(
            "firmware: %d campaigns, %d diagnostics requests rebuilt; files on %s :%d, ftp :%s",
            len(self.state.campaigns),
            len(self.state.diagnostics),
            self.http_scheme,
            self.http_port,
            self.ftp_port if self._ftp else "off",
        )

    async def _close(self) -> None:
        """Stop whatever was started (also after a failed start)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ftp is not None:
            await asyncio.to_thread(self._ftp.stop)
        if self._http is not None:
            await self._http.cleanup()
        for step in (
            self.lease.stop,
            self._follower.stop,
            self.commands.stop,
            *([self._producer.stop] if self._producer else []),
        ):
            with contextlib.suppress(Exception):
                await step()

    def stop(self) -> None:
        self._stopping.set()

    def _apply(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        if value is not None:
            evolve(self.state, event_decoder.decode(value))

    # -- events -------------------------------------------------------------------------------------

    def outputs(self, events: Sequence[FirmwareEvent]) -> list[Output]:
        """Evolve with ``events`` now (decisions that follow see them) and address them to the topic."""
        out = []
        for event in events:
            evolve(self.state, event)
            out.append(Output(self.topic, key_of(event), encode_event(event)))
        return out

    async def emit(self, events: Sequence[FirmwareEvent]) -> None:
        """Make ``events`` durable (acks=all) before anything that depends on them happens."""
        assert self._producer is not None
        futures = [await self._producer.send(o.topic, o.value, key=o.key) for o in self.outputs(events)]
        await asyncio.gather(*futures)

    # -- the driver ---------------------------------------------------------------------------------

    async def _drive(self) -> None:
        timeout_ms = int(self.settings.firmware_station_timeout * 1000)
        while not self._stopping.is_set():
            try:
                async with self.lease.held:
                    if self.lease.holding:
                        await self._tick(timeout_ms)
            except Exception:
                log.exception("firmware driver tick failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.firmware_tick)

    async def _tick(self, timeout_ms: int) -> None:
        await self._follower.wait_for_end(timeout=10)  # operator intents (and a previous holder's events)
        events = decide.tick(
            self.state, self.clock(), timeout_ms, lambda s: self.commands.where(s) is not None
        )
        if events:
            await self.emit(events)
        for event in events:
            if isinstance(event, StationDispatched):
                self._spawn(self._update_firmware(event))
            elif isinstance(event, DiagnosticsSent):
                self._spawn(self._get_diagnostics(event))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, station_id: str, action: str, payload: dict[str, object]) -> CommandOutcome | str:
        try:
            return await self.commands.call(station_id, action, msgspec.json.encode(payload))
        except NotConnected:
            return "NotConnected"

    async def _update_firmware(self, event: StationDispatched) -> None:
        campaign = self.state.campaigns[event.campaign_id]
        payload: dict[str, object] = {
            "location": self.firmware_location(campaign),
            "retrieveDate": campaign.retrieve_date or iso_now(),
        }
        if campaign.retries is not None:
            payload["retries"] = campaign.retries
        if campaign.retry_interval is not None:
            payload["retryInterval"] = campaign.retry_interval
        outcome = await self._call(event.station_id, "UpdateFirmware", payload)
        error = outcome if isinstance(outcome, str) else describe(outcome)
        outcome_event = decide.dispatch_outcome(
            self.state, event.campaign_id, event.station_id, error, self.clock()
        )
        await self.emit([outcome_event])

    async def _get_diagnostics(self, event: DiagnosticsSent) -> None:
        diag = self.state.diagnostics[event.request_id]
        payload: dict[str, object] = {"location": self.diagnostics_location(diag)}
        optional = {
            "startTime": diag.start_time,
            "stopTime": diag.stop_time,
            "retries": diag.retries,
            "retryInterval": diag.retry_interval,
        }
        payload.update({k: v for k, v in optional.items() if v is not None})
        outcome = await self._call(diag.station_id, "GetDiagnostics", payload)
        error = outcome if isinstance(outcome, str) else describe(outcome)
        file_name = None
        if not isinstance(outcome, str) and error is None:
            answer = msgspec.json.decode(bytes(outcome.payload)) if bytes(outcome.payload) else None
            name = answer.get("fileName") if isinstance(answer, dict) else None
            file_name = name if isinstance(name, str) else None
        await self.emit(
            [
                DiagnosticsAnswered(
                    request_id=diag.request_id,
                    station_id=diag.station_id,
                    file_name=file_name,
                    error=error,
                    at_ms=self.clock(),
                )
            ]
        )

    # -- locations ------------------------------------------------------------------------------------

    @property
    def public_host(self) -> str:
        return self.settings.files_public_host or self.settings.files_host

    def firmware_location(self, campaign: Campaign) -> str:
        image = self.state.images[campaign.image_id]
        if campaign.transport == "ftp":
            return f"ftp://fw-{campaign.campaign_id}:{campaign.token}@{self.public_host}:{self.ftp_port}/{image.name}"
        return f"{self.http_scheme}://{self.public_host}:{self.http_port}/firmware/{campaign.campaign_id}/{campaign.token}/{image.name}"

    def diagnostics_location(self, diag: Diagnostics) -> str:
        if diag.transport == "ftp":
            return f"ftp://diag-{diag.request_id}:{diag.token}@{self.public_host}:{self.ftp_port}/"
        return f"{self.http_scheme}://{self.public_host}:{self.http_port}/diagnostics/{diag.request_id}/{diag.token}/"

    # -- HTTP for stations ----------------------------------------------------------------------------

    async def _start_http(self) -> None:
        app = web.Application()
        app.router.add_get("/firmware/{campaignId}/{token}/{name}", self._download)
        for method in ("PUT", "POST"):
            app.router.add_route(method, "/diagnostics/{requestId}/{token}/{name:.*}", self._upload)
        self._http = web.AppRunner(app, access_log=None)
        await self._http.setup()
        site = web.TCPSite(
            self._http, self.settings.files_host, self.settings.files_http_port, ssl_context=self._tls()
        )
        await site.start()
        sockets = getattr(site._server, "sockets", None)
        if sockets:
            self.http_port = sockets[0].getsockname()[1]

    def _tls(self) -> ssl.SSLContext | None:
        s = self.settings
        if not (s.files_tls_cert and s.files_tls_key):
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(s.files_tls_cert, s.files_tls_key)
        return context

    @property
    def http_scheme(self) -> str:
        return "https" if self.settings.files_tls_cert and self.settings.files_tls_key else "http"

    async def _download(self, request: web.Request) -> web.StreamResponse:
        """The campaign's image; aiohttp's FileResponse answers Range (206) and If-Range for resumes."""
        campaign = self.state.campaigns.get(request.match_info["campaignId"])
        if campaign is None or not hmac.compare_digest(
            campaign.token.encode(), request.match_info["token"].encode()
        ):
            raise web.HTTPNotFound(text="no such file")
        image = self.state.images.get(campaign.image_id)
        path = self.storage.local_path(image.storage_key) if image is not None else None
        if image is None or path is None or request.match_info["name"] != image.name:
            raise web.HTTPNotFound(text="no such file")
        return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        """A station's diagnostics upload: the raw body (PUT/POST) or the first file of a multipart POST."""
        diag = self.state.diagnostics.get(request.match_info["requestId"])
        if diag is None or not hmac.compare_digest(diag.token.encode(), request.match_info["token"].encode()):
            raise web.HTTPNotFound(text="no such upload location")
        name = request.match_info["name"]
        chunks: AsyncIterator[bytes]
        if request.content_type.startswith("multipart/"):
            part = await (await request.multipart()).next()
            if not isinstance(part, BodyPartReader):
                raise web.HTTPBadRequest(text="multipart body without a file part")
            name = name or part.filename or ""
            chunks = _part_chunks(part)
        else:
            chunks = request.content.iter_chunked(1 << 16)
        name = name or diag.file_name or "diagnostics.bin"
        if not safe_name(name):
            raise web.HTTPBadRequest(text=f"file name {name!r} is not a plain file name")
        try:
            stored = await self.storage.save(
                f"diagnostics/{diag.request_id}/{name}", chunks, self.settings.diagnostics_max_bytes
            )
        except TooLarge as exc:
            raise web.HTTPRequestEntityTooLarge(
                max_size=self.settings.diagnostics_max_bytes, actual_size=0, text=f"upload too large: {exc}"
            ) from exc
        await self.emit([self._stored(diag, name, stored.key, stored.size, stored.sha256, "http")])
        return web.Response(status=201, text="stored\n")

    def _stored(
        self, diag: Diagnostics, name: str, key: str, size: int, sha256: str, via: str
    ) -> DiagnosticsFileStored:
        return DiagnosticsFileStored(
            request_id=diag.request_id,
            station_id=diag.station_id,
            file_name=name,
            size=size,
            sha256=sha256,
            storage_key=key,
            via=via,
            at_ms=self.clock(),
        )

    # -- FTP --------------------------------------------------------------------------------------------

    def _ftp_account(self, username: str) -> Account | None:
        """Called from the FTP thread; reads the state only."""
        kind, _, ident = username.partition("-")
        if kind == "fw":
            campaign = self.state.campaigns.get(ident)
            image = self.state.images.get(campaign.image_id) if campaign is not None else None
            path = self.storage.local_path(image.storage_key) if image is not None else None
            if campaign is None or path is None:
                return None
            return Account(campaign.token, path.parent, "elr")
        if kind == "diag":
            diag = self.state.diagnostics.get(ident)
            if diag is None:
                return None
            return Account(diag.token, self.storage.root / "ftp-staging" / diag.request_id, "elw")
        return None

    def _ftp_uploaded(self, username: str, path: Path) -> None:
        """From the FTP thread: store the file on the loop."""
        assert self._loop is not None
        request_id = username.partition("-")[2]

        def schedule() -> None:
            self._spawn(self._adopt_ftp_upload(request_id, path))

        self._loop.call_soon_threadsafe(schedule)

    async def _adopt_ftp_upload(self, request_id: str, path: Path) -> None:
        diag = self.state.diagnostics.get(request_id)
        stored = await asyncio.to_thread(self._adopt, request_id, path) if diag is not None else None
        if diag is not None and stored is not None:
            await self.emit([self._stored(diag, path.name, stored.key, stored.size, stored.sha256, "ftp")])

    def _adopt(self, request_id: str, path: Path) -> Stored | None:
        """Move an FTP upload into the storage, or drop it (bad name, over the size limit)."""
        size = path.stat().st_size
        if not safe_name(path.name) or size > self.settings.diagnostics_max_bytes:
            log.warning("diagnostics %s: FTP upload %r (%d bytes) dropped", request_id, path.name, size)
            path.unlink(missing_ok=True)
            return None
        return self.storage.adopt(f"diagnostics/{request_id}/{path.name}", path)


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(1 << 16):
        yield chunk


class FirmwareFrames:
    """The FrameHandler: station messages about firmware and diagnostics become the service's events."""

    name = SERVICE

    def __init__(self, service: FirmwareService) -> None:
        self.service = service

    async def start(self, topics: Topics, settings: Settings) -> None:
        await self.service.ready.wait()  # state rebuilt before the first frame is looked at
        if self.service.startup_error is not None:
            raise RuntimeError("the firmware service did not start") from self.service.startup_error

    async def stop(self) -> None:
        return None

    def handle(self, inbound: Inbound) -> list[Output]:
        call = station_request(inbound.record, WATCHED)
        if call is None:
            return []
        record, request = call
        state, station_id = self.service.state, record.station_id
        events: list[FirmwareEvent]
        if record.action == "FirmwareStatusNotification":
            events = decide.on_firmware_status(state, station_id, request.status, record.at_ms)
        elif record.action == "DiagnosticsStatusNotification":
            events = decide.on_diagnostics_status(state, station_id, request.status, record.at_ms)
        else:
            version = request.firmware_version if isinstance(request.firmware_version, str) else None
            events = decide.on_boot(state, station_id, version, record.at_ms)
        return self.service.outputs(events)
