"""Admission control for reconnect storms (issue 12, ADR 0021).

Beyond ``gateway_max_connections`` open stations, or ``gateway_max_handshakes`` upgrades being
decided at once, a new upgrade gets HTTP 503 with Retry-After before the upgrade, while connected
stations keep being answered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from services.gateway.app import Gateway
from tests.e2e.conftest import System, eventually, unique_station
from tests.e2e.station import boot_raw
from tests.e2e.test_gateway import basic, register

pytestmark = pytest.mark.e2e
OCPP = [Subprotocol("ocpp1.6")]


async def refused_with(url: str, **kwargs: object) -> tuple[int, str | None]:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url, subprotocols=OCPP, **kwargs):  # type: ignore[arg-type]
            pass
    return caught.value.response.status_code, caught.value.response.headers.get("Retry-After")


async def heartbeat_answered(ws: object) -> bool:
    await boot_raw(ws)
    await ws.send('[2,"hb","Heartbeat",{}]')  # type: ignore[attr-defined]
    return bool(json.loads(await ws.recv())[:2] == [3, "hb"])  # type: ignore[attr-defined]


async def test_max_connections_gives_503_and_keeps_connected_stations_answered(system: System) -> None:
    settings = dataclasses.replace(
        system.settings, gateway_id=system.settings.gateway_id + "-adm", gateway_max_connections=2
    )
    gateway = Gateway(settings)
    await gateway.start()
    base = f"ws://127.0.0.1:{gateway.port}/ocpp/"
    try:
        async with (
            connect(base + unique_station("ADM"), subprotocols=OCPP) as first,
            connect(base + unique_station("ADM"), subprotocols=OCPP) as second,
        ):
            await eventually(lambda: len(gateway.connections) == 2)
            assert await refused_with(base + unique_station("ADM")) == (503, "10")
            assert await heartbeat_answered(first) and await heartbeat_answered(second)
        await eventually(lambda: len(gateway.connections) == 0)
        async with connect(base + unique_station("ADM"), subprotocols=OCPP) as third:
            assert await heartbeat_answered(third)
    finally:
        await gateway.stop()


async def test_max_handshakes_gives_503_while_an_upgrade_is_being_decided(system: System) -> None:
    settings = dataclasses.replace(
        system.settings,
        gateway_id=system.settings.gateway_id + "-hs",
        gateway_max_handshakes=1,
        auth_hash_workers=1,
    )
    gateway = Gateway(settings)
    await gateway.start()
    base = f"ws://127.0.0.1:{gateway.port}/ocpp/"
    release = threading.Event()
    try:
        station = unique_station("HSK")
        await register(system, station, "a-password-of-16")
        await eventually(lambda: gateway.registry.get(station) is not None)
        # Occupy the only hashing thread, so the next password check stays in progress.
        blocker = asyncio.get_running_loop().run_in_executor(gateway._hash_pool, release.wait)
        pending = asyncio.create_task(refused_or_open(base + station, basic(station, "a-password-of-16")))
        await eventually(lambda: gateway.handshaking == 1)
        assert await refused_with(base + unique_station("HSK")) == (503, "10")
        release.set()
        await blocker
        assert await pending == 101
    finally:
        release.set()
        await gateway.stop()


async def refused_or_open(url: str, headers: dict[str, str]) -> int:
    try:
        async with connect(url, subprotocols=OCPP, additional_headers=headers):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code
