"""Idle: what the whole system costs doing nothing, with no station and with 20,000 idle stations.

The system is what ``make run`` runs (all eight services, projections on) beside the broker and
PostgreSQL. CPU is measured per process group over ``--seconds``, first with no station connected,
then with ``--stations`` idle stations (keep-alive ping every 20 s, heartbeat every ``--heartbeat``
s; the simulator runs in its own processes and counts for nothing). The gateway's RSS before and
after the stations connect gives its memory per idle connection.

    python -m bench idle [--stations 20000] [--seconds 60] [--heartbeat 300]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from bench.report import append_section, machine, save_json
from bench.system import CpuSampler, idle_fleet, raise_fd_limit, system_groups, whole_system


def measure(sampler: CpuSampler, seconds: float) -> dict[str, Any]:
    start = time.time()
    time.sleep(seconds)
    time.sleep(1.0)  # a sample after the window's end
    return sampler.window(start, start + seconds)


def main(args: argparse.Namespace) -> None:
    raise_fd_limit()
    system = whole_system()
    with system.running(), CpuSampler(system_groups(system)) as sampler:
        time.sleep(args.settle)  # groups join, projections and followers catch up with empty topics
        empty = measure(sampler, args.seconds)
        print(json.dumps({"no stations": empty}), flush=True)
        gateway = system.process("gateway")
        rss_empty = gateway.memory_info().rss
        with idle_fleet(
            gateway, system.station_url, args.stations, ramp=args.ramp, processes=args.processes,
            heartbeat=args.heartbeat,
        ) as fleet:  # fmt: skip
            time.sleep(args.settle)
            full = measure(sampler, args.seconds)
            rss_full = gateway.memory_info().rss
        print(json.dumps({"stations": full}), flush=True)
    per_connection_kb = (rss_full - rss_empty) / max(1, fleet.connected) / 1024
    result: dict[str, Any] = {
        "machine": machine(),
        "args": vars(args),
        "no_stations": empty,
        "stations": full,
        "connected": fleet.connected,
        "ramp_s": fleet.ramp_s,
        "gateway_rss_mb": [round(rss_empty / 2**20, 1), round(rss_full / 2**20, 1)],
        "gateway_rss_per_connection_kb": round(per_connection_kb, 1),
    }
    save_json("idle", result)
    rows = [
        f"| process | no stations: % of one core | {fleet.connected} idle stations: % of one core |",
        "|---|---|---|",
    ]
    for name in empty["cpu_percent"]:
        rows.append(f"| {name} | {empty['cpu_percent'][name]} | {full['cpu_percent'][name]} |")
    rows += [
        f"| **whole system** | **{empty['total_percent']}** | **{full['total_percent']}** |",
        (
            f"| machine busy (incl. the simulator) / steal | {empty['machine_busy_percent']} / "
            f"{empty['steal_percent']} | {full['machine_busy_percent']} / {full['steal_percent']} |"
        ),
        "",
        (
            f"Gateway RSS {result['gateway_rss_mb'][0]} -> {result['gateway_rss_mb'][1]} MB with "
            f"{fleet.connected} stations (ramp {fleet.ramp_s} s): **{result['gateway_rss_per_connection_kb']} KB "
            "per idle connection**."
        ),
    ]
    append_section(
        "Idle system (all services, projections on)",
        f"`python -m bench idle --stations {args.stations} --seconds {args.seconds} --heartbeat {args.heartbeat}`",
        "\n".join(rows),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of each measurement")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds before each measurement")
    parser.add_argument("--heartbeat", type=float, default=300.0)
    parser.add_argument("--ramp", type=float, default=300.0, help="connections per second (all processes)")
    parser.add_argument("--processes", type=int, default=2, help="simulator processes")
    main(parser.parse_args())
