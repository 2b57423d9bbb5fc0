"""shared.lease on the real broker: one holder among replicas, and another takes over at once when
the holder leaves."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest

from shared.lease import Lease
from tests.e2e.conftest import System, eventually

pytestmark = pytest.mark.e2e


async def test_one_holder_and_a_handover_when_it_leaves(system: System) -> None:
    name = f"{system.settings.instance_id}-{uuid.uuid4().hex[:6]}"  # its topic goes with the session's
    replicas = [
        Lease(dataclasses.replace(system.settings, instance_id=f"{system.settings.instance_id}-{i}"), name)
        for i in range(3)
    ]
    stopped: list[Lease] = []
    try:
        for lease in replicas:
            await lease.start()
        await eventually(lambda: sum(r.holding for r in replicas) == 1, timeout=30, what="one holder")
        await asyncio.sleep(1.0)
        assert sum(r.holding for r in replicas) == 1  # and it stays one
        holder = next(r for r in replicas if r.holding)
        await holder.stop()
        stopped.append(holder)
        others = [r for r in replicas if r is not holder]
        await eventually(lambda: sum(r.holding for r in others) == 1, timeout=20, what="a new holder")
        assert not holder.holding
    finally:
        for lease in replicas:
            if lease not in stopped:
                await lease.stop()
