"""The frame follower (a ``FrameHandler`` on ``ocpp.frames``, its own consumer group): the
FirmwareStatus-, DiagnosticsStatus-, LogStatusNotification and BootNotification CALLs of stations with work in
progress are decided (``decide.decide``) into the service's events. It never answers them: the
stations service does."""

from __future__ import annotations

from services.firmware import decide
from services.firmware.service import SERVICE, FirmwareService
from shared.config import Settings
from shared.events.frames import station_request
from shared.events.topics import Topics
from shared.service import Inbound, Output


class FirmwareFrames:
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
        call = station_request(inbound.record, decide.WATCHED)
        if call is None:
            return []
        record, request = call
        decision = decide.decide(self.service.state, request, decide.Frame(record.station_id, record.at_ms))
        return self.service.outputs(decision)
