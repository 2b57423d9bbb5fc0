"""What the stations process runs: the OCPP handler and its two read models."""

from __future__ import annotations

from services.stations.calls_projection import StationCallsProjection
from services.stations.projection import StationsProjection
from services.stations.service import StationsHandler
from shared.config import Settings
from shared.events.topics import Topics
from shared.projection import DbTarget, Projection, ProjectionRunner
from shared.service import FrameServiceRunner, Runner


def projections(topics: Topics) -> list[Projection]:
    return [StationsProjection(topics), StationCallsProjection(topics)]


def runners(settings: Settings) -> list[Runner]:
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    target = DbTarget(settings.database_url, settings.db_schema)
    if not settings.projections:
        return [FrameServiceRunner(StationsHandler(), settings)]
    return [
        FrameServiceRunner(StationsHandler(), settings),
        *(ProjectionRunner(p, settings.kafka_bootstrap, target) for p in projections(topics)),
    ]
