"""What the firmware process runs: the service (driver, file servers), its frame follower, its read models."""

from __future__ import annotations

from services.firmware.frames import FirmwareFrames
from services.firmware.projection import FirmwareProjection
from services.firmware.service import SERVICE, FirmwareService
from shared.config import Settings
from shared.events.topics import Topics
from shared.projection.base import Projection
from shared.projection.runner import projection_runners
from shared.service import FrameServiceRunner, Runner


def projections(topics: Topics) -> list[Projection]:
    return [FirmwareProjection(topics)]


def runners(settings: Settings) -> list[Runner]:
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    service = FirmwareService(settings)
    result: list[Runner] = [
        service,
        FrameServiceRunner(FirmwareFrames(service), settings, extra_topics=[topics.domain_spec(SERVICE)]),
    ]
    if settings.projections:
        result += projection_runners(projections(topics), settings)
    return result
