"""The system on a 3-node cluster (replication 3, min.insync.replicas 2) under load.

One broker killed: traffic continues and nothing acknowledged is lost. Two killed: writes with
acks=all cannot be acknowledged, so the gateway answers each CALL it cannot log InternalError
(OCPP-J 4.2.3) within the bound, never a CALLRESULT; it recovers when the brokers return."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.gateway.logstate import NOT_LOGGED
from tests.faults.cluster import Cluster, cluster  # noqa: F401 - the fixture
from tests.faults.system import FaultSystem, check_invariants, load, make_system, report

pytestmark = pytest.mark.faults


async def gateway_health(system: FaultSystem) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{system.gateway_port}/health") as resp,
    ):
        return resp.status, await resp.json()


async def test_one_broker_killed(tmp_path: Path, cluster: Cluster) -> None:  # noqa: F811
    system = make_system(tmp_path, cluster.bootstrap, replication=3, log_timeout=10.0)
    await system.create_topics()
    with system.running():
        async with load(system) as current:
            await current.results_grow(100)
            await asyncio.to_thread(cluster.kill, 1)
            killed_at = time.monotonic()
            await current.results_grow(300, timeout=90)
            carried_on = time.monotonic() - killed_at
            await asyncio.to_thread(cluster.start)
            await current.results_grow(50)
            summary = await current.finish()
        numbers = await check_invariants(system, current, summary)
    report("kill -9 one broker", {**numbers, "300_results_after_kill_s": round(carried_on, 1)})


async def test_two_brokers_killed(tmp_path: Path, cluster: Cluster) -> None:  # noqa: F811
    system = make_system(tmp_path, cluster.bootstrap, replication=3, log_timeout=10.0)
    await system.create_topics()
    with system.running():
        async with load(system) as current:
            await current.results_grow(100)
            await asyncio.to_thread(cluster.kill, 2)
            await asyncio.to_thread(cluster.kill, 3)
            killed_at = time.monotonic()
            await current.answer_like(lambda a: a.error_description == NOT_LOGGED)
            first_refusal = time.monotonic() - killed_at
            status, down = await gateway_health(system)
            assert (status, down["log"]["available"]) == (503, False), down
            await asyncio.to_thread(cluster.start)
            back_at = time.monotonic()
            await current.results_grow(100, timeout=120)
            recovery = time.monotonic() - back_at
            summary = await current.finish()
            status, up = await gateway_health(system)
            assert (status, up["log"]["available"]) == (200, True), up
        numbers = await check_invariants(system, current, summary)
    refused = sum(1 for a in current.answers if a.error_description == NOT_LOGGED)
    report(
        "kill -9 two brokers",
        {
            **numbers,
            "not_logged_errors": refused,
            "first_refusal_s": round(first_refusal, 1),
            "recovery_s": round(recovery, 1),
            "refused_at_once": up["log"]["refusedWrites"],
        },
    )
    assert refused > 0
