"""Connections: N idle stations on one gateway process; RSS per connection and CPU at idle.

The process holding the WebSockets is measured before any station connects and again once all N
are connected, booted and idle (heartbeat 3600 s; keep-alive pings every 20 s). Targets, in one run:
the csms gateway (stations and transactions services behind it, projections off) and the baseline
(bench/baseline_csms.py, the `ocpp` package in one process). The simulator runs in its own processes.

    python -m bench connections [--stations 20000] [--processes 2] [--idle 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

import psutil

from bench.report import append_section, machine, save_json
from bench.system import SystemUnderTest, free_port, idle_fleet, raise_fd_limit


def measure(proc: psutil.Process, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Connect N idle stations to ``url`` and measure ``proc``, the process that holds them."""
    time.sleep(3)
    rss_empty = proc.memory_info().rss
    with idle_fleet(
        proc, url, args.stations, ramp=args.ramp, processes=args.processes, heartbeat=3600
    ) as fleet:
        cpu0, t0 = proc.cpu_times(), time.monotonic()
        time.sleep(args.idle)
        cpu1 = proc.cpu_times()
        idle_cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (time.monotonic() - t0) * 100
        rss_full = proc.memory_info().rss
    connected, ramp_s = fleet.connected, fleet.ramp_s
    return {
        "connected": connected,
        "ramp_s": round(ramp_s, 1),
        "rss_empty_mb": round(rss_empty / 2**20, 1),
        "rss_connected_mb": round(rss_full / 2**20, 1),
        "rss_per_connection_kb": round((rss_full - rss_empty) / max(1, connected) / 1024, 1),
        "idle_cpu_percent": round(idle_cpu, 1),
    }


def main(args: argparse.Namespace) -> None:
    raise_fd_limit()  # inherited by the simulator processes and the baseline
    system = SystemUnderTest(services=("gateway", "stations", "transactions"))
    with system.running():
        ours = measure(system.process("gateway"), system.station_url, args)
    port = free_port()
    baseline = subprocess.Popen([sys.executable, "-m", "bench.baseline_csms", "--port", str(port)])
    try:
        theirs = measure(psutil.Process(baseline.pid), f"ws://127.0.0.1:{port}/ocpp", args)
    finally:
        baseline.terminate()
        baseline.wait(30)
    result = {"machine": machine(), "stations": args.stations, "csms_gateway": ours, "baseline": theirs}
    save_json("connections", result)
    print(json.dumps(result, indent=2))
    rows = [
        "| process holding the stations | connected | ramp s | RSS empty / connected MB | RSS per connection KB | CPU at idle |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in (("csms gateway", ours), ("baseline (ocpp package, one process)", theirs)):
        rows.append(
            f"| {name} | {r['connected']} | {r['ramp_s']} | {r['rss_empty_mb']} / {r['rss_connected_mb']} | "
            f"{r['rss_per_connection_kb']} | {r['idle_cpu_percent']} % |"
        )
    ratio = (
        ours["rss_per_connection_kb"] / theirs["rss_per_connection_kb"]
        if theirs["rss_per_connection_kb"]
        else 0
    )
    rows += ["", f"RSS per connection, csms / baseline: {ratio:.2f}."]
    append_section(
        "Connections (idle stations on one process)",
        f"`python -m bench connections --stations {args.stations} --processes {args.processes} --idle {args.idle}`",
        "\n".join(rows),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=20000)
    parser.add_argument("--processes", type=int, default=2, help="simulator processes")
    parser.add_argument("--ramp", type=float, default=300.0, help="connections per second (all processes)")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle measurement")
    main(parser.parse_args())
