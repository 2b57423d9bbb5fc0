"""The campaign driver: on every tick (``CSMS_FIRMWARE_TICK``), while this replica holds the
``firmware-driver`` lease (``shared.lease``), decide what time demands, record it, then send the
CALLs it names through the gateway (:class:`CommandClient`) and record their outcomes.

The event saying a CALL goes out is durable before the CALL is sent (at most once: a crash does
not send an update twice, ADR 0010); only the lease holder sends, so two replicas never do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec

from services.firmware import calls, decide
from services.firmware.context import FirmwarePort
from services.firmware.events import DiagnosticsSent, StationDispatched
from shared.commands import CommandClient, NotConnected
from shared.events.commands import CommandOutcome
from shared.lease import Lease
from shared.projection.columns import ms_to_datetime

log = logging.getLogger(__name__)


def iso_at(at_ms: int) -> str:
    """OCPP's dateTime, to the second (the retrieveDate of an update sent now)."""
    at = ms_to_datetime(at_ms)
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


class CampaignDriver:
    def __init__(self, port: FirmwarePort, commands: CommandClient, lease: Lease) -> None:
        self.port = port
        self.commands = commands
        self.lease = lease

    async def drive(self, stopping: asyncio.Event) -> None:
        """Tick until ``stopping`` is set; a failed tick is logged and retried at the next."""
        settings = self.port.settings
        deps = decide.Sweep(
            station_timeout_ms=int(settings.firmware_station_timeout * 1000),
            connected=lambda station_id: self.commands.where(station_id) is not None,
            answer_allowance_ms=int(settings.command_timeout * 1000),
        )
        while not stopping.is_set():
            try:
                async with self.lease.held:
                    if self.lease.holding:
                        await self.tick(deps)
            except Exception:
                log.exception("firmware driver tick failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), settings.firmware_tick)

    async def tick(self, deps: decide.Sweep) -> None:
        await self.port.follower_caught_up()  # operator intents (and a previous holder's events)
        decision = decide.sweep(self.port.state, self.port.clock(), deps)
        _, events = decision
        if events:
            await self.port.record(decision)
        for event in events:
            if isinstance(event, StationDispatched):
                self.port.spawn(self._update_firmware(event))
            elif isinstance(event, DiagnosticsSent):
                self.port.spawn(self._get_diagnostics(event))

    async def _call(self, station_id: str, action: str, payload: dict[str, object]) -> CommandOutcome | None:
        """The station's answer; None when it is not connected (the CALL was not sent)."""
        try:
            return await self.commands.call(station_id, action, msgspec.json.encode(payload))
        except NotConnected:
            return None

    async def _update_firmware(self, event: StationDispatched) -> None:
        state = self.port.state
        campaign = state.campaigns[event.campaign_id]
        image = state.images[campaign.image_id]
        location = self.port.locations().firmware(campaign, image)
        now_iso = iso_at(self.port.clock())
        if event.station_id in campaign.signed_stations:
            payload = calls.signed_update_firmware(campaign, image, location, now_iso)
            outcome = await self._call(event.station_id, "SignedUpdateFirmware", payload)
        else:
            payload = calls.update_firmware(campaign, location, now_iso)
            outcome = await self._call(event.station_id, "UpdateFirmware", payload)
        answer = decide.UpdateFirmwareAnswered(event.campaign_id, event.station_id, outcome)
        await self.port.record(decide.answered(self.port.state, answer, self.port.clock()))

    async def _get_diagnostics(self, event: DiagnosticsSent) -> None:
        diag = self.port.state.diagnostics[event.request_id]
        location = self.port.locations().diagnostics(diag)
        if diag.log_type is not None:
            outcome = await self._call(diag.station_id, "GetLog", calls.get_log(diag, location))
        else:
            outcome = await self._call(
                diag.station_id, "GetDiagnostics", calls.get_diagnostics(diag, location)
            )
        answer = decide.GetDiagnosticsAnswered(diag.request_id, diag.station_id, outcome)
        await self.port.record(decide.answered(self.port.state, answer, self.port.clock()))
