"""Password checks cannot stall the gateway (issue 12, ADR 0020).

Beyond ``auth_failures_per_station`` wrong passwords for one station within the window, the gateway
answers HTTP 429 with Retry-After *without hashing*; another station's correct password still works,
and a connected station keeps being answered throughout.
"""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.e2e.conftest import System, unique_station
from tests.e2e.station import boot_raw
from tests.e2e.test_gateway import basic, register

pytestmark = pytest.mark.e2e
OCPP = [Subprotocol("ocpp1.6")]


async def attempt(system: System, station_id: str, password: str) -> tuple[int, str | None]:
    try:
        async with connect(
            system.station_url(station_id), subprotocols=OCPP, additional_headers=basic(station_id, password)
        ):
            return 101, None
    except InvalidStatus as exc:
        return exc.response.status_code, exc.response.headers.get("Retry-After")


async def test_wrong_password_burst_is_throttled_without_hashing(system: System) -> None:
    target, other = unique_station("GUESS"), unique_station("HONEST")
    await register(system, target, "right-password-16")
    await register(system, other, "other-password-16")
    threshold = system.settings.auth_failures_per_station
    async with connect(system.station_url(unique_station("BYSTANDER")), subprotocols=OCPP) as bystander:
        hashes_before = system.gateway.verifier.hashes
        statuses = [await attempt(system, target, f"guess-{i}") for i in range(threshold + 3)]
        assert [s for s, _ in statuses[:threshold]] == [401] * threshold
        throttled = statuses[threshold:]
        assert all(s == 429 and r is not None and int(r) >= 1 for s, r in throttled), throttled
        # Only the first `threshold` guesses were hashed; the 429s cost no PBKDF2 at all.
        assert system.gateway.verifier.hashes - hashes_before == threshold
        # Even the right password waits for the Retry-After once the station id is throttled.
        assert (await attempt(system, target, "right-password-16"))[0] == 429
        # The bystander is still answered, and a different station's correct password works.
        await boot_raw(bystander)
        await bystander.send('[2,"hb","Heartbeat",{}]')
        assert json.loads(await bystander.recv())[:2] == [3, "hb"]
    assert await attempt(system, other, "other-password-16") == (101, None)
