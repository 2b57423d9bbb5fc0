"""faust-streaming vs plain aiokafka on the service hot path, measured in one run.

The hot path of a domain service: consume a frame envelope from a topic keyed by station (8
partitions), decode it (msgspec), decide (trivial here, so the client is what is measured), produce a
reply with acks=all, and commit only what was answered. Each variant runs as its own process, one
after the other, against the same broker:

- throughput: N records pre-filled, then drained; records/s from the first to the last reply;
- latency: an open-loop producer at a fixed rate; p50/p99/p99.9 of (reply seen - request sent);
- CPU seconds of the worker process per 10k records.

    python -m bench.kafka_clients [--messages 20000] [--rate 1000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

from bench.report import append_section, machine, save_json
from services.simulator.metrics import percentiles
from shared.events.envelope import Direction, FrameRecord, decode_frame_record
from shared.events.topics import TopicSpec
from shared.kafka import ensure_topics, make_producer

BOOTSTRAP = os.environ.get("CSMS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


class Reply(msgspec.Struct):
    station_id: str
    unique_id: str
    sent_ns: int


def frame(i: int, sent_ns: int) -> bytes:
    body = '{"connectorId":1,"transactionId":42,"meterValue":[{"timestamp":"2024-01-18T10:00:00Z","sampledValue":[{"value":"1234.5","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}'
    raw = f'[2,"{i}","MeterValues",{body}]'
    record = FrameRecord(
        station_id=f"CP{i % 5000}",
        gateway_id="gw-0",
        connection_id="c",
        epoch=sent_ns,
        direction=Direction.IN,
        at_ms=sent_ns // 1_000_000,
        raw=raw,
        message_type=2,
        unique_id=str(i),
        action="MeterValues",
        payload=msgspec.Raw(body.encode()),  # as a gateway writes it (FrameRecord v2)
    )
    return msgspec.json.encode(record)


def decide(value: bytes) -> tuple[bytes, bytes]:
    record = decode_frame_record(value)
    assert isinstance(record, FrameRecord)
    reply = Reply(record.station_id, record.unique_id or "", record.epoch)
    return record.station_id.encode(), msgspec.json.encode(reply)


# -- workers (run in their own process) --------------------------------------------------------------


async def aiokafka_worker(src: str, dst: str) -> None:
    from aiokafka import AIOKafkaConsumer

    producer = make_producer(BOOTSTRAP, client_id="bench-aiokafka")
    consumer = AIOKafkaConsumer(
        src,
        bootstrap_servers=BOOTSTRAP,
        group_id=f"bench-aiokafka-{src}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
        max_poll_records=2000,
    )
    await producer.start()
    await consumer.start()
    print("ready", flush=True)
    while True:
        batches = await consumer.getmany(timeout_ms=100)
        futures = []
        for records in batches.values():
            for msg in records:
                key, value = decide(msg.value)
                futures.append(await producer.send(dst, value, key=key))
        if futures:
            await asyncio.gather(*futures)
            await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items() if rs})


def faust_worker(src: str, dst: str) -> None:
    import faust

    app = faust.App(
        f"bench-faust-{src}",
        broker=f"kafka://{BOOTSTRAP}",
        store="memory://",
        web_enabled=False,
        producer_acks=-1,
        datadir=tempfile.mkdtemp(prefix="bench-faust-"),
        producer_linger_ms=1,
        topic_partitions=8,
        broker_commit_every=2000,
        broker_commit_interval=0.1,
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(src, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    sink = app.topic(dst, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(source)  # type: ignore[untyped-decorator, unused-ignore]  # faust: the bench extra, absent in CI
    async def handle(stream: Any) -> None:
        async for value in stream:
            key, reply = decide(value)
            await sink.send(key=key, value=reply)

    async def announce() -> None:
        print("ready", flush=True)

    app.task(announce)  # not @app.task: faust's loose return type would leave the function untyped for mypy

    sys.argv = ["bench", "worker", "-l", "warn", "--without-web"]
    app.main()


# -- orchestration -------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_variant(variant: str, messages: int, rate: int, seconds: float) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    run = uuid.uuid4().hex[:8]
    src, dst = f"bench.frames.{variant}.{run}", f"bench.inbox.{variant}.{run}"
    await ensure_topics(BOOTSTRAP, [TopicSpec(src, 8, {}), TopicSpec(dst, 1, {})])
    producer = make_producer(BOOTSTRAP, client_id="bench-load", linger_ms=5)
    await producer.start()
    for i in range(messages):  # pre-fill: the throughput phase drains these
        await producer.send(src, frame(i, 0), key=f"CP{i % 5000}".encode())
    await producer.flush()
    replies = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=5
    )
    await replies.start()
    tp = TopicPartition(dst, 0)
    replies.assign([tp])
    await replies.seek_to_beginning(tp)
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
        [sys.executable, "-m", "bench.kafka_clients", "--worker", variant, src, dst],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline)
        cpu0, seen = cpu_seconds(proc.pid), 0
        first = last = 0.0
        async with asyncio.timeout(300):
            while seen < messages:
                for records in (await replies.getmany(timeout_ms=200)).values():
                    now = time.perf_counter()
                    first = first or now
                    last = now
                    seen += len(records)
        drain_cpu = cpu_seconds(proc.pid) - cpu0
        throughput = (messages - 1) / max(last - first, 1e-9)  # from first reply: excludes group join
        # Open loop at a fixed rate: latency as a station-side caller would see it.
        latencies: list[float] = []
        total = int(rate * seconds)

        async def load() -> None:
            start = time.perf_counter()
            for i in range(total):
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
                await producer.send(src, frame(messages + i, time.time_ns()), key=f"CP{i % 5000}".encode())

        loader = asyncio.create_task(load())
        async with asyncio.timeout(seconds + 120):
            while len(latencies) < total:
                for records in (await replies.getmany(timeout_ms=200)).values():
                    now_ns = time.time_ns()
                    for msg in records:
                        sent = msgspec.json.decode(msg.value, type=Reply).sent_ns
                        if sent:
                            latencies.append((now_ns - sent) / 1e6)
        await loader
        return {
            "variant": variant,
            "messages": messages,
            "throughput_per_s": round(throughput),
            "cpu_s_per_10k": round(drain_cpu / messages * 10_000, 3),
            "rate_per_s": rate,
            "latency_ms": percentiles(latencies, scale=1.0),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        await replies.stop()
        await producer.stop()


async def main(args: argparse.Namespace) -> None:
    import importlib.util

    if importlib.util.find_spec("faust") is None:
        raise SystemExit("bench kafka_clients needs faust-streaming: pip install -e '.[bench]'")
    results = [await run_variant(v, args.messages, args.rate, args.seconds) for v in ("aiokafka", "faust")]
    save_json("kafka_clients", {"machine": machine(), "results": results})
    a, f = results
    rows = [
        "| variant | throughput (records/s) | CPU s / 10k | p50 ms | p99 ms | p99.9 ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lat = r["latency_ms"]
        rows.append(
            f"| {r['variant']} | {r['throughput_per_s']} | {r['cpu_s_per_10k']} | {lat['p50']} | {lat['p99']} | {lat['p99.9']} |"
        )
    rows.append(
        f"| faust / aiokafka | {f['throughput_per_s'] / a['throughput_per_s']:.2f} | "
        f"{f['cpu_s_per_10k'] / a['cpu_s_per_10k']:.2f} | | | |"
    )
    table = "\n".join(rows)
    append_section(
        "Kafka client on the service hot path",
        f"`python -m bench.kafka_clients --messages {args.messages} --rate {args.rate} --seconds {args.seconds}` "
        f"(latency at {args.rate} records/s open loop)",
        table,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--worker", nargs=3, metavar=("VARIANT", "SRC", "DST"))
    args = parser.parse_args()
    if args.worker:
        variant, src, dst = args.worker
        if variant == "faust":
            faust_worker(src, dst)
        else:
            import uvloop

            uvloop.run(aiokafka_worker(src, dst))
    else:
        asyncio.run(main(args))
