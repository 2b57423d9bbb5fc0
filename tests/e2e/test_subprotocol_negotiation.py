"""Subprotocol negotiation (issue 11, OCPP-J 1.6 section 3.2, ADR 0019).

A client that offers no subprotocol we speak gets a completed handshake *without*
``Sec-WebSocket-Protocol``, then an immediate close (1002), and the attempt is recorded in
``ocpp.frames`` as a ``refused`` record with what it offered.
"""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.e2e.conftest import System, read_frames, unique_station
from tests.e2e.station import boot_raw

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("offered", [["ocpp2.0"], ["ocpp2.0", "ocpp1.5"], []])
async def test_unsupported_or_missing_subprotocol_is_upgraded_then_closed(
    system: System, offered: list[str]
) -> None:
    station_id = unique_station("SUBP")
    async with connect(
        system.station_url(station_id), subprotocols=[Subprotocol(p) for p in offered] or None
    ) as ws:
        assert ws.response is not None and ws.response.status_code == 101
        assert "Sec-WebSocket-Protocol" not in ws.response.headers
        assert ws.subprotocol is None
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002

    records = await read_frames(system.settings, station_id, lambda r: any(x["type"] == "refused" for x in r))
    refused = next(r for r in records if r["type"] == "refused")
    assert refused.get("offered", []) == offered
    assert refused["code"] == 1002
    # Never an `opened`: the station was not connected, so presence and projections ignore it.
    assert not any(r["type"] in ("opened", "frame") for r in records)


async def test_ocpp16_among_others_is_selected(system: System) -> None:
    station_id = unique_station("SUBQ")
    offered = [Subprotocol("ocpp0.1"), Subprotocol("ocpp1.6")]
    async with connect(system.station_url(station_id), subprotocols=offered) as ws:
        assert ws.response is not None and ws.response.headers["Sec-WebSocket-Protocol"] == "ocpp1.6"
        await boot_raw(ws)
        await ws.send('[2,"hb","Heartbeat",{}]')
        reply = await ws.recv()
        assert isinstance(reply, str) and reply.startswith('[3,"hb"')
