"""The system under test for benchmarks, isolated from anything else on the broker and database.

Each run gets its own topic prefix, consumer groups, PostgreSQL schema and ports, and runs every
service as its own process (``csms <service>``), as a deployment would: the benchmark measures the
real path, gateway -> Kafka -> service -> Kafka -> gateway.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

FD_LIMIT = 65536


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def simulate(
    options: dict[str, object], *, env: dict[str, str] | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """Run ``csms simulate`` in its own process with ``--option value`` pairs (a value of True is a
    bare flag) and return its JSON summary: the load generator every benchmark drives."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "summary.json"
        argv = [sys.executable, "-m", "services.cli", "simulate", "--no-progress", "--summary", str(out)]
        for name, value in options.items():
            argv += [f"--{name}"] if value is True else [f"--{name}", str(value)]
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=False, env=env, timeout=timeout)
        summary: dict[str, Any] = json.loads(out.read_text())
    return summary


def raise_fd_limit() -> None:
    """20,000 connections need more than the usual 1,024 (or 20,000) descriptors; root may raise it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, FD_LIMIT), max(hard, FD_LIMIT)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class SystemUnderTest:
    services: tuple[str, ...] = ("gateway", "stations", "transactions", "api")
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    gateway_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    log_dir: Path = field(default_factory=lambda: Path("bench/results/logs"))
    # Projections are off the request path; the OCPP benchmarks run without them (the replay
    # benchmark measures them), so they do not compete for the same two cores.
    projections: bool = False
    # Settings of this run on top of the above (a benchmark's variant, a fault test's timeouts).
    extra: dict[str, str] = field(default_factory=dict)
    # An admin token of this run's operator API (`csms token create` at start): benchmarks are
    # clients like any other (ADR 0036).
    api_token: str = ""

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            CSMS_TOPIC_PREFIX=f"bench{self.run_id}.",
            CSMS_DB_SCHEMA=f"bench_{self.run_id}",
            CSMS_GATEWAY_PORT=str(self.gateway_port),
            # The benchmarks and fault tests drive ws; the wss listener (9443 by default) would
            # collide with a `make run` or another run on this machine (turn it on in `extra`).
            CSMS_GATEWAY_TLS_PORT="-1",
            CSMS_API_PORT=str(self.api_port),
            CSMS_GATEWAY_ID=f"bench-{self.run_id}",
            CSMS_INSTANCE_ID=f"bench-api-{self.run_id}",
            CSMS_LOG_LEVEL="WARNING",
            # Idle stations in the connection benchmark should not heartbeat every few seconds.
            CSMS_HEARTBEAT_INTERVAL="3600",
            CSMS_PROJECTIONS="on" if self.projections else "off",
        )
        env.update(self.extra)
        return env

    @property
    def station_url(self) -> str:
        return f"ws://127.0.0.1:{self.gateway_port}/ocpp"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "services.cli", "topics", "create"],
            env=self.env,
            check=True,
            capture_output=True,
        )
        self.api_token = self.create_token(f"bench-{self.run_id}", "admin")
        for name in self.services:
            self.spawn(name)
        self._wait_port(self.gateway_port)
        if "api" in self.services:
            self._wait_port(self.api_port)

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_token}"}

    def create_token(self, name: str, role: str) -> str:
        created = subprocess.run(
            [sys.executable, "-m", "services.cli", "token", "create", "--name", name, "--role", role],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return created.stdout.strip()

    def spawn(self, name: str) -> subprocess.Popen[bytes]:
        """Start ``csms <name>`` (again: fault tests restart what they killed); its log is appended."""
        # The child writes through its own copy of the descriptor; ours is closed at once.
        with (self.log_dir / f"{self.run_id}-{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", name],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=raise_fd_limit if name == "gateway" else None,
            )
        return self.processes[name]

    def _wait_port(self, port: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.log_dir}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return
            time.sleep(0.2)
        raise TimeoutError(f"nothing listens on {port}")

    def process(self, name: str) -> psutil.Process:
        return psutil.Process(self.processes[name].pid)

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def cleanup(self) -> None:
        """Delete this run's topics and schema: the broker and database stay as they were."""
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.system",
                "cleanup",
                self.env["CSMS_TOPIC_PREFIX"],
                self.env["CSMS_DB_SCHEMA"],
            ],
            env=self.env,
            check=False,
            capture_output=True,
        )

    @contextlib.contextmanager
    def running(self) -> Iterator[SystemUnderTest]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
            self.cleanup()


def whole_system() -> SystemUnderTest:
    """What ``make run`` runs: every service as its own process, projections on."""
    from services.cli import SERVICES  # the CLI imports every service: only when asked

    return SystemUnderTest(services=tuple(SERVICES), projections=True)


@dataclass
class IdleFleet:
    """What ``idle_fleet`` saw while connecting: descriptors the holder opened, and how long it took."""

    connected: int = 0
    ramp_s: float = 0.0


@contextlib.contextmanager
def idle_fleet(
    holder: psutil.Process, url: str, stations: int, *, ramp: float, processes: int, heartbeat: float
) -> Iterator[IdleFleet]:
    """Connect ``stations`` idle stations (``csms simulate --scenario idle``, its own processes) to
    ``url`` and yield once ``holder``, the process that accepts them, holds them all and their boots
    have settled; the fleet is stopped on exit. Connections are counted as the holder's descriptors
    beyond those it had before (cheap to read, unlike the simulator's summary, written at its end)."""
    base_fds = holder.num_fds()
    fleet = IdleFleet()
    with tempfile.TemporaryDirectory() as tmp:
        argv = [
            sys.executable, "-m", "services.cli", "simulate", "--url", url, "--stations", str(stations),
            "--scenario", "idle", "--ramp", str(ramp), "--heartbeat", str(heartbeat), "--duration", "3600",
            "--processes", str(processes), "--source-addresses", "4", "--no-progress",
            "--summary", str(Path(tmp) / "sim.json"),
        ]  # fmt: skip
        sim = subprocess.Popen(argv, stdout=subprocess.DEVNULL, preexec_fn=raise_fd_limit)
        try:
            started = time.monotonic()
            # The ramp is an upper bound: each new station boots through the whole system, which
            # on a small machine admits fewer per second than asked.
            while time.monotonic() - started < 4 * stations / ramp + 120:
                fleet.connected = max(0, holder.num_fds() - base_fds)
                if fleet.connected >= 0.999 * stations:  # a few descriptors come and go (Kafka, logs)
                    break
                time.sleep(1)
            fleet.ramp_s = round(time.monotonic() - started, 1)
            time.sleep(5)  # boots and status notifications settle
            yield fleet
            fleet.connected = max(0, holder.num_fds() - base_fds)
        finally:
            sim.terminate()  # measured: the fleet need not run out its duration
            sim.wait(timeout=120)


MIB = 1024 * 1024


def sample_rss(system: SystemUnderTest, every: float, stop: threading.Event) -> dict[str, list[float]]:
    """RSS in MiB of each service process, every ``every`` seconds until ``stop``."""
    series: dict[str, list[float]] = {name: [] for name in system.processes}
    while not stop.wait(every):
        for name in system.processes:
            try:
                series[name].append(system.process(name).memory_info().rss / MIB)
            except Exception:  # noqa: BLE001 - a process that died shows as a gap and fails the run
                series[name].append(float("nan"))
    return series


def broker_processes() -> list[psutil.Process]:
    """The Kafka broker(s) on this machine (the JVMs running kafka.Kafka)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if "kafka.Kafka" in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
    return found


def postgres_processes() -> list[psutil.Process]:
    """PostgreSQL's server and every backend (a new backend appears with each connection)."""
    found = []
    for proc in psutil.process_iter(["name"]):
        with contextlib.suppress(psutil.Error):
            if (proc.info["name"] or "").startswith("postgres"):
                found.append(proc)
    return found


def system_groups(system: SystemUnderTest) -> dict[str, Callable[[], list[psutil.Process]]]:
    """Everything a user of the system runs: its processes, the broker and PostgreSQL."""

    def one(name: str) -> Callable[[], list[psutil.Process]]:
        return lambda: [system.process(name)]

    groups = {name: one(name) for name in system.processes}
    groups["kafka broker"] = broker_processes
    groups["postgresql"] = postgres_processes
    return groups


@dataclass
class _Sample:
    at: float  # wall clock, time.time()
    cpu_s: dict[str, float]  # CPU seconds used by each group since the sampler started
    busy_s: float  # the machine's non-idle CPU seconds since start
    steal_s: float  # CPU seconds the hypervisor gave to other guests since start


def _machine_times() -> tuple[float, float]:
    """Busy and steal CPU seconds of the whole machine, from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [float(v) for v in fields]
    hz = os.sysconf("SC_CLK_TCK")
    idle = ticks[3] + ticks[4]  # idle + iowait
    steal = ticks[7] if len(ticks) > 7 else 0.0
    return (sum(ticks[:8]) - idle - steal) / hz, steal / hz


class CpuSampler:
    """CPU seconds of named process groups, sampled every ``every`` s in a thread, so that a
    benchmark can read the CPU of any window afterwards (e.g. a simulator's measurement window).

    A group is re-listed at each sample (PostgreSQL starts a backend per connection); a process's
    time counts from when it is first seen, and is kept when it exits."""

    def __init__(self, groups: dict[str, Callable[[], list[psutil.Process]]], every: float = 0.5):
        self._groups = groups
        self._every = every
        self._seen: dict[int, tuple[float, float]] = {}  # pid -> (first seen cpu s, last cpu s)
        self._pid_group: dict[int, str] = {}
        self.samples: list[_Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._machine0 = _machine_times()

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._sample()

    def _sample(self) -> None:
        for name, lister in self._groups.items():
            try:
                procs = lister()
            except (psutil.Error, KeyError):
                procs = []
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    cpu = times.user + times.system
                    first = self._seen.get(proc.pid, (cpu, cpu))[0]
                    self._seen[proc.pid] = (first, cpu)
                    self._pid_group[proc.pid] = name
        used = dict.fromkeys(self._groups, 0.0)
        for pid, (first, last) in self._seen.items():
            used[self._pid_group[pid]] += last - first
        busy, steal = _machine_times()
        self.samples.append(_Sample(time.time(), used, busy - self._machine0[0], steal - self._machine0[1]))

    def _at(self, t: float) -> _Sample:
        return min(self.samples, key=lambda s: abs(s.at - t))

    def window(self, start: float, end: float) -> dict[str, Any]:
        """Per group, % of one core between ``start`` and ``end`` (wall clock); with the sum over
        all groups (``total``), the machine's busy and steal %, and the seconds measured."""
        a, b = self._at(start), self._at(end)
        seconds = max(1e-9, b.at - a.at)
        cpu = {n: round((b.cpu_s[n] - a.cpu_s[n]) / seconds * 100, 1) for n in self._groups}
        return {
            "cpu_percent": cpu,
            "total_percent": round(sum(cpu.values()), 1),
            "machine_busy_percent": round((b.busy_s - a.busy_s) / seconds * 100, 1),
            "steal_percent": round((b.steal_s - a.steal_s) / seconds * 100, 1),
            "seconds": round(seconds, 1),
        }


async def remove_run(prefix: str, schema: str) -> None:
    """Delete a benchmark run's topics (by prefix) and PostgreSQL schema."""
    from shared.config import Settings
    from shared.teardown import remove_system

    settings = Settings.from_env()
    await remove_system(settings.kafka_bootstrap, settings.database_url, prefix, schema)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "cleanup":
    import asyncio

    asyncio.run(remove_run(sys.argv[2], sys.argv[3]))
