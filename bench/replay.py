"""Replay: rebuild every projection from offset 0 of a log of at least a million frames.

A realistic log is written first under its own topic prefix: stations connect, boot, report status,
charge (Authorize, StartTransaction, MeterValues every minute, StopTransaction, each answered) and
heartbeat; the transactions service's events are written alongside, as the live system would have.
Then ``csms replay`` semantics: each projection is dropped and rebuilt into an empty schema, timed.
Baseline in the same run: reading the same records with a plain consumer and decoding them, which
no projection can beat.

    python -m bench replay [--frames 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.report import append_section, machine, save_json
from bench.system import remove_run
from services.cli import projections
from services.transactions.events import TransactionStarted, TransactionStopped
from shared.config import Settings
from shared.events.envelope import (
    NO_PAYLOAD,
    ConnectionOpened,
    Direction,
    FrameRecord,
    decode_frame_record,
    encode,
)
from shared.events.topics import Topics
from shared.kafka import ensure_topics, make_producer
from shared.projection.pool import DbTarget
from shared.projection.rebuild import rebuild

STATIONS = 2000


def iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


class LogWriter:
    def __init__(self, settings: Settings, topics: Topics) -> None:
        self.topics = topics
        self.producer = make_producer(settings.kafka_bootstrap, client_id="bench-replay", linger_ms=20)
        self.frames = 0
        self.events = 0
        self.offsets: dict[str, int] = {}
        self._pending: list[asyncio.Future[Any]] = []

    async def send(self, topic: str, key: str, value: bytes) -> None:
        self._pending.append(await self.producer.send(topic, value, key=key.encode()))
        if len(self._pending) >= 20000:
            await asyncio.gather(*self._pending)
            self._pending.clear()

    async def flush(self) -> None:
        await asyncio.gather(*self._pending)
        self._pending.clear()


async def write_log(settings: Settings, topics: Topics, frames: int) -> tuple[int, int]:
    writer = LogWriter(settings, topics)
    await writer.producer.start()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    tx_seq = [0] * topics.frame_partitions
    try:
        per_station = max(20, frames // STATIONS)
        for s in range(STATIONS):
            station = f"R{s:06d}"
            partition = s % topics.frame_partitions  # only for the id stripe in the events

            async def exchange(
                action: str, request: str, response: str, at: datetime, station: str = station
            ) -> None:
                uid = uuid.uuid4().hex[:12]
                for direction, raw, mtype, payload in (
                    (Direction.IN, f'[2,"{uid}","{action}",{request}]', 2, msgspec.Raw(request.encode())),
                    (Direction.OUT, f'[3,"{uid}",{response}]', 3, NO_PAYLOAD),  # as a gateway writes them
                ):
                    record = FrameRecord(
                        station_id=station,
                        gateway_id="gw-bench",
                        connection_id="c1",
                        epoch=0,
                        direction=direction,
                        at_ms=int(at.timestamp() * 1000),
                        raw=raw,
                        message_type=mtype,
                        unique_id=uid,
                        action=action,
                        payload=payload,
                    )
                    await writer.send(topics.frames, station, encode(record))
                    writer.frames += 1

            opened = ConnectionOpened(
                station_id=station,
                gateway_id="gw-bench",
                connection_id="c1",
                at_ms=int(start.timestamp() * 1000),
            )
            await writer.send(topics.frames, station, encode(opened))
            writer.frames += 1
            at = start + timedelta(seconds=s)
            await exchange(
                "BootNotification",
                '{"chargePointVendor":"Acme","chargePointModel":"M1"}',
                f'{{"status":"Accepted","currentTime":"{iso(at)}","interval":300}}',
                at,
            )
            for c in (0, 1, 2):
                await exchange(
                    "StatusNotification",
                    f'{{"connectorId":{c},"errorCode":"NoError","status":"Available","timestamp":"{iso(at)}"}}',
                    "{}",
                    at,
                )
            meter = 0
            written = 8
            while written < per_station:
                tx_seq[partition] += 1
                tx = (tx_seq[partition] - 1) * topics.frame_partitions + partition + 1
                at += timedelta(minutes=5)
                await exchange("Authorize", '{"idTag":"TAG1"}', '{"idTagInfo":{"status":"Accepted"}}', at)
                await exchange(
                    "StartTransaction",
                    f'{{"connectorId":1,"idTag":"TAG1","meterStart":{meter},"timestamp":"{iso(at)}"}}',
                    f'{{"idTagInfo":{{"status":"Accepted"}},"transactionId":{tx}}}',
                    at,
                )
                started = TransactionStarted(
                    transaction_id=tx,
                    partition=partition,
                    station_id=station,
                    connector_id=1,
                    id_tag="TAG1",
                    meter_start=meter,
                    started_at=at,
                    id_tag_status="Accepted",
                    frame_offset=writer.frames,
                )
                await writer.send(topics.domain("transactions"), station, encode(started))
                for _ in range(8):
                    at += timedelta(minutes=1)
                    meter += 180
                    await exchange(
                        "MeterValues",
                        f'{{"connectorId":1,"transactionId":{tx},"meterValue":[{{"timestamp":"{iso(at)}","sampledValue":['
                        f'{{"value":"{meter}","measurand":"Energy.Active.Import.Register","unit":"Wh"}},'
                        f'{{"value":"16.0","measurand":"Current.Import","unit":"A","phase":"L1"}}]}}]}}',
                        "{}",
                        at,
                    )
                await exchange(
                    "StopTransaction",
                    f'{{"transactionId":{tx},"meterStop":{meter},"timestamp":"{iso(at)}","reason":"Local"}}',
                    "{}",
                    at,
                )
                stopped = TransactionStopped(
                    transaction_id=tx,
                    partition=partition,
                    station_id=station,
                    known=True,
                    meter_stop=meter,
                    stopped_at=at,
                    reason="Local",
                    frame_offset=writer.frames,
                )
                await writer.send(topics.domain("transactions"), station, encode(stopped))
                writer.events += 2
                await exchange(
                    "StatusNotification",
                    f'{{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"{iso(at)}"}}',
                    "{}",
                    at,
                )
                await exchange("Heartbeat", "{}", f'{{"currentTime":"{iso(at)}"}}', at)
                written += 26
        await writer.flush()
    finally:
        await writer.producer.stop()
    return writer.frames, writer.events


async def decode_baseline(settings: Settings, topics: list[str]) -> tuple[int, float]:
    """The floor: consume every record of the topics and decode it, nothing else."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=5000,
        fetch_max_bytes=50 * 2**20,
        max_partition_fetch_bytes=10 * 2**20,
    )
    await consumer.start()
    tps = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or set())]
    if not tps:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or set())]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    ends = await consumer.end_offsets(tps)
    total = sum(ends.values())
    seen = 0
    started = time.monotonic()
    try:
        while seen < total:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for msg in records:
                    if msg.topic.endswith("ocpp.frames"):
                        decode_frame_record(msg.value)
                    else:
                        msgspec.json.decode(msg.value)
                seen += len(records)
    finally:
        await consumer.stop()
    return seen, time.monotonic() - started


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    settings = Settings.from_env()
    settings = Settings(
        **{**settings.__dict__, "topic_prefix": f"replay{run_id}.", "db_schema": f"replay_{run_id}"}
    )
    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    # Every topic a projection reads: the ones this log leaves empty too (a projection waits for
    # a topic that does not exist, as it would for a service not deployed yet).
    shared = topics.shared_specs()
    names = {spec.name for spec in shared}
    read = {t for p in projections(settings) for t in p.topics()} - names
    services = sorted(t[len(settings.topic_prefix) : -len(".events")] for t in read if t.endswith(".events"))
    await ensure_topics(settings.kafka_bootstrap, [*shared, *(topics.domain_spec(s) for s in services)])
    t0 = time.monotonic()
    frames, events = await write_log(settings, topics, args.frames)
    write_s = time.monotonic() - t0
    print(f"wrote {frames} frames and {events} transaction events in {write_s:.1f}s", flush=True)
    seen, floor_s = await decode_baseline(settings, [topics.frames, topics.domain("transactions")])
    target = DbTarget(settings.database_url, settings.db_schema)
    try:
        rebuilt = await rebuild(projections(settings), settings.kafka_bootstrap, target)
    finally:
        await remove_run(settings.topic_prefix, settings.db_schema)
    results = [
        {"projection": r.projection, "records": r.records, "seconds": round(r.seconds, 1),
         "records_per_s": round(r.records / r.seconds)}
        for r in rebuilt
    ]  # fmt: skip
    return {
        "machine": machine(),
        "frames": frames,
        "transaction_events": events,
        "write_s": round(write_s, 1),
        "baseline_decode": {
            "records": seen,
            "seconds": round(floor_s, 1),
            "records_per_s": round(seen / floor_s),
        },
        "projections": results,
    }


def main(args: argparse.Namespace) -> None:
    result = asyncio.run(run(args))
    save_json("replay", result)
    base = result["baseline_decode"]
    rows = [
        "| projection | records read | seconds | records/s | vs. read+decode baseline |",
        "|---|---|---|---|---|",
    ]
    for r in result["projections"]:
        rows.append(
            f"| {r['projection']} | {r['records']} | {r['seconds']} | {r['records_per_s']} | "
            f"{r['records_per_s'] / base['records_per_s']:.2f} |"
        )
    rows.append(
        f"| (baseline: read + decode only) | {base['records']} | {base['seconds']} | {base['records_per_s']} | 1.00 |"
    )
    table = "\n".join(rows)
    append_section(
        "Replay (projection rebuild from offset 0)",
        f"`python -m bench replay --frames {args.frames}` ({result['frames']} frames, "
        f"{result['transaction_events']} transaction events)",
        table,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=1_000_000)
    main(parser.parse_args())
