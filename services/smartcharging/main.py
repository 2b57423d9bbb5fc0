"""What the smartcharging process runs: for now its read model of installed charging profiles.

(Deciding site load allocations is issue 5's next step; see the closing note.)
"""

from __future__ import annotations

from services.smartcharging.projection import ChargingProfilesProjection
from shared.config import Settings
from shared.events.topics import Topics
from shared.projection import Projection, projection_runners
from shared.service import Runner


def projections(topics: Topics) -> list[Projection]:
    return [ChargingProfilesProjection(topics)]


def runners(settings: Settings) -> list[Runner]:
    if not settings.projections:
        return []
    return list(
        projection_runners(projections(Topics(settings.topic_prefix, settings.frame_partitions)), settings)
    )
