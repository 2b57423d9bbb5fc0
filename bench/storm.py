"""Reconnect storm: N stations connect at once to one gateway while a steady fleet keeps sending.

Two runs in one benchmark: the gateway with its admission control (ADR 0021: beyond
``CSMS_GATEWAY_MAX_HANDSHAKES`` upgrades being decided at once, HTTP 503 with Retry-After before
the upgrade) and, as the baseline, the same gateway with its limits lifted. Measured from outside:
the steady fleet's latency and timeouts while the storm lasts, how many storm stations were
connected and booted within the simulator's 60 s and how long that took, how many upgrades were
refused, and the gateway process's CPU and peak RSS.

The storm fleet retries a refused upgrade with its own jittered exponential backoff (0.5 s
doubling to 30 s); it does not read Retry-After, like many stations in the field.

    python -m bench storm [--stations 10000] [--steady 100] [--rate 20] [--window 120]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

from bench.report import append_section, machine, save_json
from bench.system import MIB, SystemUnderTest, raise_fd_limit, sample_rss, simulate

VARIANTS: dict[str, dict[str, str]] = {
    "admission control (default limits)": {},
    "baseline: limits lifted": {
        "CSMS_GATEWAY_MAX_HANDSHAKES": "1000000",
        "CSMS_GATEWAY_MAX_CONNECTIONS": "1000000",
    },
}


def run(env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    system = SystemUnderTest(services=("gateway", "stations", "transactions"), extra=env)
    with system.running():
        gateway = system.process("gateway")
        steady: dict[str, Any] = {}

        def steady_fleet() -> None:
            steady.update(
                simulate(
                    {
                        "url": system.station_url,
                        "prefix": "STEADY-",
                        "stations": args.steady,
                        "ramp": 100,
                        "rate": args.rate,
                        "duration": args.window,
                        "warmup": 2,
                        "heartbeat": 3600,
                        "call-timeout": 30,
                    },
                    env=system.env,
                )
            )

        thread = threading.Thread(target=steady_fleet)
        thread.start()
        time.sleep(args.steady / 100 + 8)  # connected, booted, warm
        start_rss = gateway.memory_info().rss / MIB
        sampling = threading.Event()
        series: dict[str, list[float]] = {}
        sampler = threading.Thread(target=lambda: series.update(sample_rss(system, 0.5, sampling)))
        sampler.start()
        cpu0, t0 = gateway.cpu_times(), time.monotonic()
        storm = simulate(
            {
                "url": system.station_url,
                "prefix": "STORM-",
                "stations": args.stations,
                "ramp": 1_000_000,  # every station at once
                "scenario": "idle",
                "heartbeat": 3600,
                "duration": 1,
                "processes": 2,
                "source-addresses": 4,
            },
            env=system.env,
            timeout=900,
        )
        storm_s = time.monotonic() - t0
        cpu1 = gateway.cpu_times()
        sampling.set()
        sampler.join()
        thread.join()
    return {
        "storm": {
            "stations": args.stations,
            "all_connected": storm["all_connected"],
            "max_connected": storm["max_connected"],
            "connect_s": storm["ramp_s"],
            "refused_or_failed_upgrades": storm["connect_failures"],
            "wall_s": round(storm_s, 1),
        },
        "steady": {
            "calls": steady["calls"],
            "results": steady["results"],
            "errors": steady["errors"],
            "timeouts": steady["timeouts"],
            "latency_ms": steady["latency_ms"],
        },
        "gateway": {
            "cpu_percent_during_storm": round(
                (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / storm_s * 100, 1
            ),
            "peak_rss_mb": round(max([start_rss, *series["gateway"]]), 1),
        },
    }


def main(args: argparse.Namespace) -> None:
    raise_fd_limit()
    results = {name: run(env, args) for name, env in VARIANTS.items()}
    result = {"machine": machine(), "args": vars(args), "variants": results}
    save_json("storm", result)
    print(json.dumps(result, indent=2))
    rows = [
        (
            "| gateway | storm stations connected+booted | in s | refused/failed upgrades | steady fleet: "
            "calls / timeouts / errors | steady p50 / p99 / max ms | gateway CPU | gateway peak RSS |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        st, sd, gw = r["storm"], r["steady"], r["gateway"]
        lat = sd["latency_ms"]
        rows.append(
            f"| {name} | {st['max_connected']} of {st['stations']} | {st['connect_s']} | "
            f"{st['refused_or_failed_upgrades']} | {sd['calls']} / {sd['timeouts']} / {sd['errors']} | "
            f"{lat['p50']} / {lat['p99']} / {lat['max']} | {gw['cpu_percent_during_storm']} % | "
            f"{gw['peak_rss_mb']} MB |"
        )
    append_section(
        f"Reconnect storm of {args.stations} stations (issue 12, ADR 0021)",
        f"`python -m bench storm --stations {args.stations} --steady {args.steady} --rate {args.rate} "
        f"--window {args.window}`",
        "\n".join(rows),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--steady", type=int, default=100, help="stations sending throughout")
    parser.add_argument("--rate", type=float, default=20.0, help="the steady fleet's calls/s")
    parser.add_argument("--window", type=float, default=120.0, help="seconds the steady fleet sends")
    main(parser.parse_args())
