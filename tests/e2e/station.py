"""An independent OCPP 1.6 station for the tests: the `ocpp` package's ChargePoint over websockets.

Answers every Central System action with what the test configured (a call_result, a function of the
request, or an exception for a CALLERROR) and records what it received, so a test asserts on what
the station was actually sent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from ocpp.v16 import ChargePoint, call, call_result
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

# What a 1.6 station offers in its upgrade request (typed, for websockets' connect).
OCPP16 = [Subprotocol("ocpp1.6")]

DEFAULT_RESPONSES: dict[str, Any] = {
    "ChangeAvailability": call_result.ChangeAvailability(status="Accepted"),
    "ChangeConfiguration": call_result.ChangeConfiguration(status="Accepted"),
    "ClearCache": call_result.ClearCache(status="Accepted"),
    "DataTransfer": call_result.DataTransfer(status="Accepted", data="hello"),
    "GetConfiguration": call_result.GetConfiguration(
        configuration_key=[
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
        ],
        unknown_key=[],
    ),
    "RemoteStartTransaction": call_result.RemoteStartTransaction(status="Accepted"),
    "RemoteStopTransaction": call_result.RemoteStopTransaction(status="Accepted"),
    "Reset": call_result.Reset(status="Accepted"),
    "UnlockConnector": call_result.UnlockConnector(status="Unlocked"),
    "SetChargingProfile": call_result.SetChargingProfile(status="Accepted"),
    "ClearChargingProfile": call_result.ClearChargingProfile(status="Accepted"),
    "GetCompositeSchedule": call_result.GetCompositeSchedule(status="Rejected"),
}

Response = Any  # a call_result, a callable(request dict) -> call_result (maybe async), or an Exception


class TestStation(ChargePoint):  # type: ignore[misc]
    __test__ = False

    def __init__(self, station_id: str, ws: Any) -> None:
        super().__init__(station_id, ws)
        self.responses: dict[str, Response] = {}
        self.received: list[tuple[str, dict[str, Any]]] = []
        for action, response in DEFAULT_RESPONSES.items():
            self.answering(action, response)

    def _handler(self, action: str) -> Callable[..., Any]:
        async def handle(**request: Any) -> Any:
            self.received.append((action, request))
            response = self.responses[action]
            if isinstance(response, Exception):
                raise response
            if callable(response):
                response = response(request)
                if asyncio.iscoroutine(response):
                    response = await response
            return response

        return handle

    def answering(self, action: str, response: Response) -> None:
        """Answer ``action`` with ``response`` (an answer, an exception to raise, or a function of the
        request); the station routes only its defaults otherwise."""
        self.responses[action] = response
        self.route_map[action] = {"_on_action": self._handler(action), "_skip_schema_validation": False}

    def last(self, action: str) -> dict[str, Any]:
        return next(req for act, req in reversed(self.received) if act == action)

    async def boot(self) -> Any:
        return await self.call(call.BootNotification(charge_point_model="Sim-1", charge_point_vendor="Acme"))

    async def status(self, connector_id: int, status: str, at: datetime | None = None) -> Any:
        return await self.call(
            call.StatusNotification(
                connector_id=connector_id, error_code="NoError", status=status, timestamp=iso(at or now())
            )
        )


def now() -> datetime:
    return datetime.now(UTC)


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def basic_auth(station_id: str, password: str) -> str:
    """The Authorization header of HTTP Basic for a station (security profiles 1 and 2)."""
    return "Basic " + base64.b64encode(f"{station_id}:{password}".encode()).decode()


@contextlib.asynccontextmanager
async def station(
    url: str, *, boot: bool = True, tls: ssl.SSLContext | None = None, **headers: str
) -> AsyncIterator[TestStation]:
    """A connected (and by default booted) station; its id is the URL's last path segment. A wss
    URL needs ``tls``: the client's context (the CA it trusts, its certificate, versions, suites)."""
    station_id = unquote(url.rsplit("/", 1)[1])
    async with connect(
        url,
        subprotocols=OCPP16,
        additional_headers=headers or None,
        ssl=tls,
    ) as ws:
        cp = TestStation(station_id, ws)
        listener = asyncio.create_task(cp.start())
        try:
            if boot:
                await cp.boot()
            yield cp
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener


BOOT_FRAME = '[2,"boot","BootNotification",{"chargePointVendor":"Acme","chargePointModel":"Raw-1"}]'


async def boot_raw(ws: Any) -> None:
    """Boot a plain WebSocket station: CALLs before a boot get SecurityError (ADR 0013)."""
    await ws.send(BOOT_FRAME)
    answer = json.loads(await ws.recv())
    assert answer[:2] == [3, "boot"], answer
