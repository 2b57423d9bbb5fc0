"""What a simulated fleet does: the settings of one ``csms simulate`` run (or one of its processes).

Its own module: the fleet runs scenarios, and scenarios read the settings (no import between the two)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FleetConfig:
    url: str = "ws://127.0.0.1:9000/ocpp"
    stations: int = 10
    prefix: str = "SIM"
    first: int = 0  # index of this process's first station (several processes share one fleet)
    connectors: int = 2
    ramp: float = 50.0  # new connections per second
    jitter: float = 0.2  # +- fraction of the ramp spacing
    scenario: str = "idle"
    duration: float = 60.0  # seconds after the ramp
    heartbeat: float | None = None  # override the interval the CSMS tells
    meter_interval: float = 10.0
    charge_seconds: float = 60.0
    pause_seconds: float = 10.0
    charging_share: float = 0.5
    # Station i uses id_tags[i % len]; fewer tags than charging stations means ConcurrentTx answers.
    id_tags: list[str] = field(default_factory=lambda: [f"SIM-TAG-{i}" for i in range(1000)])
    storm_at: float | None = None  # seconds after the ramp: every connection drops and reconnects at once
    offline_seconds: float = 5.0
    backlog_transactions: int = 3
    backlog_minutes: int = 60
    rate: float | None = None  # open-loop station calls per second (the load mix), replaces the scenario
    warmup: float = 2.0  # seconds of load before the measurement window opens
    call_timeout: float = 30.0
    source_addresses: int = 1  # spread client sockets over 127.0.0.1..N (more ephemeral ports)
    seed: int = 1
