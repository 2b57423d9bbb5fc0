"""What the smartcharging process runs: the site allocator and the read models.

The allocator decides (it sends TxProfiles to keep sites under their grid limit); the read models
are the charging profiles each station holds and each site's newest allocation.
"""

from __future__ import annotations

from services.smartcharging.projection import ChargingProfilesProjection
from services.smartcharging.site_projection import SiteAllocationsProjection
from services.smartcharging.sites import SiteManager
from shared.config import Settings
from shared.events.topics import Topics
from shared.projection.base import Projection
from shared.projection.runner import projection_runners
from shared.service import Runner


def projections(topics: Topics) -> list[Projection]:
    return [ChargingProfilesProjection(topics), SiteAllocationsProjection(topics)]


def runners(settings: Settings) -> list[Runner]:
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    read_models = projection_runners(projections(topics), settings) if settings.projections else []
    return [SiteManager(settings), *read_models]
