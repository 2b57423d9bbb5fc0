"""The baseline: the central system a Python developer would otherwise write.

One process, the `ocpp` package (mobilityhouse) over `websockets`, answering the same station
actions as the real system directly from memory: no Kafka, no database, no log. Run it with
``python -m bench.baseline_csms --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import websockets
from ocpp import routing
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.typing import Subprotocol

_ids = itertools.count(1)
_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def on(action: Action) -> Callable[[_Handler], _Handler]:
    """The `ocpp` package's @on, typed: the package has no annotations, so mypy sees an untyped decorator."""
    return cast("Callable[[_Handler], _Handler]", routing.on(action))


def now() -> str:
    return datetime.now(UTC).isoformat()


class CentralSystemSide(ChargePoint):  # type: ignore[misc]
    @on(Action.boot_notification)
    def on_boot(self, **_: Any) -> Any:
        return call_result.BootNotification(current_time=now(), interval=3600, status="Accepted")

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> Any:
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on(Action.start_transaction)
    def on_start_transaction(self, **_: Any) -> Any:
        return call_result.StartTransaction(transaction_id=next(_ids), id_tag_info={"status": "Accepted"})

    @on(Action.stop_transaction)
    def on_stop_transaction(self, **_: Any) -> Any:
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()


async def serve(port: int) -> None:
    async def handler(ws: Any) -> None:
        cp = CentralSystemSide(ws.request.path.rsplit("/", 1)[-1], ws)
        with contextlib.suppress(websockets.ConnectionClosed):
            await cp.start()

    async with websockets.serve(
        handler,
        "127.0.0.1",
        port,
        subprotocols=[Subprotocol("ocpp1.6")],
        compression=None,
        ping_interval=20,
        ping_timeout=20,
    ):
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    asyncio.run(serve(parser.parse_args().port))
