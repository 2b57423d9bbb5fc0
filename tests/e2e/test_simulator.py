"""The fleet simulator (`csms simulate`) against the real system: scenarios run clean, the CSMS sees
their effects, and simulated stations answer Central System commands sensibly."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from services.simulator.config import FleetConfig
from services.simulator.fleet import Fleet
from tests.e2e.conftest import Api, System, eventually, unique_station

pytestmark = pytest.mark.e2e


def fleet_config(system: System, **overrides: object) -> FleetConfig:
    prefix = unique_station("SIM") + "-"
    base = FleetConfig(
        url=f"ws://127.0.0.1:{system.gateway.port}/ocpp",
        prefix=prefix,
        stations=12,
        ramp=100,
        duration=4,
        meter_interval=0.3,
        charge_seconds=1.0,
        pause_seconds=0.3,
        id_tags=[f"{prefix}T{i}" for i in range(12)],  # one per station: no ConcurrentTx
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


async def accept_tags(api: Api, config: FleetConfig) -> None:
    for tag in config.id_tags:
        assert (await api.put(f"/api/v1/id-tags/{tag}", {"status": "Accepted"}))[0] in (200, 201)


@pytest.mark.parametrize("scenario", ["mixed", "storm", "offline"])
async def test_scenarios_run_clean_and_land_in_the_read_models(
    system: System, api: Api, scenario: str
) -> None:
    config = fleet_config(
        system, scenario=scenario, storm_at=1.5 if scenario == "storm" else None, offline_seconds=1.0
    )
    await accept_tags(api, config)
    summary = await asyncio.wait_for(Fleet(config).run(), 120)  # a stuck fleet fails here, with a traceback
    assert summary["all_connected"] and summary["errors"] == 0 and summary["timeouts"] == 0, summary
    # Every call was answered, except those in flight when the window opened or closed (one per
    # station) and those a dropped connection failed (`lost`: in flight or queued at a storm's drop,
    # more of them the slower the machine).
    assert abs(summary["calls"] - summary["results"] - summary["lost"]) <= config.stations, summary
    assert summary["results"] > 0
    if scenario == "storm":
        assert summary["connects"] >= 2 * config.stations
    station_id = f"{config.prefix}000000"
    if scenario == "offline":
        # Every station's queue was answered before the run ended, so its backlog is in the log:
        # wait for exactly what is asserted (every backlog session stopped), not for any one of them.
        assert summary["backlog_unflushed"] == 0, summary
        body = await api.until(
            f"/api/v1/transactions?stationId={station_id}",
            lambda b: sum(1 for t in b["transactions"] if t["stoppedAt"]) >= config.backlog_transactions,
        )
        # The backlog arrived with its old timestamps, each start got an id, each stop matched it.
        done = [t for t in body["transactions"] if t["stoppedAt"]]
        assert all(t["energyWh"] == 800 for t in done)
    else:
        await api.until(
            f"/api/v1/transactions?stationId={station_id}",
            lambda b: any(t["stoppedAt"] for t in b["transactions"]),
        )


async def test_simulated_stations_answer_central_system_commands(system: System, api: Api) -> None:
    config = fleet_config(system, scenario="idle", stations=2, duration=30)
    await accept_tags(api, config)
    fleet = Fleet(config)
    run = asyncio.create_task(fleet.run())
    await asyncio.wait_for(fleet.ready.wait(), 20)
    station_id = fleet.stations[0].station_id

    async def command(action: str, payload: object) -> dict[str, object]:
        code, body = await api.post(f"/api/v1/stations/{station_id}/commands/{action}", payload)
        assert code == 200, body
        response: dict[str, object] = body["response"]
        return response

    assert await command("RemoteStartTransaction", {"connectorId": 1, "idTag": config.id_tags[0]}) == {
        "status": "Accepted"
    }
    active = await api.until(
        f"/api/v1/transactions?stationId={station_id}&active=true", lambda b: len(b["transactions"]) == 1
    )
    tx = active["transactions"][0]["transactionId"]
    assert await command("RemoteStopTransaction", {"transactionId": tx}) == {"status": "Accepted"}
    await api.until(f"/api/v1/transactions/{tx}", lambda b: b["stopReason"] == "Remote")
    config_answer = await command("GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
    assert config_answer["unknownKey"] == ["Nope"]
    assert await command("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "9"}) == {
        "status": "Rejected"
    }
    assert await command("TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}
    assert await command("Reset", {"type": "Soft"}) == {"status": "Accepted"}
    # The station reboots: it reconnects (the third connect of the fleet's two stations) and boots.
    await eventually(lambda: fleet.metrics.connects >= 3, what="the reset station reconnected")
    assert fleet.metrics.connects >= 3
    assert await command("UnlockConnector", {"connectorId": 9}) == {"status": "NotSupported"}
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
