"""Round trip: open-loop load of the realistic mix at fixed rates, against the system and the baseline.

For each rate, ``csms simulate --rate R`` (its own process) drives ``--stations`` stations; latency is
what a station observes, from the moment it wanted to send to the answer, through the whole path
(gateway -> Kafka -> service -> Kafka -> gateway). The same load then runs against the baseline (a
one-process central system written with the ``ocpp`` package, bench/baseline_csms.py). Reported:
p50 / p99 / p99.9 and the achieved rate per step, and per target the highest rate whose p99 stays
under 100 ms with every call answered.

    python -m bench roundtrip [--rates 250,500,1000,2000,3000,5000] [--seconds 15] [--stations 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from bench.report import append_section, machine, save_json
from bench.system import SystemUnderTest, free_port, simulate

P99_BUDGET_MS = 100.0


def load(url: str, rate: float, seconds: float, stations: int, processes: int) -> dict[str, Any]:
    return simulate(
        {
            "url": url,
            "stations": stations,
            "ramp": 1000,
            "rate": rate,
            "duration": seconds,
            "warmup": 3,
            "heartbeat": 3600,
            "call-timeout": 10,
            "processes": processes,
        },
        timeout=seconds + 180,
    )


def holds(step: dict[str, Any]) -> bool:
    ok: bool = (
        step["latency_ms"]["p99"] < P99_BUDGET_MS
        and step["errors"] == 0
        and step["timeouts"] == 0
        and step["calls_per_s"] >= 0.95 * step["rate"]
    )
    return ok


def sweep(
    url: str, rates: list[float], seconds: float, stations: int, processes: int
) -> list[dict[str, Any]]:
    steps = []
    for rate in rates:
        summary = load(url, rate, seconds, stations, processes)
        step = {
            "rate": rate,
            "calls_per_s": summary["calls_per_s"],
            "latency_ms": summary["latency_ms"],
            "errors": summary["errors"],
            "timeouts": summary["timeouts"],
        }
        steps.append(step)
        print(json.dumps(step), flush=True)
        if step["calls_per_s"] < 0.5 * rate:
            break  # saturated far below the target: higher rates only add queueing
    return steps


def best(steps: list[dict[str, Any]]) -> float:
    return max((s["rate"] for s in steps if holds(s)), default=0.0)


def main(args: argparse.Namespace) -> None:
    rates = [float(r) for r in args.rates.split(",")]
    system = SystemUnderTest(services=("gateway", "stations", "transactions"))
    with system.running():
        time.sleep(5)  # consumer groups settle
        ours = sweep(system.station_url, rates, args.seconds, args.stations, args.processes)
    port = free_port()
    baseline = subprocess.Popen([sys.executable, "-m", "bench.baseline_csms", "--port", str(port)])
    try:
        time.sleep(2)
        theirs = sweep(f"ws://127.0.0.1:{port}/ocpp", rates, args.seconds, args.stations, args.processes)
    finally:
        baseline.terminate()
        baseline.wait(10)
    result: dict[str, Any] = {
        "machine": machine(),
        "args": vars(args),
        "csms": ours,
        "baseline": theirs,
        "csms_max_rate": best(ours),
        "baseline_max_rate": best(theirs),
    }
    save_json("roundtrip", result)
    rows = [
        "| rate/s | csms achieved | csms p50 / p99 / p99.9 ms | baseline achieved | baseline p50 / p99 / p99.9 ms |",
        "|---|---|---|---|---|",
    ]
    by_rate = {s["rate"]: s for s in theirs}
    for s in ours:
        b = by_rate.get(s["rate"])
        lat = s["latency_ms"]
        cell = f"{lat['p50']} / {lat['p99']} / {lat['p99.9']}" + ("" if holds(s) else " ✗")
        if b is not None:
            bl = b["latency_ms"]
            bcell = f"{bl['p50']} / {bl['p99']} / {bl['p99.9']}" + ("" if holds(b) else " ✗")
            rows.append(f"| {s['rate']:.0f} | {s['calls_per_s']} | {cell} | {b['calls_per_s']} | {bcell} |")
        else:
            rows.append(f"| {s['rate']:.0f} | {s['calls_per_s']} | {cell} | (not run) | |")
    ratio = (
        result["csms_max_rate"] / result["baseline_max_rate"] if result["baseline_max_rate"] else float("nan")
    )
    rows.append("")
    rows.append(
        f"Highest rate with p99 < {P99_BUDGET_MS:.0f} ms and every call answered: csms **{result['csms_max_rate']:.0f}/s**, "
        f"baseline **{result['baseline_max_rate']:.0f}/s** (csms / baseline = {ratio:.2f}). ✗ = the step misses the budget."
    )
    table = "\n".join(rows)
    append_section(
        "Round trip (open-loop realistic mix)",
        f"`python -m bench roundtrip --rates {args.rates} --seconds {args.seconds} --stations {args.stations} "
        f"--processes {args.processes}`",
        table,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="250,500,1000,2000,3000,5000")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=1, help="simulator processes")
    main(parser.parse_args())
