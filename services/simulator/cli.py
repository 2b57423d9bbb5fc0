"""``csms simulate``: run a simulated fleet against a CSMS, with live progress and a JSON summary."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import fields
from pathlib import Path
from typing import Any

from services.simulator.config import FleetConfig
from services.simulator.fleet import Fleet, dumps, merge
from services.simulator.scenarios import SCENARIOS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = FleetConfig()
    parser.add_argument("--url", default=d.url, help="the gateway's station endpoint, without the id")
    parser.add_argument("--stations", type=int, default=d.stations)
    parser.add_argument("--prefix", default=d.prefix, help="station ids are PREFIX000000, PREFIX000001, ...")
    parser.add_argument("--connectors", type=int, default=d.connectors)
    parser.add_argument("--ramp", type=float, default=d.ramp, help="new connections per second")
    parser.add_argument("--jitter", type=float, default=d.jitter)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default=d.scenario)
    parser.add_argument("--duration", type=float, default=d.duration, help="seconds after the ramp")
    parser.add_argument("--heartbeat", type=float, default=None, help="override the boot interval (s)")
    parser.add_argument("--meter-interval", type=float, default=d.meter_interval)
    parser.add_argument("--charge-seconds", type=float, default=d.charge_seconds)
    parser.add_argument("--pause-seconds", type=float, default=d.pause_seconds)
    parser.add_argument("--charging-share", type=float, default=d.charging_share)
    parser.add_argument(
        "--id-tags", type=int, default=None, help="SIM-TAG-0 .. SIM-TAG-(N-1) (default: one per station)"
    )
    parser.add_argument(
        "--register-tags",
        metavar="API_URL",
        default=None,
        help="PUT the id tags as Accepted through this operator API first",
    )
    parser.add_argument(
        "--api-token",
        metavar="TOKEN",
        default=None,
        help="bearer token for --register-tags (admin; default: $CSMS_API_TOKEN, else ~/.cache/csms/api-token)",
    )
    parser.add_argument("--storm-at", type=float, default=None)
    parser.add_argument("--offline-seconds", type=float, default=d.offline_seconds)
    parser.add_argument("--backlog-transactions", type=int, default=d.backlog_transactions)
    parser.add_argument("--rate", type=float, default=None, help="open-loop calls/s of the load mix")
    parser.add_argument("--warmup", type=float, default=d.warmup)
    parser.add_argument("--call-timeout", type=float, default=d.call_timeout)
    parser.add_argument("--source-addresses", type=int, default=d.source_addresses)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--processes", type=int, default=1, help="split the fleet over this many processes")
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--summary", type=Path, default=None, help="write the JSON summary here")
    parser.add_argument("--latencies", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-progress", action="store_true")


def config_from(args: argparse.Namespace) -> FleetConfig:
    names = {f.name for f in fields(FleetConfig)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    count = args.id_tags if args.id_tags is not None else args.first + args.stations
    values["id_tags"] = [f"SIM-TAG-{i}" for i in range(count)]
    return FleetConfig(**values)


def api_token(given: str | None) -> str:
    """The operator API token the simulator calls with: given, from the environment, or the local one."""
    from shared.apitokens import read_token_file, token_file
    from shared.config import Settings

    token = given or os.environ.get("CSMS_API_TOKEN") or read_token_file(token_file(Settings.from_env()))
    if not token:
        raise SystemExit(
            "--register-tags needs a token: --api-token, $CSMS_API_TOKEN or `make run`'s token file"
        )
    return token


def register_tags(api: str, tags: list[str], token: str) -> None:
    for tag in tags:
        request = urllib.request.Request(
            f"{api.rstrip('/')}/api/v1/id-tags/{tag}",
            data=b'{"status": "Accepted"}',
            method="PUT",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


async def live_progress(fleet: Fleet) -> None:
    from rich.live import Live
    from rich.table import Table

    m = fleet.metrics
    last_results, last_t = m.results, time.monotonic()
    with Live(refresh_per_second=2, transient=False) as live:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            rate = (m.results - last_results) / max(1e-9, now - last_t) if m.results >= last_results else 0.0
            last_results, last_t = m.results, now
            latency = m.summary()["latency_ms"]
            table = Table(title=f"csms simulate: {fleet.config.stations} stations, {fleet.config.scenario}")
            for column in (
                "connected",
                "calls/s",
                "answered",
                "errors",
                "timeouts",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
            ):
                table.add_column(column, justify="right")
            table.add_row(
                f"{m.connected}/{fleet.config.stations}",
                f"{rate:.0f}",
                str(m.results),
                str(m.errors),
                str(m.timeouts),
                str(latency["p50"]),
                str(latency["p99"]),
                str(latency["p99.9"]),
            )
            live.update(table)


async def run_fleet(config: FleetConfig, progress: bool, latencies: Path | None) -> dict[str, Any]:
    fleet = Fleet(config)
    summary = await fleet.run(live_progress if progress else None)
    if latencies is not None:
        data = json.dumps(fleet.metrics.all_latencies())
        await asyncio.to_thread(latencies.write_text, data)
    return summary


def simulate(args: argparse.Namespace) -> int:
    config = config_from(args)
    if args.register_tags:
        register_tags(args.register_tags, config.id_tags, api_token(args.api_token))
    if args.processes <= 1:
        import uvloop

        summary = uvloop.run(run_fleet(config, not args.no_progress and sys.stdout.isatty(), args.latencies))
    else:
        summary = _split(args)
    text = dumps(summary)
    if args.summary is not None:
        args.summary.write_text(text)
    print(text)
    return 0 if summary.get("all_connected") else 1


def _split(args: argparse.Namespace) -> dict[str, Any]:
    """Run the fleet as several child processes (one core each) and merge their summaries."""
    per, extra = divmod(args.stations, args.processes)
    children, outputs = [], []
    workdir = Path(tempfile.mkdtemp(prefix="csms-sim-"))
    first = args.first
    for p in range(args.processes):
        count = per + (1 if p < extra else 0)
        out, lat = workdir / f"summary-{p}.json", workdir / f"latency-{p}.json"
        argv = [sys.executable, "-m", "services.cli", "simulate"]
        for key, value in vars(args).items():
            if key in {
                "processes",
                "first",
                "stations",
                "summary",
                "latencies",
                "no_progress",
                "register_tags",
                "api_token",
                "command",
                "rate",
                "ramp",
                "seed",
            }:
                continue
            if value is None or value is False:
                continue
            flag = "--" + key.replace("_", "-")
            argv += [flag] if value is True else [flag, str(value)]
        # The fleet's ramp and load are shared out: each process does its part.
        argv += ["--ramp", str(args.ramp / args.processes)]
        if args.rate is not None:
            argv += ["--rate", str(args.rate / args.processes)]
        argv += [
            "--stations",
            str(count),
            "--first",
            str(first),
            "--summary",
            str(out),
            "--latencies",
            str(lat),
            "--no-progress",
            "--seed",
            str(args.seed + p),
        ]
        first += count
        children.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=os.environ.copy()))
        outputs.append((out, lat))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the children
    try:
        for child in children:
            child.wait()
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
    summaries = [json.loads(out.read_text()) for out, _ in outputs if out.exists()]
    latencies = [json.loads(lat.read_text()) for _, lat in outputs if lat.exists()]
    if not summaries:
        raise SystemExit("no simulator process finished")
    return merge(summaries, latencies)
