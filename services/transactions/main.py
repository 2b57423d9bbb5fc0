"""What the transactions process runs: the OCPP handler and its read model."""

from __future__ import annotations

from services.transactions.projection import TransactionsProjection
from services.transactions.service import SERVICE, TransactionsHandler
from shared.config import Settings
from shared.events.topics import Topics
from shared.projection import DbTarget, Projection, ProjectionRunner
from shared.service import FrameServiceRunner, Runner


def projections(topics: Topics) -> list[Projection]:
    return [TransactionsProjection(topics)]


def runners(settings: Settings) -> list[Runner]:
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    target = DbTarget(settings.database_url, settings.db_schema)
    if not settings.projections:
        return [
            FrameServiceRunner(TransactionsHandler(), settings, extra_topics=[topics.domain_spec(SERVICE)])
        ]
    return [
        FrameServiceRunner(TransactionsHandler(), settings, extra_topics=[topics.domain_spec(SERVICE)]),
        *(ProjectionRunner(p, settings.kafka_bootstrap, target) for p in projections(topics)),
    ]
