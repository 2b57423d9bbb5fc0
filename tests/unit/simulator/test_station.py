"""The simulated station behaves like one connector of a real charge point: one transaction start
at a time. Driven over a loopback WebSocket by a bare server that holds the answer back."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.server import ServerConnection, serve

from services.simulator.metrics import Metrics
from services.simulator.station import CallFailed, SimStation


async def test_a_second_start_on_a_connector_waits_for_no_one_and_sends_nothing() -> None:
    """The open-loop load once sent two StartTransactions in one millisecond, identical in every
    field; the CSMS answered the second as a retry of the first (the same transaction id)."""
    starts: list[dict[str, object]] = []
    release = asyncio.Event()
    received = asyncio.Event()

    async def central_system(ws: ServerConnection) -> None:
        async for text in ws:
            _, unique_id, action, payload = json.loads(text)
            if action == "StartTransaction":
                starts.append(payload)
                received.set()
                await release.wait()
                answer = {"transactionId": 7, "idTagInfo": {"status": "Accepted"}}
                await ws.send(json.dumps([3, unique_id, answer]))

    async with serve(central_system, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        st = SimStation("S1", f"ws://127.0.0.1:{port}/ocpp", Metrics())
        await st.connect()
        try:
            first = asyncio.create_task(st.start_transaction(1, "TAG"))
            await asyncio.wait_for(received.wait(), 5)
            with pytest.raises(CallFailed, match="already in flight"):
                async with asyncio.timeout(5):  # before the fix it queued behind the first, unanswered
                    await st.start_transaction(1, "TAG")
            release.set()
            assert await first == 7
            assert len(starts) == 1
            assert st.connectors[1].transaction_id == 7
            assert not st.connectors[1].starting
        finally:
            await st.disconnect()
