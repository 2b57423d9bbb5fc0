"""faust-streaming, plain aiokafka and confluent-kafka (librdkafka) on the service hot path, in one run.

The hot path of a domain service: consume a frame envelope from a topic keyed by station (8
partitions), decode it (msgspec), decide (trivial here, so the client is what is measured), produce a
reply with acks=all, and commit only what was answered. Each variant runs as its own process, one
after the other, against the same broker:

- throughput: N records pre-filled, then drained; records/s from the first to the last reply;
- latency: an open-loop producer at a fixed rate; p50/p99/p99.9 of (reply seen - request sent);
- CPU seconds of the worker process per 10k records (all its threads: librdkafka's included).

The gateway's produce path (every frame is appended with acks=all before it is answered) is measured
apart: one producer process per client at the open-loop rate, CPU per 10k records and the latency
from send to its delivery ack. Ratios are against aiokafka, the client the services use (ADR 0003).

    python -m bench.kafka_clients [--messages 20000] [--rate 1000] [--seconds 5] [--variants aiokafka,...]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
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

# Each variant and the module it needs: a variant whose client is not installed is skipped.
VARIANTS = {"aiokafka": "aiokafka", "confluent-kafka": "confluent_kafka", "faust": "faust"}
# The clients measured on the produce path (faust's producer is aiokafka's).
PRODUCERS = ("aiokafka", "confluent-kafka")
# uvloop's timers and librdkafka's poll count whole milliseconds (rounded, truncated): the open-loop
# producers sleep a millisecond longer than they must, or the last fraction of each wait would spin.
SLEEP_SLACK_S = 0.001


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


def confluent_producer_config(client_id: str) -> dict[str, Any]:
    """shared.kafka.make_producer's settings in librdkafka's names, so that only the client differs
    (plaintext: the bench broker has no security)."""
    return {
        "bootstrap.servers": BOOTSTRAP,
        "client.id": client_id,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 1,
        "batch.size": 256 * 1024,
        "request.timeout.ms": 30_000,
    }


def confluent_worker(src: str, dst: str) -> None:
    """The aiokafka worker's loop on librdkafka, synchronous as a service would run it in a thread:
    a batch consume, every reply produced, the batch's delivery awaited, then its offsets committed.

    ``consume`` alone returns at 2000 records or at its timeout, not at the first record (librdkafka's
    batch semantics), which would cost up to its timeout in latency below 20,000 records/s: so the
    loop waits for the first record with ``poll`` and then takes what is already fetched, as an
    aiokafka ``getmany`` does (equal latency is the comparison's premise).
    confluent_kafka.aio (AIOConsumer, AIOProducer) runs these same calls in a thread pool; not measured.
    """
    from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

    producer = Producer(confluent_producer_config("bench-confluent"))
    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": f"bench-confluent-{src}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 5,
            "isolation.level": "read_uncommitted",  # aiokafka's default (librdkafka's: read_committed)
        }
    )
    failed: list[KafkaError] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failed.append(err)

    consumer.subscribe([src])
    print("ready", flush=True)
    while True:
        first = consumer.poll(0.1)
        if first is None:
            continue
        messages = [first, *consumer.consume(num_messages=1999, timeout=0)]
        offsets: dict[int, int] = {}
        for msg in messages:
            value, partition, offset = msg.value(), msg.partition(), msg.offset()
            if (err := msg.error()) is not None:
                if err.fatal():
                    raise KafkaException(err)
                continue  # an event (a broker went away, ...), not a record: librdkafka retries
            assert value is not None and partition is not None and offset is not None
            key, reply = decide(value)
            producer.produce(dst, reply, key, on_delivery=delivered)
            offsets[partition] = offset + 1
        if offsets:
            producer.flush()
            if failed:
                raise KafkaException(failed[0])
            consumer.commit(
                offsets=[TopicPartition(src, p, o) for p, o in offsets.items()], asynchronous=False
            )


async def aiokafka_producer(topic: str, rate: int, seconds: float) -> None:
    """The gateway's append (shared.kafka.make_producer) at ``rate`` records/s, open loop: the
    latency of each from its send to its delivery ack; then it waits for the parent to end it."""
    producer = make_producer(BOOTSTRAP, client_id="bench-produce-aiokafka")
    await producer.start()
    await (await producer.send(topic, frame(0, 0), key=b"CP0"))  # metadata and producer id first
    latencies: list[float] = []

    def delivered(sent: float, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            latencies.append(time.perf_counter() - sent)

    print("ready", flush=True)
    futures = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        if (wait := start + i / rate - time.perf_counter()) > 0:
            await asyncio.sleep(wait + SLEEP_SLACK_S)
        value, key = frame(i, time.time_ns()), f"CP{i % 5000}".encode()
        sent = time.perf_counter()
        future = await producer.send(topic, value, key=key)
        future.add_done_callback(functools.partial(delivered, sent))
        futures.append(future)
    await asyncio.gather(*futures)  # a failed delivery ends the worker
    print(json.dumps({"latency_ms": percentiles(latencies)}), flush=True)
    await asyncio.Event().wait()


def confluent_producer(topic: str, rate: int, seconds: float) -> None:
    """The same append on librdkafka (acks=all, idempotent): the loop sleeps in ``poll``, so each
    delivery report is served (and timed) as it comes, as a dedicated poll thread would."""
    from confluent_kafka import KafkaError, KafkaException, Message, Producer

    producer = Producer(confluent_producer_config("bench-produce-confluent"))
    producer.produce(topic, frame(0, 0), b"CP0")
    producer.flush()  # metadata and producer id first
    latencies: list[float] = []
    failed: list[KafkaError] = []

    def delivered(sent: float, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            latencies.append(time.perf_counter() - sent)
        else:
            failed.append(err)

    print("ready", flush=True)
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        producer.poll(0)  # delivery reports also when behind schedule
        while (wait := start + i / rate - time.perf_counter()) > 0:
            producer.poll(wait + SLEEP_SLACK_S)
        value, key = frame(i, time.time_ns()), f"CP{i % 5000}".encode()
        sent = time.perf_counter()
        producer.produce(topic, value, key, on_delivery=functools.partial(delivered, sent))
    producer.flush()
    if failed:
        raise KafkaException(failed[0])
    print(json.dumps({"latency_ms": percentiles(latencies)}), flush=True)
    threading.Event().wait()


# -- orchestration -------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_worker(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.kafka_clients", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


async def read_line(proc: subprocess.Popen[bytes]) -> bytes:
    """The worker's next line; a worker that died is an error at once, not a wait for the timeout."""
    assert proc.stdout is not None
    line = await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline)
    if not line:  # its stderr is not kept: run its command alone to see why
        raise RuntimeError(f"worker exited: {proc.args!r}")
    return line


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


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
    proc = start_worker("--worker", variant, src, dst)  # started once, before anything is measured
    try:
        await read_line(proc)
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
        stop_worker(proc)
        await replies.stop()
        await producer.stop()


async def run_producer(variant: str, rate: int, seconds: float) -> dict[str, Any]:
    """The produce path alone: CPU of the producer process from its first timed send to its last ack."""
    run = uuid.uuid4().hex[:8]
    topic = f"bench.produce.{variant}.{run}"
    await ensure_topics(BOOTSTRAP, [TopicSpec(topic, 8, {})])  # partitioned like ocpp.frames
    proc = start_worker("--produce-worker", variant, topic, "--rate", str(rate), "--seconds", str(seconds))
    try:
        await read_line(proc)
        cpu0 = cpu_seconds(proc.pid)
        async with asyncio.timeout(seconds + 120):
            result: dict[str, Any] = json.loads(await read_line(proc))
        cpu = cpu_seconds(proc.pid) - cpu0
    finally:
        stop_worker(proc)
    records = int(rate * seconds)
    return {
        "variant": variant,
        "records": records,
        "rate_per_s": rate,
        "cpu_s_per_10k": round(cpu / records * 10_000, 3),
        "latency_ms": result["latency_ms"],
    }


def chosen(names: str | None) -> list[str]:
    """The variants asked for, or every installed one; one asked for but not installed is an error."""
    installed = [v for v, module in VARIANTS.items() if importlib.util.find_spec(module) is not None]
    if names is None:
        if skipped := [v for v in VARIANTS if v not in installed]:
            print(
                f"skipping {', '.join(skipped)}: not installed (pip install -e '.[bench]')", file=sys.stderr
            )
        return installed
    wanted = [v.strip() for v in names.split(",") if v.strip()]
    if unknown := [v for v in wanted if v not in VARIANTS]:
        raise SystemExit(f"unknown variant {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    if missing := [v for v in wanted if v not in installed]:
        raise SystemExit(f"{', '.join(missing)} not installed: pip install -e '.[bench]'")
    return wanted


def versus(results: list[dict[str, Any]], r: dict[str, Any], key: str) -> str:
    """``r[key]`` over aiokafka's in the same run (blank when aiokafka was not measured)."""
    base = next((b for b in results if b["variant"] == "aiokafka"), None)
    return f"{r[key] / base[key]:.2f}" if base and base[key] else ""


async def main(args: argparse.Namespace) -> None:
    variants = chosen(args.variants)
    results = [await run_variant(v, args.messages, args.rate, args.seconds) for v in variants]
    produced = [await run_producer(v, args.rate, args.seconds) for v in variants if v in PRODUCERS]
    save_json("kafka_clients", {"machine": machine(), "results": results, "produce": produced})
    rows = [
        "| variant | throughput (records/s) | vs aiokafka | CPU s / 10k | vs aiokafka | p50 ms | p99 ms | p99.9 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lat = r["latency_ms"]
        rows.append(
            f"| {r['variant']} | {r['throughput_per_s']} | {versus(results, r, 'throughput_per_s')} | "
            f"{r['cpu_s_per_10k']} | {versus(results, r, 'cpu_s_per_10k')} | "
            f"{lat['p50']} | {lat['p99']} | {lat['p99.9']} |"
        )
    if produced:
        rows += [
            "",
            (
                f"Gateway produce path: {args.rate} records/s open loop for {args.seconds} s, "
                "latency from send to delivery ack (acks=all, idempotent)."
            ),
            "",
            "| producer | CPU s / 10k | vs aiokafka | p50 ms | p99 ms | p99.9 ms |",
            "|---|---|---|---|---|---|",
        ]
        for r in produced:
            lat = r["latency_ms"]
            rows.append(
                f"| {r['variant']} | {r['cpu_s_per_10k']} | {versus(produced, r, 'cpu_s_per_10k')} | "
                f"{lat['p50']} | {lat['p99']} | {lat['p99.9']} |"
            )
    append_section(
        "Kafka client on the service hot path",
        f"`python -m bench.kafka_clients --messages {args.messages} --rate {args.rate} --seconds {args.seconds} "
        f"--variants {','.join(variants)}` (latency at {args.rate} records/s open loop)",
        "\n".join(rows),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--variants", help=f"comma-separated, of {','.join(VARIANTS)} (default: every installed one)"
    )
    parser.add_argument("--worker", nargs=3, metavar=("VARIANT", "SRC", "DST"))
    parser.add_argument("--produce-worker", nargs=2, metavar=("VARIANT", "TOPIC"))
    args = parser.parse_args()
    if args.worker:
        variant, src, dst = args.worker
        if variant == "faust":
            faust_worker(src, dst)
        elif variant == "confluent-kafka":
            confluent_worker(src, dst)
        else:
            import uvloop

            uvloop.run(aiokafka_worker(src, dst))
    elif args.produce_worker:
        variant, topic = args.produce_worker
        if variant == "confluent-kafka":
            confluent_producer(topic, args.rate, args.seconds)
        else:
            import uvloop

            uvloop.run(aiokafka_producer(topic, args.rate, args.seconds))
    else:
        asyncio.run(main(args))
