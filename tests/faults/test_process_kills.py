"""kill -9 of each process of the system under load, and a restart (as `csms all`'s supervisor
does): stations reconnect or get InternalError meanwhile (OCPP-J 4.2.3), nothing a station was told
is missing from ``ocpp.frames``, and the read models catch up (docs/reliability.md)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.system import check_invariants, load, make_system, report


# The gateway and the projections writer are killed in `make test` too (about 45 s each); the
# domain services' kills wait out a consumer-group session each and run in `make test-faults`.
@pytest.mark.parametrize(
    ("victim", "answered_by_it"),
    [
        pytest.param("gateway", "Heartbeat", marks=pytest.mark.e2e),
        pytest.param("stations", "StatusNotification", marks=pytest.mark.faults),
        pytest.param("transactions", "StartTransaction", marks=pytest.mark.faults),
        pytest.param("projections", "StopTransaction", marks=pytest.mark.e2e),
    ],
)
async def test_kill_9_and_restart(tmp_path: Path, victim: str, answered_by_it: str) -> None:
    system = make_system(tmp_path)
    await system.create_topics()
    with system.running():
        async with load(system) as current:
            await current.results_grow(100)
            system.kill(victim)
            killed_at = time.monotonic()
            system.spawn(victim)
            # Recovered: the restarted process answers again (the projections writer: stops keep
            # being acknowledged and check_invariants finds each of them stopped in the API).
            await current.answered(answered_by_it, by=5, timeout=90)
            recovery = time.monotonic() - killed_at
            await current.results_grow(50)
            summary = await current.finish()
        numbers = await check_invariants(system, current, summary)
    report(f"kill -9 {victim}", {**numbers, "recovery_s": round(recovery, 1)})
    assert numbers["callresults"] > 150
