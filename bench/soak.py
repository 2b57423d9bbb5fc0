"""Soak: the whole system (every service, projections on, each its own process, as `make run` runs
it) under a steady mixed load for a long time; then what must hold after any length of run.

Checked from outside, afterwards (issue 12; the figures go into docs/reliability.md):
- every process's RSS, sampled every ``--sample`` seconds: the growth from the first sample after
  warm-up to the last, and the least-squares slope in MiB per hour (flat = no leak);
- lost frames: every reply a station received is in ``ocpp.frames`` with the CALL it answers
  (outbound replies in the log >= replies the simulator counted; no reply without its CALL);
- no transaction id handed out twice (StartTransaction results in the log);
- stuck projections: once the load stops, every projection's stored offsets reach the end of the
  topics it reads (``projection_offsets`` against the log end offsets) within ``--settle`` seconds.

    python -m bench soak [--minutes 60] [--rate 40] [--stations 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
import time
from collections import Counter
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.report import machine, save_json
from bench.system import SystemUnderTest, sample_rss, simulate
from services.cli import SERVICES
from shared.config import Settings
from shared.events.topics import Topics


def slope_per_hour(values: list[float], every: float) -> float:
    """Least-squares slope of ``values`` (sampled every ``every`` s), in units per hour."""
    n = len(values)
    if n < 2:
        return 0.0
    xs = [i * every / 3600 for i in range(n)]
    mx, my = sum(xs) / n, sum(values) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, values, strict=True)) / var if var else 0.0


def run_load(system: SystemUnderTest, args: argparse.Namespace) -> dict[str, Any]:
    return simulate(
        {
            "url": system.station_url,
            "stations": args.stations,
            "ramp": 200,
            "rate": args.rate,
            "duration": args.minutes * 60,
            "warmup": 5,
            "heartbeat": 300,
            "call-timeout": 30,
            "register-tags": system.api_url,
            "api-token": system.api_token,
        },
        env=system.env,
    )


async def check_log(settings: Settings) -> dict[str, Any]:
    """Pair the log's CALLs and replies; collect the transaction ids handed out."""
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    calls: dict[tuple[str, str, str], str] = {}  # (station, connection, message id) -> action
    replies = unmatched = 0
    tx_ids: Counter[int] = Counter()
    records = 0
    try:
        partitions = [TopicPartition(topics.frames, p) for p in range(settings.frame_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                for msg in batch:
                    records += 1
                    rec = json.loads(msg.value)
                    if rec.get("type") != "frame":
                        continue
                    key = (rec["station_id"], rec["connection_id"], rec.get("unique_id") or "")
                    if rec["direction"] == "in" and rec.get("message_type") == 2:
                        calls[key] = rec.get("action") or ""
                    elif rec["direction"] == "out" and rec.get("message_type") in (3, 4):
                        replies += 1
                        action = calls.pop(key, None)
                        if action is None:
                            unmatched += 1
                        elif action == "StartTransaction" and rec.get("message_type") == 3:
                            payload = json.loads(rec["raw"])[2]
                            tx_ids[int(payload["transactionId"])] += 1
    finally:
        await consumer.stop()
    return {
        "records": records,
        "replies_in_log": replies,
        "replies_without_call": unmatched,
        "calls_without_reply": len(calls),
        "transaction_ids": len(tx_ids),
        "transaction_ids_twice": sum(1 for n in tx_ids.values() if n > 1),
    }


async def stuck_projections(settings: Settings, settle: float) -> dict[str, int]:
    """Per projection, how many records of its topics it had not applied once ``settle`` passed."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    conn = await asyncpg.connect(settings.database_url)
    behind: dict[str, int] = {}
    try:
        deadline = time.monotonic() + settle
        while True:
            rows = await conn.fetch(
                f'SELECT projection, topic, partition, next_offset FROM "{settings.db_schema}".projection_offsets'
            )
            read_topics: dict[str, set[str]] = {}
            stored: dict[tuple[str, str, int], int] = {}
            for r in rows:
                read_topics.setdefault(r["projection"], set()).add(r["topic"])
                stored[(r["projection"], r["topic"], r["partition"])] = r["next_offset"]
            # Every topic a projection reads has the frame topic's partition count (docs/events.md).
            known = [
                TopicPartition(t, p)
                for t in {t for ts in read_topics.values() for t in ts}
                for p in range(settings.frame_partitions)
            ]
            ends = await consumer.end_offsets(known) if known else {}
            behind = {
                projection: sum(
                    ends[tp] - stored.get((projection, tp.topic, tp.partition), 0)
                    for tp in known
                    if tp.topic in ts
                )
                for projection, ts in read_topics.items()
            }
            if all(v == 0 for v in behind.values()) or time.monotonic() > deadline:
                return behind
            await asyncio.sleep(2)
    finally:
        await conn.close()
        await consumer.stop()


def main(args: argparse.Namespace) -> None:
    system = SystemUnderTest(services=tuple(SERVICES), projections=True)
    stop = threading.Event()
    series: dict[str, list[float]] = {}
    with system.running():
        time.sleep(5)  # consumer groups settle
        sampler = threading.Thread(
            target=lambda: series.update(sample_rss(system, args.sample, stop)), daemon=True
        )
        sampler.start()
        summary = run_load(system, args)
        stop.set()
        sampler.join()
        died = {n: p.returncode for n, p in system.processes.items() if p.poll() is not None}
        os.environ.update(system.env)  # this run's prefix and schema
        settings = Settings.from_env()
        behind = asyncio.run(stuck_projections(settings, args.settle))
        log = asyncio.run(check_log(settings))
    warm = max(1, int(args.warmup_minutes * 60 / args.sample))
    rss = {
        name: {
            "first_mib": round(values[warm], 1) if len(values) > warm else None,
            "last_mib": round(values[-1], 1) if values else None,
            "max_mib": round(max(values), 1) if values else None,
            "slope_mib_per_hour": round(slope_per_hour(values[warm:], args.sample), 2),
        }
        for name, values in series.items()
    }
    result = {
        "machine": machine(),
        "args": vars(args),
        "simulator": {k: summary[k] for k in ("calls", "results", "errors", "timeouts", "calls_per_s")},
        "latency_ms": summary["latency_ms"],
        "rss": rss,
        "rss_series_mib": series,
        "processes_died": died,
        "projections_behind": behind,
        "log": log,
        "lost_frames": max(0, summary["results"] - log["replies_in_log"]) + log["replies_without_call"],
    }
    path = save_json("soak", result)
    print(json.dumps({k: v for k, v in result.items() if k != "rss_series_mib"}, indent=2))
    print(f"full result: {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=40.0, help="open-loop calls/s of the realistic mix")
    parser.add_argument("--stations", type=int, default=300)
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between RSS samples")
    parser.add_argument("--warmup-minutes", type=float, default=5.0, help="RSS growth counts from here")
    parser.add_argument("--settle", type=float, default=120.0, help="seconds for projections to catch up")
    main(parser.parse_args())
