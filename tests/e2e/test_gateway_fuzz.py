"""A bounded network fuzzer against the running gateway (issue 12): no frame a station sends can
crash, hang or silence it, and every frame it receives is in ``ocpp.frames``.

The named seeds of tests/fuzz/corpus.py are sent as they are, then mutations of them drawn from a
seeded generator (the seed is in the test id, so a failure replays exactly). After every frame a
Heartbeat probe must be answered on the same connection: the session is still alive and in step. At
the end the log must hold every frame as received (OCPP-J 1.6 section 4; binary frames as their
UTF-8 reading, with replacement characters).
"""

from __future__ import annotations

import asyncio
import random

import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.conftest import System, read_frames, unique_station
from tests.e2e.station import BOOT_FRAME, OCPP16, boot_raw
from tests.fuzz.corpus import SEEDS

pytestmark = pytest.mark.e2e

MUTATIONS = 150
ALPHABET = '[]{}",:0123456789-.eE \\tnull truefalse"\u0000\u00e9\u2028\U0001f600'


def mutate(rng: random.Random, text: str) -> str:
    """One of the ways a frame goes wrong on the wire: cut, stray characters, odd numbers, repeats."""
    if not text:
        return rng.choice(ALPHABET)
    op = rng.randrange(6)
    at = rng.randrange(len(text) + 1)
    if op == 0:
        return text[:at]
    if op == 1:
        return text[:at] + "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 4))) + text[at:]
    if op == 2:
        return text[:at] + str(rng.choice([2**31, 2**63, -(2**63) - 1, 10**30, 0.1, -0.0])) + text[at:]
    if op == 3:
        end = rng.randint(at, len(text))
        return text[:at] + text[at:end] * rng.randint(2, 5) + text[end:]
    if op == 4:
        return f"[{rng.randint(-2, 10)}" + text[text.find(",") :] if "," in text else text
    return text[:at] + text[at + 1 :]


def frames(seed: int) -> list[str | bytes]:
    rng = random.Random(seed)
    texts = [s for s in SEEDS.values() if isinstance(s, str)]
    return [*SEEDS.values(), *(mutate(rng, rng.choice(texts)) for _ in range(MUTATIONS))]


async def probe(ws: ClientConnection, n: int) -> None:
    """A Heartbeat must be answered (CALLRESULT, or a CALLERROR when the session is busy)."""
    probe_id = f"probe-{n}"
    await ws.send(f'[2,"{probe_id}","Heartbeat",{{}}]')
    async with asyncio.timeout(30):  # the gateway's own reply timeout is 10 s here
        while True:
            reply = msgspec.json.decode(await ws.recv())
            if isinstance(reply, list) and len(reply) >= 2 and reply[0] in (3, 4) and reply[1] == probe_id:
                return


@pytest.mark.parametrize("seed", [20261202])
async def test_no_frame_silences_the_gateway_and_every_frame_is_logged(system: System, seed: int) -> None:
    station_id = unique_station("FUZZ")
    sent: list[str] = []
    async with connect(system.station_url(station_id), subprotocols=OCPP16, max_size=None) as ws:
        await boot_raw(ws)
        sent.append(BOOT_FRAME)
        for n, frame in enumerate(frames(seed)):
            await ws.send(frame)
            sent.append(frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame)
            await probe(ws, n)
            sent.append(f'[2,"probe-{n}","Heartbeat",{{}}]')
    logged = await read_frames(
        system.settings,
        station_id,
        lambda found: sum(1 for r in found if r.get("direction") == "in") >= len(sent),
    )
    assert [r["raw"] for r in logged if r.get("direction") == "in"] == sent
