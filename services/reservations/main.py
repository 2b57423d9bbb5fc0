"""What the reservations process runs: the life-cycle follower (with its expiry sweep) and its read model."""

from __future__ import annotations

from services.reservations.projection import ReservationsProjection
from services.reservations.service import ReservationsHandler
from shared.config import Settings
from shared.events.topics import Topics
from shared.projection.base import Projection
from shared.projection.runner import projection_runners
from shared.reservations.events import SERVICE
from shared.service import FrameServiceRunner, Runner


def projections(topics: Topics) -> list[Projection]:
    return [ReservationsProjection(topics)]


def runners(settings: Settings) -> list[Runner]:
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    read_models = projection_runners(projections(topics), settings) if settings.projections else []
    handler = ReservationsHandler()
    runner = FrameServiceRunner(handler, settings, extra_topics=[topics.domain_spec(SERVICE)])
    handler.owned = lambda: runner.assigned
    return [runner, *read_models]
