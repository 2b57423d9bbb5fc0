"""Password checks cannot stall the gateway (issue 12, ADR 0020).

Beyond ``auth_failures_per_station`` wrong passwords for one station within the window, the gateway
answers HTTP 429 with Retry-After *without hashing*; another station's correct password still works,
and a connected station keeps being answered throughout.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from shared.events.envelope import StationRegistration, encode
from shared.kafka import make_producer
from shared.security import hash_password
from tests.e2e.conftest import System, eventually, topics, unique_station
from tests.e2e.station import boot_raw
from tests.e2e.test_gateway import basic, register

pytestmark = pytest.mark.e2e
OCPP = [Subprotocol("ocpp1.6")]


async def attempt(
    system: System, station_id: str, password: str, open_timeout: float = 10.0
) -> tuple[int, str | None]:
    try:
        async with connect(
            system.station_url(station_id),
            subprotocols=OCPP,
            additional_headers=basic(station_id, password),
            open_timeout=open_timeout,
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


async def test_a_station_is_answered_while_a_password_is_being_hashed(system: System) -> None:
    """Issue 12 defect 4: PBKDF2 runs in the gateway's thread pool, not on its event loop. A stored
    hash of 4 million iterations keeps one check busy for seconds; a Heartbeat on another connection
    is answered while that check is still running."""
    slow = unique_station("SLOWHASH")
    producer = make_producer(system.settings.kafka_bootstrap, client_id="test")
    await producer.start()
    try:
        record = StationRegistration(
            station_id=slow, password_hash=hash_password("slow-password-16", iterations=4_000_000)
        )
        await producer.send_and_wait(topics(system).stations, encode(record), key=slow.encode())
    finally:
        await producer.stop()
    await eventually(lambda: system.gateway.registry.get(slow) is not None)
    async with connect(system.station_url(unique_station("BYSTANDER")), subprotocols=OCPP) as bystander:
        await boot_raw(bystander)
        hashes_before = system.gateway.verifier.hashes
        check = asyncio.create_task(attempt(system, slow, "slow-password-16", open_timeout=120))
        await eventually(lambda: system.gateway.verifier.hashes > hashes_before)  # the hash has begun
        await bystander.send('[2,"hb","Heartbeat",{}]')
        assert json.loads(await bystander.recv())[:2] == [3, "hb"]
        assert not check.done(), "the password check ended before the Heartbeat was answered"
        assert await check == (101, None)
