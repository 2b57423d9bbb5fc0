"""What the local-lists process runs: background pushes (durable jobs, one runner at a time through
a lease) and the read models of the lists stations hold and of the pushes.

A push to one station is a request/response of the operator API (``pusher.py``); a push to many is
requested by the API and run here (``jobs.py``).
"""

from __future__ import annotations

from services.locallists.jobs import PushRunner
from services.locallists.projection import LocalListsProjection
from services.locallists.push_projection import LocalListPushesProjection
from shared.config import Settings
from shared.events.topics import Topics
from shared.projection.base import Projection
from shared.projection.runner import projection_runners
from shared.service import Runner


def projections(topics: Topics) -> list[Projection]:
    return [LocalListsProjection(topics), LocalListPushesProjection(topics)]


def runners(settings: Settings) -> list[Runner]:
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    read_models = projection_runners(projections(topics), settings) if settings.projections else []
    return [PushRunner(settings), *read_models]
