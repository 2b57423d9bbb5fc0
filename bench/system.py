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
from collections.abc import Iterator
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


async def remove_run(prefix: str, schema: str) -> None:
    """Delete a benchmark run's topics (by prefix) and PostgreSQL schema."""
    from shared.config import Settings
    from shared.teardown import remove_system

    settings = Settings.from_env()
    await remove_system(settings.kafka_bootstrap, settings.database_url, prefix, schema)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "cleanup":
    import asyncio

    asyncio.run(remove_run(sys.argv[2], sys.argv[3]))
