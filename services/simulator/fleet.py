"""A fleet of simulated stations in one process: ramp, scenarios, load, storms, progress, summary.

``csms simulate`` runs one fleet; more stations than one process handles well are spread over
several processes (``--processes``), each with its own share and its own summary, merged at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import asdict
from typing import Any

from websockets.exceptions import InvalidHandshake, WebSocketException

from services.simulator.answers import ROUTES
from services.simulator.config import FleetConfig
from services.simulator.metrics import Metrics, percentiles
from services.simulator.scenarios import SCENARIOS, announce
from services.simulator.station import CallFailed, SimStation

log = logging.getLogger(__name__)

# Seconds a station gets to close (WebSocket close handshake 10 s + reader 5 s) once the run stops.
STOP_GRACE = 30.0

# The realistic mix of the open-loop load (issue 4): most traffic is meter values.
LOAD_MIX = (
    ("MeterValues", 0.50),
    ("StatusNotification", 0.15),
    ("Heartbeat", 0.15),
    ("Authorize", 0.10),
    ("Transaction", 0.10),  # StartTransaction, or StopTransaction when one is running
)


class Fleet:
    def __init__(self, config: FleetConfig) -> None:
        if config.scenario not in SCENARIOS and config.rate is None:
            raise ValueError(f"unknown scenario {config.scenario!r}; one of {sorted(SCENARIOS)}")
        self.config = config
        self.metrics = Metrics()
        self.rng = random.Random(config.seed)
        self.stations = [
            SimStation(
                f"{config.prefix}{config.first + i:06d}",
                config.url.rstrip("/"),
                self.metrics,
                connectors=config.connectors,
                call_timeout=config.call_timeout,
                local_address=f"127.0.0.{1 + i % config.source_addresses}"
                if config.source_addresses > 1
                else None,
                rng=random.Random(config.seed * 1_000_003 + i),
                answers=ROUTES,
            )
            for i in range(config.stations)
        ]
        self._index = {st.station_id: i for i, st in enumerate(self.stations)}
        self._flushed: set[str] = set()
        self._all_flushed = asyncio.Event()
        self._storm = asyncio.Event()
        self._stopping = asyncio.Event()
        self._finish = asyncio.Event()
        self.ready = asyncio.Event()  # every station connected and announced (booted) once
        self._announced: set[str] = set()
        self.ramp_seconds = 0.0
        self.load_rate: float | None = None

    # -- helpers scenarios use --------------------------------------------------------------------

    def index_of(self, st: SimStation) -> int:
        return self._index[st.station_id]

    def id_tag_for(self, st: SimStation) -> str:
        return self.config.id_tags[(self.config.first + self.index_of(st)) % len(self.config.id_tags)]

    def mark_flushed(self, st: SimStation) -> None:
        self._flushed.add(st.station_id)
        if len(self._flushed) >= len(self.stations):
            self._all_flushed.set()

    def _unflushed(self) -> int:
        """Stations of the offline scenario whose queued backlog the CSMS has not answered yet."""
        return len(self.stations) - len(self._flushed) if self.config.scenario == "offline" else 0

    async def reconnect(self, st: SimStation) -> None:
        await st.connect()

    # -- life of a station ---------------------------------------------------------------------------

    async def _life(self, st: SimStation, delay: float) -> None:
        await asyncio.sleep(delay)
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                await st.connect()
            except (OSError, InvalidHandshake, WebSocketException, TimeoutError) as exc:
                self.metrics.connect_failures += 1
                log.debug("%s: connect failed: %s", st.station_id, exc)
                await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.5))
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.5
            st.on_reset = lambda st=st: st.dropped.set()  # a reset reboots: reconnect and boot again
            work = asyncio.create_task(self._work(st))
            dropped = asyncio.create_task(st.dropped.wait())
            storm = asyncio.create_task(self._storm.wait())
            stop = asyncio.create_task(self._stopping.wait())
            await asyncio.wait([work, dropped, storm, stop], return_when=asyncio.FIRST_COMPLETED)
            for task in (work, dropped, storm, stop):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, CallFailed, Exception):
                await work
            await st.disconnect(1001 if self._storm.is_set() else 1000)
            if work.done() and not work.cancelled() and work.exception() is not None:
                log.debug("%s: %s", st.station_id, work.exception())
            if self._storm.is_set():
                await self._storm_passed()
            elif not self._stopping.is_set():
                await asyncio.sleep(self.rng.uniform(0.1, 1.0))

    async def _work(self, st: SimStation) -> None:
        if self.config.rate is not None:
            await announce(st, self)
            await asyncio.Event().wait()  # the load generator drives this station now
        await SCENARIOS[self.config.scenario](st, self)

    def note_announced(self, st: SimStation) -> None:
        self._announced.add(st.station_id)
        if len(self._announced) >= len(self.stations):
            self.ready.set()

    async def _storm_passed(self) -> None:
        while self._storm.is_set() and not self._stopping.is_set():  # noqa: ASYNC110 - the storm event is cleared by run()
            await asyncio.sleep(0.01)

    # -- open-loop load ------------------------------------------------------------------------------

    async def _load(self, rate: float) -> None:
        """Open loop: calls are started on schedule whether or not earlier ones were answered."""
        actions = [a for a, _ in LOAD_MIX]
        weights = [w for _, w in LOAD_MIX]
        start = time.monotonic()
        n = 0
        pending: set[asyncio.Task[None]] = set()
        while not self._stopping.is_set():
            n += 1
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            st = self.stations[self.rng.randrange(len(self.stations))]
            if st.ws is None:
                continue
            task = asyncio.create_task(self._one(st, self.rng.choices(actions, weights)[0]))
            pending.add(task)
            task.add_done_callback(pending.discard)
        for task in pending:
            task.cancel()

    async def _one(self, st: SimStation, action: str) -> None:
        with contextlib.suppress(CallFailed):
            if action == "MeterValues":
                await st.meter_values(1)
            elif action == "StatusNotification":
                await st.status(2)
            elif action == "Heartbeat":
                await st.heartbeat()
            elif action == "Authorize":
                await st.call("Authorize", {"idTag": self.id_tag_for(st)})
            elif st.connectors[1].transaction_id is None:
                await st.start_transaction(1, self.id_tag_for(st))
            else:
                await st.stop_transaction(1)

    # -- the run -------------------------------------------------------------------------------------

    async def run(self, progress: Any = None) -> dict[str, Any]:
        cfg = self.config
        spacing = 1.0 / cfg.ramp
        lives = [
            asyncio.create_task(self._life(st, i * spacing * (1 + self.rng.uniform(-cfg.jitter, cfg.jitter))))
            for i, st in enumerate(self.stations)
        ]
        ticker = asyncio.create_task(self._tick())
        reporter = asyncio.create_task(progress(self)) if progress is not None else None
        ramp_started = time.monotonic()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ready.wait(), timeout=len(self.stations) * spacing * 2 + 60)
            self.ramp_seconds = time.monotonic() - ramp_started
            load = None
            if cfg.rate is not None:
                load = asyncio.create_task(self._load(cfg.rate))
                await asyncio.sleep(cfg.warmup)
            self.metrics.reset_latency()
            if cfg.storm_at is not None:
                await asyncio.sleep(min(cfg.storm_at, cfg.duration))
                self._storm.set()
                await asyncio.sleep(0.2)
                self._storm.clear()
                await asyncio.sleep(max(0.0, cfg.duration - cfg.storm_at))
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._finish.wait(), cfg.duration)
            if cfg.scenario == "offline":
                # A station's backlog is part of its work: the run ends once every queue was
                # answered (or STOP_GRACE passed: then `backlog_unflushed` says how many were not).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._all_flushed.wait(), STOP_GRACE)
            summary = self.summary()
            if load is not None:
                load.cancel()
        finally:
            self._stopping.set()
            ticker.cancel()
            if reporter is not None:
                reporter.cancel()
            await self._end(lives)
        return summary

    def finish(self) -> None:
        """End the run now instead of after ``duration`` (a test that injected a fault and saw the
        system recover); the summary and the stations' closing are as at the end of a full run."""
        self._finish.set()

    async def _end(self, lives: list[asyncio.Task[None]]) -> None:
        """Every station ends within its close timeouts; one that does not is cancelled and reported
        (with where it was stuck), so a simulator run always ends."""
        _, stuck = await asyncio.wait(lives, timeout=STOP_GRACE)
        for task in stuck:
            log.warning("station life still running %.0fs after stop; cancelling:", STOP_GRACE)
            task.print_stack(limit=8)
            task.cancel()
        if stuck:
            await asyncio.wait(stuck, timeout=STOP_GRACE)
        await asyncio.gather(*(t for t in lives if t.done()), return_exceptions=True)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for st in self.stations:
                if st.ws is not None:
                    st.tick(now)

    def summary(self) -> dict[str, Any]:
        config = asdict(self.config)
        config.pop("id_tags")
        return {
            "config": config,
            "ramp_s": round(self.ramp_seconds, 2),
            "all_connected": self.ready.is_set(),
            "backlog_unflushed": self._unflushed(),
            **self.metrics.summary(),
        }


def merge(summaries: list[dict[str, Any]], latencies: list[list[float]] | None = None) -> dict[str, Any]:
    """One summary for a fleet run as several processes."""
    if len(summaries) == 1:
        return summaries[0]
    total: dict[str, Any] = {"processes": len(summaries), "config": summaries[0]["config"]}
    for key in (
        "connected",
        "max_connected",
        "connects",
        "connect_failures",
        "disconnects",
        "calls",
        "results",
        "errors",
        "timeouts",
        "lost",
        "answered_csms_calls",
        "calls_per_s",
    ):
        total[key] = round(sum(s[key] for s in summaries), 1)
    total["all_connected"] = all(s["all_connected"] for s in summaries)
    total["backlog_unflushed"] = sum(s["backlog_unflushed"] for s in summaries)
    total["ramp_s"] = max(s["ramp_s"] for s in summaries)
    total["elapsed_s"] = max(s["elapsed_s"] for s in summaries)
    total["window_unix"] = [
        min(s["window_unix"][0] for s in summaries),
        max(s["window_unix"][1] for s in summaries),
    ]
    if latencies is not None:
        total["latency_ms"] = percentiles([v for part in latencies for v in part])
    else:  # the worst process's percentiles: conservative
        total["latency_ms"] = {
            k: max(s["latency_ms"][k] for s in summaries) for k in summaries[0]["latency_ms"]
        }
    return total


def dumps(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=True)
