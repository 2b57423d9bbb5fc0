"""Round trip: open-loop load of the realistic mix at fixed rates, against the system and the baseline.

For each rate, ``csms simulate --rate R`` (its own process) drives ``--stations`` stations; latency is
what a station observes, from the moment it wanted to send to the answer, through the whole path
(gateway -> Kafka -> service -> Kafka -> gateway). The system is what ``make run`` runs: all eight
services, projections on, beside the broker and PostgreSQL. The same load then runs against the
baseline (a one-process central system written with the ``ocpp`` package, bench/baseline_csms.py)
with the system stopped, so that neither steals CPU from the other.

Reported per step: the achieved rate, p50 / p99 / p99.9, and the CPU per call summed over every
process of each side (the system's includes the broker and PostgreSQL; the load generator counts
for neither), measured in the simulator's own measurement window, with the machine's steal time (a
noisy VM reports it in /proc/stat). Per side: the highest rate whose p99 stays under 100 ms with every
call answered, and the p50 at half the system's highest rate.

    python -m bench roundtrip [--rates 100,200,...] [--seconds 15] [--stations 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import psutil

from bench.report import append_section, machine, save_json
from bench.system import CpuSampler, free_port, simulate, system_groups, whole_system

P99_BUDGET_MS = 100.0
Groups = dict[str, Callable[[], list[psutil.Process]]]


# Long enough for the boot storm of a step's stations (each connects and boots at its start) to be
# answered before the window opens: on the system that is a few seconds of backlog.
WARMUP_S = 15


def load(url: str, rate: float, seconds: float, stations: int, processes: int) -> dict[str, Any]:
    return simulate(
        {
            "url": url,
            "stations": stations,
            "ramp": 1000,
            "rate": rate,
            "duration": seconds,
            "warmup": WARMUP_S,
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
    url: str, groups: Groups, rates: list[float], seconds: float, stations: int, processes: int
) -> list[dict[str, Any]]:
    steps = []
    with CpuSampler(groups) as cpu:
        for rate in rates:
            summary = load(url, rate, seconds, stations, processes)
            time.sleep(1.0)  # the sampler has a sample after the window's end
            window = cpu.window(*summary["window_unix"])
            calls = summary["calls_per_s"] * window["seconds"]
            step = {
                "rate": rate,
                "calls_per_s": summary["calls_per_s"],
                "latency_ms": summary["latency_ms"],
                "errors": summary["errors"],
                "timeouts": summary["timeouts"],
                "cpu_percent": window["cpu_percent"],
                "cpu_total_percent": window["total_percent"],
                "cpu_ms_per_call": round(window["total_percent"] * 10 * window["seconds"] / max(calls, 1), 3),
                "machine_busy_percent": window["machine_busy_percent"],
                "steal_percent": window["steal_percent"],
            }
            steps.append(step)
            print(json.dumps(step), flush=True)
            if step["calls_per_s"] < 0.5 * rate:
                break  # saturated far below the target: higher rates only add queueing
    return steps


def best(steps: list[dict[str, Any]]) -> float:
    return max((s["rate"] for s in steps if holds(s)), default=0.0)


def run_system(args: argparse.Namespace, rates: list[float]) -> tuple[list[dict[str, Any]], float | None]:
    """The sweep, then the p50 at half the highest rate that held (None when none held), in
    one running system."""
    system = whole_system()
    with system.running():
        time.sleep(10)  # consumer groups settle, projections catch up with the run's empty topics
        steps = sweep(
            system.station_url, system_groups(system), rates, args.seconds, args.stations, args.processes
        )
        half_rate = best(steps) / 2
        if not half_rate:
            return steps, None
        summary = load(system.station_url, half_rate, args.seconds, args.stations, args.processes)
        p50: float = summary["latency_ms"]["p50"]
        return steps, p50


def run_baseline(args: argparse.Namespace, rates: list[float]) -> list[dict[str, Any]]:
    port = free_port()
    baseline = subprocess.Popen([sys.executable, "-m", "bench.baseline_csms", "--port", str(port)])
    try:
        time.sleep(2)
        proc = psutil.Process(baseline.pid)
        return sweep(
            f"ws://127.0.0.1:{port}/ocpp",
            {"baseline": lambda: [proc]},
            rates,
            args.seconds,
            args.stations,
            args.processes,
        )
    finally:
        baseline.terminate()
        baseline.wait(10)


def _cell(step: dict[str, Any] | None) -> str:
    if step is None:
        return "(not run) | | "
    lat = step["latency_ms"]
    mark = "" if holds(step) else " ✗"
    return f"{step['calls_per_s']} | {lat['p50']} / {lat['p99']} / {lat['p99.9']}{mark} | {step['cpu_ms_per_call']}"


def table(result: dict[str, Any]) -> str:
    ours, theirs = result["csms"], result["baseline"]
    rows = [
        (
            "| rate/s | csms achieved | csms p50 / p99 / p99.9 ms | csms CPU ms/call | baseline achieved "
            "| baseline p50 / p99 / p99.9 ms | baseline CPU ms/call | CPU ratio | steal % (csms, baseline) |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by_rate = {s["rate"]: s for s in theirs}
    for rate in sorted({s["rate"] for s in ours} | set(by_rate)):
        s = next((x for x in ours if x["rate"] == rate), None)
        b = by_rate.get(rate)
        ratio = (
            f"{s['cpu_ms_per_call'] / b['cpu_ms_per_call']:.2f}" if s and b and b["cpu_ms_per_call"] else ""
        )
        steal = f"{s['steal_percent'] if s else ''}, {b['steal_percent'] if b else ''}"
        rows.append(f"| {rate:.0f} | {_cell(s)} | {_cell(b)} | {ratio} | {steal} |")
    busiest = max(ours, key=lambda s: s["rate"] if holds(s) else 0, default=None)
    where = (
        ", ".join(f"{n} {v}" for n, v in sorted(busiest["cpu_percent"].items(), key=lambda kv: -kv[1]))
        if busiest
        else ""
    )
    rate_ratio = (
        result["csms_max_rate"] / result["baseline_max_rate"] if result["baseline_max_rate"] else float("nan")
    )
    half = result.get("csms_p50_at_half_max")
    rows += [
        "",
        (
            f"Highest rate with p99 < {P99_BUDGET_MS:.0f} ms and every call answered: csms "
            f"**{result['csms_max_rate']:.0f}/s**, baseline **{result['baseline_max_rate']:.0f}/s** "
            f"(csms / baseline = {rate_ratio:.2f}). p50 at half the csms maximum: {half} ms. ✗ = the step "
            "misses the budget. CPU ms/call sums every process of the side over the simulator's "
            "measurement window (csms: all services, the broker, PostgreSQL)."
        ),
        "",
        f"CPU (% of one core) of the csms step at {busiest['rate'] if busiest else 0:.0f}/s: {where}.",
    ]
    return "\n".join(rows)


def main(args: argparse.Namespace) -> None:
    rates = [float(r) for r in args.rates.split(",")]
    ours, p50_at_half = ([], None) if args.baseline_only else run_system(args, rates)
    theirs = run_baseline(args, rates)
    result: dict[str, Any] = {
        "machine": machine(),
        "args": vars(args),
        "csms": ours,
        "baseline": theirs,
        "csms_max_rate": best(ours),
        "baseline_max_rate": best(theirs),
        "csms_p50_at_half_max": p50_at_half,
    }
    save_json("roundtrip", result)
    append_section(
        "Round trip (open-loop realistic mix)",
        f"`python -m bench roundtrip --rates {args.rates} --seconds {args.seconds} --stations {args.stations} "
        f"--processes {args.processes}`",
        table(result),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="100,200,300,400,500,700,1000,1500")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=1, help="simulator processes")
    parser.add_argument("--baseline-only", action="store_true", help="measure the baseline alone")
    main(parser.parse_args())
