"""`python -m bench <name> [args]` (or `make bench BENCH_ARGS="<name> ..."`): run one benchmark."""

from __future__ import annotations

import runpy
import signal
import sys

BENCHMARKS = {
    "kafka_clients": "bench.kafka_clients",
    "roundtrip": "bench.roundtrip",
    "idle": "bench.idle",
    "connections": "bench.connections",
    "replay": "bench.replay",
    "composite": "bench.composite",
    "soak": "bench.soak",
    "list_paging": "bench.list_paging",
    "storm": "bench.storm",
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        sys.exit(f"usage: python -m bench {{{'|'.join(BENCHMARKS)}}} [args]")
    # kill (SIGTERM) unwinds like Ctrl-C, so that a run's `finally` stops the system it started
    # (the default action left every service of a soak running).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    name = sys.argv.pop(1)
    sys.argv[0] = BENCHMARKS[name]
    runpy.run_module(BENCHMARKS[name], run_name="__main__")
