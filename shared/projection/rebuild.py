"""``csms replay``: drop projections and replay them from offset 0 into a target schema."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from shared.projection.base import Projection
from shared.projection.bookkeeping import drop_projection
from shared.projection.pool import DbTarget, connect_pool
from shared.projection.runner import ProjectionRunner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rebuilt:
    projection: str
    records: int
    seconds: float


async def rebuild(
    projections: Sequence[Projection], bootstrap: str, target: DbTarget, *, dead_letters: str | None = None
) -> list[Rebuilt]:
    """Drop each projection and replay it from offset 0 into ``target`` (``csms replay``)."""
    results: list[Rebuilt] = []
    pool = await connect_pool(target)
    try:
        for projection in projections:
            await drop_projection(pool, projection)
            runner = ProjectionRunner(projection, bootstrap, target, dead_letters=dead_letters)
            started = asyncio.get_running_loop().time()
            await runner.run(until_caught_up=True)
            elapsed = asyncio.get_running_loop().time() - started
            results.append(Rebuilt(projection.name, runner.applied, elapsed))
            log.info("replayed %s: %d records in %.1fs", projection.name, runner.applied, elapsed)
    finally:
        await pool.close()
    return results
