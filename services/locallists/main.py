"""What the local-lists process runs: the read model of the list each station holds.

Pushing lists needs the operator's command path and runs in the operator API (``pusher.py``); the
held-list read model is built here from ``ocpp.frames`` like any other projection.
"""

from __future__ import annotations

from services.locallists.projection import LocalListsProjection
from shared.config import Settings
from shared.events.topics import Topics
from shared.projection import Projection, projection_runners
from shared.service import Runner


def projections(topics: Topics) -> list[Projection]:
    return [LocalListsProjection(topics)]


def runners(settings: Settings) -> list[Runner]:
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    return list(projection_runners(projections(topics), settings))
