"""Composite schedule throughput: three stacked recurring profiles over 24 hours.

The system's calculator (``shared/smartcharging/composite.py``, breakpoints only) against the
baseline in the same run: the simulated station's independent evaluation of the same profiles
second by second (``services/simulator/schedule.py``), the obvious way to compute it. Both must
produce the same periods; the benchmark checks that before it times anything.

    python -m bench composite [--seconds 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from bench.report import append_section, machine, save_json
from services.simulator.schedule import station_schedule
from shared.ocpp.v16.messages import ChargingProfile
from shared.smartcharging.composite import InstalledProfile, composite_schedule

DAY = 86_400


def recurring(
    profile_id: int, purpose: str, stack: int, kind: str, periods: list[tuple[int, float]], duration: int
) -> Any:
    origin = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    body = {
        "chargingProfileId": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Recurring",
        "recurrencyKind": kind,
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": origin.isoformat(),
            "duration": duration,
            "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in periods],
        },
    }
    return msgspec.json.decode(msgspec.json.encode(body), type=ChargingProfile)


def profiles() -> list[InstalledProfile]:
    """A station cap changing every hour, a tariff-shaped default, and a night override above it."""
    hours = [(h * 3600, float(10 + (h * 7) % 23)) for h in range(24)]
    tariff = [(0, 16.0), (6 * 3600, 10.0), (9 * 3600, 13.0), (17 * 3600, 8.0), (22 * 3600, 16.0)]
    night = [(0, 24.0), (3600, 6.0), (2 * 3600, 20.0), (4 * 3600, 11.0)]
    return [
        InstalledProfile(0, recurring(1, "ChargePointMaxProfile", 0, "Daily", hours, DAY)),
        InstalledProfile(1, recurring(2, "TxDefaultProfile", 0, "Weekly", tariff, 7 * DAY)),
        InstalledProfile(1, recurring(3, "TxDefaultProfile", 1, "Daily", night, 6 * 3600)),
    ]


def rate(fn: Callable[[], object], seconds: float) -> tuple[float, int]:
    """Calls per second of ``fn`` over about ``seconds`` (at least one call)."""
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return calls / elapsed, calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="time per contender")
    args = parser.parse_args()
    installed = profiles()
    start = datetime(2026, 11, 26, 7, 30, tzinfo=UTC)

    def ours() -> list[dict[str, Any]]:
        periods = composite_schedule(installed, connector_id=1, start=start, duration=DAY, unit="A")
        return [{"startPeriod": p.start_offset, "limit": round(p.limit, 1)} for p in periods]

    def baseline() -> list[dict[str, Any]]:
        return station_schedule(
            installed,
            connector_id=1,
            start=start,
            duration=DAY,
            unit="A",
            transaction_id=None,
            transaction_start=None,
            fallback_limit=32.0,
        )

    expected, got = baseline(), ours()
    if expected != got:
        raise SystemExit(f"the calculators disagree:\n ours {got[:5]}...\n base {expected[:5]}...")
    ours_rate, ours_calls = rate(ours, args.seconds)
    base_rate, base_calls = rate(baseline, args.seconds)
    result = {
        "machine": machine(),
        "periods": len(got),
        "ours_per_s": ours_rate,
        "ours_calls": ours_calls,
        "baseline_per_s": base_rate,
        "baseline_calls": base_calls,
    }
    path = save_json("composite", result)
    table = "\n".join(
        [
            (
                "| calculator (3 stacked recurring profiles, 24 h, "
                f"{len(got)} periods) | schedules/s | ms per schedule |"
            ),
            "|---|---|---|",
            f"| system (`shared/smartcharging/composite.py`) | {ours_rate:,.0f} | {1000 / ours_rate:.2f} |",
            (
                "| baseline: second-by-second (`services/simulator/schedule.py`) "
                f"| {base_rate:,.2f} | {1000 / base_rate:,.0f} |"
            ),
            "",
            f"Speed-up {ours_rate / base_rate:,.0f}x; identical periods. Raw: `{path.name}`.",
        ]
    )
    append_section("Composite schedule calculator", "`make bench BENCH_ARGS=composite`", table)


if __name__ == "__main__":
    main()
