"""What the system sends a station in each registration status (OCPP 1.6 section 4.2), and that a
command always reaches the station's newest connection (issue 11.3 and 11.8).

- Pending: "the following Central System initiated messages are not allowed: RemoteStartTransaction.req
  and RemoteStopTransaction.req": 409 StationPending, nothing sent; any other command goes out.
- Rejected: "the Charge Point SHALL NOT respond to any Central System initiated message": 409
  StationRejected at once, nothing sent, instead of waiting for a timeout.
- The status is the answer to the station's last BootNotification: it holds across a reconnect
  without a new boot, and a boot answered Accepted ends it.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from ocpp.exceptions import SecurityError
from ocpp.v16 import call
from websockets.asyncio.client import connect

from shared.commands import CommandClient
from shared.events.commands import OutcomeStatus
from tests.e2e.conftest import Api, System, eventually, unique_station
from tests.e2e.station import OCPP16, TestStation, station

pytestmark = pytest.mark.e2e


async def command(api: Api, station_id: str, action: str, payload: object) -> tuple[int, dict[str, Any]]:
    code, body = await api.post(f"/api/v1/stations/{station_id}/commands/{action}", payload)
    return code, body


async def test_pending_station_gets_no_remote_start_or_stop_but_other_commands(
    system: System, api: Api
) -> None:
    station_id = unique_station()
    assert (await api.put(f"/api/v1/stations/{station_id}", {"bootStatus": "Pending"}))[0] == 201
    async with station(system.station_url(station_id), boot=False) as cp:
        assert (await cp.boot()).status == "Pending"
        code, body = await command(api, station_id, "RemoteStartTransaction", {"idTag": "T1"})
        assert code == 409 and body["error"]["code"] == "StationPending", body
        assert "section 4.2" in body["error"]["description"]
        code, body = await command(api, station_id, "RemoteStopTransaction", {"transactionId": 1})
        assert code == 409 and body["error"]["code"] == "StationPending", body
        # "The Central System MAY send request messages to retrieve information ... or change its
        # configuration": those go out while Pending.
        code, body = await command(api, station_id, "GetConfiguration", {})
        assert code == 200, body
        assert [action for action, _ in cp.received] == ["GetConfiguration"]

        # Accepted by the operator, the station boots again: now it may be remote-started.
        assert (await api.put(f"/api/v1/stations/{station_id}", {"bootStatus": "Accepted"}))[0] == 200
        assert (await cp.boot()).status == "Accepted"
        code, body = await command(api, station_id, "RemoteStartTransaction", {"idTag": "T1"})
        assert (code, body) == (200, {"response": {"status": "Accepted"}})
        assert [action for action, _ in cp.received] == ["GetConfiguration", "RemoteStartTransaction"]


async def test_rejected_station_is_sent_nothing_and_the_api_says_so_at_once(system: System, api: Api) -> None:
    station_id = unique_station()
    assert (await api.put(f"/api/v1/stations/{station_id}", {"bootStatus": "Rejected"}))[0] == 201
    async with station(system.station_url(station_id), boot=False) as cp:
        assert (await cp.boot()).status == "Rejected"
        for action, payload in [("GetConfiguration", {}), ("Reset", {"type": "Soft"})]:
            # ?timeout is far longer than a test waits: a 409 proves nobody waited for an answer.
            code, body = await api.post(
                f"/api/v1/stations/{station_id}/commands/{action}", payload, timeout="300"
            )
            assert code == 409 and body["error"]["code"] == "StationRejected", body
    assert cp.received == []


async def test_status_holds_across_a_reconnect_without_boot(system: System, api: Api) -> None:
    station_id = unique_station()
    assert (await api.put(f"/api/v1/stations/{station_id}", {"bootStatus": "Pending"}))[0] == 201
    async with station(system.station_url(station_id), boot=False) as cp:
        assert (await cp.boot()).status == "Pending"
    async with station(system.station_url(station_id), boot=False) as cp:  # reconnects, no boot
        code, body = await command(api, station_id, "RemoteStartTransaction", {"idTag": "T1"})
        assert code == 409 and body["error"]["code"] == "StationPending", body
        assert cp.received == []


async def test_a_command_right_after_a_reconnect_reaches_the_new_connection(system: System, api: Api) -> None:
    """Same station id, a newer connection: the command goes to it, never 409 "connection replaced"."""
    station_id = unique_station()
    async with station(system.station_url(station_id)) as first:
        for _ in range(5):
            async with station(system.station_url(station_id), boot=False) as newer:
                code, body = await command(api, station_id, "ClearCache", {})
                assert (code, body) == (200, {"response": {"status": "Accepted"}})
                assert [action for action, _ in newer.received] == ["ClearCache"]
        assert first.received == []


async def test_a_command_dropped_for_a_replaced_connection_goes_to_the_newer_one(
    system: System, commands: CommandClient
) -> None:
    """The moment the presence changes: a command addressed to the old connection is dropped unsent
    by the gateway (never_sent) and sent again to the newer connection within its deadline."""
    station_id = unique_station()
    async with station(system.station_url(station_id)):
        await commands.presence.wait_for_end()
        old = commands.where(station_id)
        assert old is not None
        async with connect(system.station_url(station_id), subprotocols=OCPP16) as ws:
            newer = TestStation(station_id, ws)
            listener = asyncio.create_task(newer.start())
            try:
                await eventually(lambda: (commands.where(station_id) or old).epoch > old.epoch)
                dropped = await commands._send(old, "ClearCache", b"{}", time.monotonic() + 10)
                assert dropped.status is OutcomeStatus.UNDELIVERABLE and dropped.never_sent, dropped
                outcome = await commands.call(station_id, "ClearCache", b"{}", timeout=10)
                assert outcome.status is OutcomeStatus.RESULT, outcome
                assert [action for action, _ in newer.received] == ["ClearCache"]
            finally:
                listener.cancel()


async def test_station_calls_before_the_station_is_accepted_get_security_error(
    system: System, api: Api
) -> None:
    """OCPP-J errata 3.8: CALLs other than BootNotification before the Charge Point is accepted get
    SecurityError (ADR 0013); once Accepted, also on a later connection without a new boot, they
    are served; a Pending station may send what a TriggerMessage can ask for."""
    station_id = unique_station()
    url = system.station_url(station_id)
    heartbeat = '[2,"hb","Heartbeat",{}]'
    authorize = '[2,"au","Authorize",{"idTag":"T1"}]'
    async with connect(url, subprotocols=OCPP16) as ws:
        for frame, message_id in ((heartbeat, "hb"), (authorize, "au")):
            await ws.send(frame)
            answer = json.loads(await ws.recv())
            assert answer[:3] == [4, message_id, "SecurityError"], answer
    # It was registered when it connected (auto-registration): now the operator makes it Pending.
    assert (await api.put(f"/api/v1/stations/{station_id}", {"bootStatus": "Pending"}))[0] == 200
    async with station(url, boot=False) as cp:
        assert (await cp.boot()).status == "Pending"
        await cp.call(call.Heartbeat())  # triggerable: served while Pending
        with pytest.raises(SecurityError):
            await cp.call(call.Authorize(id_tag="T1"), suppress=False)
        assert (await api.put(f"/api/v1/stations/{station_id}", {"bootStatus": "Accepted"}))[0] == 200
        assert (await cp.boot()).status == "Accepted"
    async with station(url, boot=False) as cp:  # reconnects without booting: still accepted
        assert (await cp.call(call.Authorize(id_tag="T1"))).id_tag_info["status"] == "Invalid"  # unknown tag
