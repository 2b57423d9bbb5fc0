"""What the transactions process runs: the OCPP handler and its read model."""

from __future__ import annotations

from services.transactions.projection import TransactionsProjection
from services.transactions.service import SERVICE, TransactionsHandler
from shared.config import Settings
from shared.events.topics import Topics
from shared.projection.base import Projection
from shared.projection.runner import projection_runners
from shared.reservations.events import SERVICE as RESERVATIONS
from shared.service import FrameServiceRunner, Runner


def projections(topics: Topics) -> list[Projection]:
    return [TransactionsProjection(topics)]


def runners(settings: Settings) -> list[Runner]:
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    read_models = projection_runners(projections(topics), settings) if settings.projections else []
    handler = FrameServiceRunner(
        TransactionsHandler(),
        settings,
        extra_topics=[topics.domain_spec(SERVICE), topics.domain_spec(RESERVATIONS)],
    )
    return [handler, *read_models]
