"""What simulated stations do once connected: idle, charging, mixed, reconnect storm, offline backlog.

Each scenario is a coroutine ``(station, fleet) -> None`` run for the station's whole life; the
fleet reconnects a station whose connection drops and runs the scenario again (as a rebooted
charge point would boot again).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from services.simulator.config import FleetConfig
from services.simulator.station import CallFailed, SimStation, iso


class Fleet(Protocol):
    """What a scenario may ask of the fleet running it (``fleet.Fleet`` is the one)."""

    config: FleetConfig
    rng: random.Random

    def id_tag_for(self, st: SimStation) -> str: ...

    def index_of(self, st: SimStation) -> int: ...

    def mark_flushed(self, st: SimStation) -> None: ...

    def note_announced(self, st: SimStation) -> None: ...

    async def reconnect(self, st: SimStation) -> None: ...


Scenario = Callable[[SimStation, Fleet], Awaitable[None]]


async def announce(st: SimStation, fleet: Fleet) -> None:
    """Boot (retrying while Pending/Rejected, as the spec asks) and report every connector."""
    while (await st.boot()) != "Accepted":  # noqa: ASYNC110 - Pending/Rejected: retry after the interval
        await asyncio.sleep(min(st.heartbeat_interval, 30.0))
    for connector_id in [0, *st.connectors]:
        await st.status(connector_id)
    fleet.note_announced(st)


async def heartbeats(st: SimStation, fleet: Fleet) -> None:
    interval = fleet.config.heartbeat or st.heartbeat_interval
    while True:
        await asyncio.sleep(interval * fleet.rng.uniform(0.9, 1.1))
        await st.heartbeat()


async def idle(st: SimStation, fleet: Fleet) -> None:
    await announce(st, fleet)
    await heartbeats(st, fleet)


async def charge_once(st: SimStation, fleet: Fleet, connector_id: int) -> None:
    cfg = fleet.config
    id_tag = fleet.id_tag_for(st)
    await st.status(connector_id, "Preparing")
    answer = await st.call("Authorize", {"idTag": id_tag})
    if answer["idTagInfo"]["status"] != "Accepted":
        await st.status(connector_id, "Available")
        return
    await st.start_transaction(connector_id, id_tag)
    await st.status(connector_id, "Charging")
    until = asyncio.get_running_loop().time() + cfg.charge_seconds
    while asyncio.get_running_loop().time() < until:
        await asyncio.sleep(cfg.meter_interval * fleet.rng.uniform(0.9, 1.1))
        await st.meter_values(connector_id)
    await st.stop_transaction(connector_id)
    await st.status(connector_id, "Available")


async def charging(st: SimStation, fleet: Fleet) -> None:
    await announce(st, fleet)
    for connector_id, connector in st.connectors.items():
        if connector.transaction_id is not None:  # its connection dropped mid-session: end it now
            await st.stop_transaction(connector_id)
            await st.status(connector_id, "Available")
    beat = asyncio.create_task(heartbeats(st, fleet))
    try:
        while True:
            await charge_once(st, fleet, 1)
            await asyncio.sleep(fleet.config.pause_seconds * fleet.rng.uniform(0.5, 1.5))
    finally:
        beat.cancel()


async def mixed(st: SimStation, fleet: Fleet) -> None:
    if fleet.index_of(st) < fleet.config.charging_share * fleet.config.stations:
        await charging(st, fleet)
    else:
        await idle(st, fleet)


async def offline_backlog(st: SimStation, fleet: Fleet) -> None:
    """Go offline once, charge while offline (queueing what a station must send), then flush.

    The queue lives on the station (``st.offline``), not in this coroutine: a connection that drops
    mid-flush resumes with what was not answered yet, as a real station keeps its queue across
    reconnects. A queued StartTransaction is sent first; its transactionId is then used for the
    queued MeterValues and StopTransaction, exactly what a real station does (OCPP 1.6 4.9).
    """
    await announce(st, fleet)
    if not st.offline.went_offline:
        await asyncio.sleep(fleet.rng.uniform(0, 2))
        st.offline.went_offline = True
        st.offline.messages = backlog(fleet.id_tag_for(st), fleet.config.backlog_transactions, fleet)
        await st.disconnect(1001)
        await asyncio.sleep(fleet.config.offline_seconds)
        await fleet.reconnect(st)
        await announce(st, fleet)
    while st.offline.messages:
        action, payload = st.offline.messages[0]
        if action != "StartTransaction":
            tx = st.offline.transaction_id
            payload = {**payload, "transactionId": tx if tx is not None else -1}
        answer = await st.call(action, payload)
        if action == "StartTransaction":
            st.offline.transaction_id = int(answer["transactionId"])
        st.offline.messages.pop(0)  # answered: the CSMS has it
    fleet.mark_flushed(st)
    await heartbeats(st, fleet)


def backlog(id_tag: str, transactions: int, fleet: Fleet) -> list[tuple[str, dict[str, Any]]]:
    """What a station queues while charging offline: start, a meter value and stop per session,
    with the old timestamps, each session 800 Wh."""
    started = datetime.now(UTC) - timedelta(minutes=fleet.config.backlog_minutes)
    queued: list[tuple[str, dict[str, Any]]] = []
    for n in range(transactions):
        at = started + timedelta(minutes=n * 10)
        queued.append(
            (
                "StartTransaction",
                {"connectorId": 1, "idTag": id_tag, "meterStart": n * 1000, "timestamp": iso(at)},
            )
        )
        queued.append(
            (
                "MeterValues",
                {
                    "connectorId": 1,
                    "meterValue": [
                        {
                            "timestamp": iso(at + timedelta(minutes=4)),
                            "sampledValue": [{"value": str(n * 1000 + 400)}],
                        }
                    ],
                },
            )
        )
        queued.append(
            (
                "StopTransaction",
                {"meterStop": n * 1000 + 800, "timestamp": iso(at + timedelta(minutes=8)), "reason": "Local"},
            )
        )
    return queued


SCENARIOS: dict[str, Scenario] = {
    "idle": idle,
    "charging": charging,
    "mixed": mixed,
    "storm": mixed,  # mixed traffic; the fleet drops every connection at --storm-at and reconnects all at once
    "offline": offline_backlog,
}

__all__ = ["SCENARIOS", "CallFailed", "Scenario"]
