"""What the stations process runs: the OCPP handler and its read models."""

from __future__ import annotations

from services.stations.calls_projection import StationCallsProjection
from services.stations.certificate_signer import CertificateSigner
from services.stations.projection import StationsProjection
from services.stations.security_projection import SecurityEventsProjection
from services.stations.service import StationsHandler
from shared.config import Settings
from shared.events.topics import Topics
from shared.projection.base import Projection
from shared.projection.runner import projection_runners
from shared.service import FrameServiceRunner, Runner


def projections(topics: Topics) -> list[Projection]:
    return [StationsProjection(topics), StationCallsProjection(topics), SecurityEventsProjection(topics)]


def runners(settings: Settings) -> list[Runner]:
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    read_models = projection_runners(projections(topics), settings) if settings.projections else []
    return [FrameServiceRunner(StationsHandler(), settings), CertificateSigner(settings), *read_models]
