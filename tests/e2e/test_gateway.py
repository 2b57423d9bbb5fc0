"""Gateway behaviour over real WebSockets and Kafka: handshake rules, replacement, keep-alive,
command routing with connection epochs, tracing across gateway and service, graceful shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
from typing import Any

import aiohttp
import msgspec
import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from opentelemetry.sdk.trace import ReadableSpan
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from services.gateway.app import Gateway
from shared.commands import CommandClient
from shared.events.commands import OutcomeStatus, SendCall
from shared.events.envelope import StationRegistration, encode
from shared.kafka import make_producer
from shared.security import hash_password
from tests.e2e.conftest import System, eventually, read_frames, topics, unique_station
from tests.e2e.station import OCPP16, basic_auth, boot_raw

pytestmark = pytest.mark.e2e


class Station(ChargePoint):  # type: ignore[misc]
    """An independent charge point (mobilityhouse ocpp) that answers the CSMS's calls."""

    answer_reset = True

    @on("Reset")  # type: ignore[untyped-decorator]
    def on_reset(self, type: str) -> call_result.Reset:
        return call_result.Reset(status="Accepted")

    @on("ClearCache")  # type: ignore[untyped-decorator]
    async def on_clear_cache(self) -> call_result.ClearCache:
        await asyncio.sleep(3600)  # never answers in time
        return call_result.ClearCache(status="Accepted")


async def register(system: System, station_id: str, password: str | None) -> None:
    producer = make_producer(system.settings.kafka_bootstrap, client_id="test")
    await producer.start()
    try:
        record = StationRegistration(
            station_id=station_id,
            password_hash=hash_password(password, iterations=1000) if password else None,
        )
        await producer.send_and_wait(topics(system).stations, encode(record), key=station_id.encode())
    finally:
        await producer.stop()
    await eventually(lambda: system.gateway.registry.get(station_id) is not None)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": basic_auth(user, password)}


async def status_of(url: str, **kwargs: Any) -> int:
    try:
        async with connect(url, **kwargs):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_subprotocol_ocpp16_is_required(system: System) -> None:
    # Without ocpp1.6 the upgrade completes and is closed at once: test_subprotocol_negotiation.py.
    url = system.station_url(unique_station())
    async with connect(url, subprotocols=[Subprotocol("ocpp2.0.1"), *OCPP16]) as ws:
        assert ws.subprotocol == "ocpp1.6"


async def test_basic_auth_username_must_be_the_station_and_password_must_match(system: System) -> None:
    station_id = unique_station("AUTH")
    await register(system, station_id, "s3cret-s3cret-16")
    url = system.station_url(station_id)
    sub: Any = {"subprotocols": ["ocpp1.6"]}
    assert await status_of(url, **sub) == 401
    assert await status_of(url, additional_headers=basic(station_id, "wrong"), **sub) == 401
    assert await status_of(url, additional_headers=basic("someone-else", "s3cret-s3cret-16"), **sub) == 401
    assert await status_of(url, additional_headers=basic(station_id, "s3cret-s3cret-16"), **sub) == 101
    records = await read_frames(system.settings, station_id, lambda r: len(r) >= 2)
    assert records[0]["type"] == "opened" and records[0]["authenticated"] is True


async def test_percent_encoded_identity_is_decoded(system: System) -> None:
    station_id = unique_station("RDAM ")  # contains a space
    url = system.station_url(station_id.replace(" ", "%20"))
    async with connect(url, subprotocols=OCPP16) as ws:
        cp = ChargePoint(station_id, ws)
        listener = asyncio.create_task(cp.start())
        await cp.call(call.Heartbeat())
        listener.cancel()
    records = await read_frames(system.settings, station_id, lambda r: len(r) >= 4)
    assert records[0]["station_id"] == station_id


async def test_unknown_station_gets_404_when_auto_registration_is_off(system: System) -> None:
    settings = dataclasses.replace(
        system.settings, auto_register=False, gateway_id=system.settings.gateway_id + "-b"
    )
    gateway = Gateway(settings)
    await gateway.start()
    try:
        known = unique_station("KNOWN")
        await register(system, known, None)
        await eventually(lambda: gateway.registry.get(known) is not None)
        base = f"ws://127.0.0.1:{gateway.port}/ocpp/"
        assert await status_of(base + unique_station("STRANGER"), subprotocols=["ocpp1.6"]) == 404
        assert await status_of(base + known, subprotocols=["ocpp1.6"]) == 101
        assert await status_of(f"ws://127.0.0.1:{gateway.port}/not-ocpp/x", subprotocols=["ocpp1.6"]) == 404
    finally:
        await gateway.stop()


async def test_second_connection_replaces_the_first(system: System) -> None:
    station_id = unique_station()
    url = system.station_url(station_id)
    async with connect(url, subprotocols=OCPP16) as first:
        # Booted on the first connection: its CALLs are served on the next one too (errata 3.8).
        await boot_raw(first)
        async with connect(url, subprotocols=OCPP16) as second:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(first.recv(), 10)
            assert first.close_code == 1000
            await second.send('[2,"hb","Heartbeat",{}]')
            answer = json.loads(await asyncio.wait_for(second.recv(), 10))
            assert answer[:2] == [3, "hb"]


async def test_frame_size_limit_closes_with_1009(system: System) -> None:
    async with connect(system.station_url(unique_station()), subprotocols=OCPP16, max_size=None) as ws:
        await ws.send('[2,"big","DataTransfer",{"vendorId":"x","data":"' + "x" * 70_000 + '"}]')
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1009


async def test_dead_station_is_found_by_ping_and_closed(system: System) -> None:
    settings = dataclasses.replace(
        system.settings, ping_interval=0.5, ping_timeout=0.5, gateway_id=system.settings.gateway_id + "-p"
    )
    gateway = Gateway(settings)
    await gateway.start()
    station_id = unique_station("DEAD")
    try:
        ws = await connect(
            f"ws://127.0.0.1:{gateway.port}/ocpp/{station_id}",
            subprotocols=OCPP16,
            ping_interval=None,
        )
        await eventually(lambda: station_id in gateway.connections)
        ws.transport.pause_reading()  # the station stops answering pings, like a dead TCP peer
        await eventually(lambda: station_id not in gateway.connections, timeout=10)
        records = await read_frames(settings, station_id, lambda r: len(r) >= 2)
        assert [r["type"] for r in records] == ["opened", "closed"]
        ws.transport.abort()
    finally:
        await gateway.stop()


async def test_command_reaches_the_station_and_its_answer_comes_back(
    system: System, commands: CommandClient
) -> None:
    station_id = unique_station()
    async with connect(system.station_url(station_id), subprotocols=OCPP16) as ws:
        cp = Station(station_id, ws)
        listener = asyncio.create_task(cp.start())
        await eventually(lambda: commands.where(station_id) is not None)
        outcome = await commands.call(station_id, "Reset", b'{"type":"Soft"}')
        assert outcome.status == OutcomeStatus.RESULT
        assert json.loads(bytes(outcome.payload)) == {"status": "Accepted"}
        # A station that does not answer: the gateway's call timeout (5 s in tests) ends the command.
        silent = await commands.call(station_id, "ClearCache", b"{}", timeout=15)
        assert silent.status == OutcomeStatus.TIMEOUT
        listener.cancel()
    records = await read_frames(system.settings, station_id, lambda r: any(x["type"] == "closed" for x in r))
    calls = [r for r in records if r["type"] == "frame" and r["direction"] == "out"]
    assert calls[0]["action"] == "Reset" and calls[0]["command_id"] == outcome.command_id
    replies = [
        r for r in records if r["type"] == "frame" and r["direction"] == "in" and r.get("action") == "Reset"
    ]
    assert replies and replies[0]["command_id"] == outcome.command_id


async def test_command_for_an_old_connection_is_dropped_and_reported(
    system: System, commands: CommandClient
) -> None:
    station_id = unique_station()
    url = system.station_url(station_id)
    async with connect(url, subprotocols=OCPP16):
        await eventually(lambda: commands.where(station_id) is not None)
        old = commands.where(station_id)
        assert old is not None
    async with connect(url, subprotocols=OCPP16) as ws:
        await eventually(lambda: (p := commands.where(station_id)) is not None and p.epoch > old.epoch)
        # A command addressed to the old epoch, as a slow API instance might still send it.
        producer = make_producer(system.settings.kafka_bootstrap, client_id="test")
        await producer.start()
        stale = SendCall(
            command_id="stale-1",
            station_id=station_id,
            epoch=old.epoch,
            action="Reset",
            payload=msgspec.Raw(b'{"type":"Hard"}'),
            reply_to=commands.replies_topic,
            deadline_ms=2**62,
        )
        future = asyncio.get_running_loop().create_future()
        commands._waiting["stale-1"] = future
        await producer.send_and_wait(
            topics(system).gateway_inbox(old.gateway_id), encode(stale), key=station_id.encode()
        )
        await producer.stop()
        outcome = await asyncio.wait_for(future, 15)
        assert outcome.status == OutcomeStatus.UNDELIVERABLE
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 1)  # the new connection never saw it
    records = await read_frames(system.settings, station_id, lambda r: any(x["type"] == "dropped" for x in r))
    dropped = next(r for r in records if r["type"] == "dropped")
    assert dropped["command_id"] == "stale-1" and dropped["target_epoch"] == old.epoch


async def test_one_trace_spans_gateway_and_service(system: System) -> None:
    station_id = unique_station()
    async with connect(system.station_url(station_id), subprotocols=OCPP16) as ws:
        cp = ChargePoint(station_id, ws)
        listener = asyncio.create_task(cp.start())
        await cp.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        listener.cancel()

    def boot_trace() -> list[ReadableSpan]:
        """The finished spans of this station's boot trace; the receive span ends once the publish
        is acknowledged, which may be after the answer reached the station: poll for them."""
        spans = system.spans.get_finished_spans()
        receive = [
            s
            for s in spans
            if s.name == "ocpp.receive BootNotification"
            and s.attributes
            and s.attributes.get("ocpp.station_id") == station_id
        ]
        if not receive:
            return []
        trace_id = receive[-1].context.trace_id
        return [s for s in spans if s.context.trace_id == trace_id]

    wanted = {"ocpp.receive BootNotification", "decide BootNotification", "ocpp.reply BootNotification"}
    await eventually(lambda: wanted <= {s.name for s in boot_trace()})
    decide = next(s for s in boot_trace() if s.name == "decide BootNotification")
    assert decide.resource is not None


async def test_sigterm_closes_stations_with_1001_and_exits_cleanly(system: System) -> None:
    env = {
        **os.environ,
        "CSMS_GATEWAY_PORT": "0",  # the port it got is in the line it prints: no port race
        # The wss listener too: on a port of its own, the session's certificates (not ~/.cache).
        "CSMS_GATEWAY_TLS_PORT": "0",
        "CSMS_TLS_DIR": system.settings.tls_dir,
        "CSMS_GATEWAY_ID": f"{system.settings.gateway_id}-sig",
        "CSMS_KAFKA_BOOTSTRAP": system.settings.kafka_bootstrap,
        "CSMS_TOPIC_PREFIX": system.settings.topic_prefix,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "gateway", env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert b"ws://" in line
        port = int(line.split(b"ws://", 1)[1].split(b"/", 1)[0].rsplit(b":", 1)[1])
        async with connect(f"ws://127.0.0.1:{port}/ocpp/{unique_station()}", subprotocols=OCPP16) as ws:
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 15)
            assert ws.close_code == 1001
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()


async def test_health_says_the_log_takes_writes_and_bypasses_admission(system: System) -> None:
    """GET /health on the station port (ADR 0023): 200 with the log's state while Kafka acknowledges;
    the two-broker fault test sees the 503 (tests/faults/test_broker_faults.py)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{system.gateway.port}/health") as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        body = await resp.json()
    assert body["status"] == "ok"
    assert body["log"] == {
        "available": True,
        "downForSeconds": 0,
        "refusedWrites": 0,
        "unloggedQueued": 0,
        "unloggedDropped": 0,
    }
    assert body["connections"] >= 0
