"""Connections: N idle stations on one gateway process; RSS per connection and CPU at idle.

The gateway (with the stations and transactions services behind it, projections off) is measured
before any station connects and again once all N are connected, booted and idle (heartbeat 3600 s,
keep-alive pings every 20 s as configured). The simulator runs in its own processes.

    python -m bench connections [--stations 20000] [--processes 2] [--idle 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import append_section, machine
from bench.system import SystemUnderTest, raise_fd_limit


def connections(proc: Any, base_fds: int) -> int:
    """Open station sockets: the gateway's descriptors beyond those it had with no station (cheap)."""
    return max(0, int(proc.num_fds()) - base_fds)


def main(args: argparse.Namespace) -> None:
    raise_fd_limit()  # inherited by the simulator processes
    system = SystemUnderTest(services=("gateway", "stations", "transactions"))
    with system.running(), tempfile.TemporaryDirectory() as tmp:
        gateway = system.process("gateway")
        time.sleep(5)
        rss_empty = gateway.memory_info().rss
        base_fds = gateway.num_fds()
        ramp_budget = args.stations / args.ramp + 120
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shared.cli",
                "simulate",
                "--url",
                system.station_url,
                "--stations",
                str(args.stations),
                "--scenario",
                "idle",
                "--ramp",
                str(args.ramp),
                "--heartbeat",
                "3600",
                "--duration",
                "3600",
                "--processes",
                str(args.processes),
                "--source-addresses",
                "4",
                "--no-progress",
                "--summary",
                str(Path(tmp) / "sim.json"),
            ],
            stdout=subprocess.DEVNULL,
        )
        started = time.monotonic()
        connected = 0
        while time.monotonic() - started < ramp_budget:
            connected = connections(gateway, base_fds)
            if connected >= 0.999 * args.stations:  # a few descriptors come and go (Kafka, logs)
                break
            time.sleep(2)
        ramp_s = time.monotonic() - started
        time.sleep(5)  # boots and status notifications settle
        cpu0 = gateway.cpu_times()
        t0 = time.monotonic()
        time.sleep(args.idle)
        cpu1 = gateway.cpu_times()
        idle_cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (time.monotonic() - t0) * 100
        rss_full = gateway.memory_info().rss
        connected = connections(gateway, base_fds)
        sim.terminate()  # measured: the fleet need not run out its duration
        sim.wait(timeout=120)
    per_connection = (rss_full - rss_empty) / max(1, connected)
    result: dict[str, Any] = {
        "machine": machine(),
        "stations": args.stations,
        "connected": connected,
        "ramp_s": round(ramp_s, 1),
        "gateway_rss_empty_mb": round(rss_empty / 2**20, 1),
        "gateway_rss_connected_mb": round(rss_full / 2**20, 1),
        "rss_per_connection_kb": round(per_connection / 1024, 1),
        "gateway_idle_cpu_percent": round(idle_cpu, 1),
    }
    out = Path("bench/results") / f"connections-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    table = "\n".join(
        [
            "| stations | connected | ramp s | gateway RSS empty / connected MB | RSS per connection KB | gateway CPU at idle |",
            "|---|---|---|---|---|---|",
            f"| {args.stations} | {connected} | {result['ramp_s']} | {result['gateway_rss_empty_mb']} / "
            f"{result['gateway_rss_connected_mb']} | {result['rss_per_connection_kb']} | {result['gateway_idle_cpu_percent']} % |",
        ]
    )
    append_section(
        "Connections (idle stations on one gateway process)",
        f"`python -m bench connections --stations {args.stations} --processes {args.processes} --idle {args.idle}`",
        table,
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
