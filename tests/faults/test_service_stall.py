"""SIGSTOP of a domain service past the reply timeout: stations get a clean InternalError CALLERROR
within the bound (OCPP-J 4.2.3), never a hang; after SIGCONT the service answers again."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.faults.system import check_invariants, load, make_system, report

# In `make test` too (about 40 s): the reply timeout is the bound every station relies on.
pytestmark = pytest.mark.e2e


async def test_sigstop_past_the_reply_timeout(tmp_path: Path) -> None:
    system = make_system(tmp_path)
    await system.create_topics()
    with system.running():
        async with load(system) as current:
            await current.results_grow(100)
            system.signal("transactions", signal.SIGSTOP)
            stopped_at = time.monotonic()
            try:
                # A transactions CALL (MeterValues is half the mix) answered InternalError by the gateway.
                await current.answer_like(
                    lambda a: a.error_code == "InternalError" and a.action == "MeterValues"
                )
                first_error = time.monotonic() - stopped_at
            finally:
                system.signal("transactions", signal.SIGCONT)
            resumed_at = time.monotonic()
            await current.answered("MeterValues", by=10, timeout=60)
            recovery = time.monotonic() - resumed_at
            summary = await current.finish()
        numbers = await check_invariants(system, current, summary)
    report(
        "SIGSTOP transactions",
        {**numbers, "first_internal_error_s": round(first_error, 1), "recovery_s": round(recovery, 1)},
    )
    assert numbers["internal_errors"] > 0
