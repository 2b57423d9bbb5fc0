"""OCTT Reservation cases for a Central System (TC_046..053), end to end with the `ocpp` client.

The reservations service runs here under the test's control (not in the session's system), so one
test can stop it, let a reservation run out while it is down, and start it again. The transactions
service of the session follows ``reservations.events`` as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from ocpp.v16 import call, call_result

from services.reservations import main as reservations
from shared.events.topics import Topics
from shared.service import FrameServiceRunner, run_until
from tests.e2e.conftest import Api, System, unique_station
from tests.e2e.station import TestStation, iso, now, station

pytestmark = pytest.mark.e2e


class ReservationsProcess:
    """The reservations deployable (decider + read model), startable and stoppable by a test."""

    def __init__(self, system: System) -> None:
        self.system = system
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop = asyncio.Event()
        runners = reservations.runners(self.system.settings)
        self._task = asyncio.create_task(run_until(runners, self._stop))
        deciders = [r for r in runners if isinstance(r, FrameServiceRunner)]
        async with asyncio.timeout(60):
            while not all(len(r.assigned) == self.system.settings.frame_partitions for r in deciders):
                assert not self._task.done(), self._task
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 15)


@pytest.fixture(scope="module")
async def service(system: System, db: asyncpg.Pool) -> AsyncIterator[ReservationsProcess]:
    process = ReservationsProcess(system)
    await process.start()
    yield process
    await caught_up(system, db)  # later modules (the replay test) compare against this read model
    await process.stop()


async def caught_up(system: System, db: asyncpg.Pool) -> None:
    """Wait until the reservations read model has applied everything in reservations.events."""
    topic = Topics(system.settings.topic_prefix, system.settings.frame_partitions).domain("reservations")
    consumer = AIOKafkaConsumer(bootstrap_servers=system.settings.kafka_bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(system.settings.frame_partitions)]
        ends = {tp.partition: end for tp, end in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()

    async def applied() -> dict[int, int]:
        rows = await db.fetch(
            "SELECT partition, next_offset FROM projection_offsets WHERE projection = 'reservations'"
        )
        return {r["partition"]: r["next_offset"] for r in rows}

    async with asyncio.timeout(20):
        while True:
            done = await applied()
            if all(done.get(p, 0) >= end for p, end in ends.items()):
                return
            await asyncio.sleep(0.1)  # another task's progress, in PostgreSQL


async def tag(api: Api, id_tag: str, status: str = "Accepted", **extra: Any) -> None:
    code, body = await api.put(f"/api/v1/id-tags/{id_tag}", {"status": status, **extra})
    assert code in (200, 201), body


def new_tag(prefix: str = "T") -> str:
    return unique_station(prefix)[:20]


async def reserve(
    api: Api,
    station_id: str,
    connector_id: int,
    id_tag: str,
    seconds: float = 600,
    expiry_date: datetime | None = None,
    **extra: Any,
) -> tuple[int, Any]:
    body = {
        "stationId": station_id,
        "connectorId": connector_id,
        "idTag": id_tag,
        "expiryDate": iso(expiry_date or now() + timedelta(seconds=seconds)),
        **extra,
    }
    return await api.post("/api/v1/reservations", body)


async def reservation(api: Api, rid: int, status: str, timeout: float = 20.0) -> Any:
    return await api.until(f"/api/v1/reservations/{rid}", lambda b: b["status"] == status, timeout)


async def start(cp: TestStation, connector_id: int, id_tag: str, **extra: Any) -> Any:
    return await cp.call(
        call.StartTransaction(
            connector_id=connector_id, id_tag=id_tag, meter_start=0, timestamp=iso(now()), **extra
        )
    )


async def test_reservation_used_by_its_transaction_and_wrong_tag_refused(
    system: System, api: Api, service: ReservationsProcess
) -> None:
    """TC_046: ReserveNow -> Accepted, Reserved; only the reserved tag starts there and uses it."""
    station_id, owner, other = unique_station(), new_tag("O"), new_tag("W")
    await tag(api, owner)
    await tag(api, other)
    async with station(system.station_url(station_id)) as cp:
        cp.answering("ReserveNow", call_result.ReserveNow(status="Accepted"))
        code, body = await reserve(api, station_id, 1, owner)
        assert code == 201, body
        assert body["status"] == "active" and body["answer"] == "Accepted"
        rid = body["reservationId"]
        sent = cp.last("ReserveNow")
        assert sent["connector_id"] == 1 and sent["id_tag"] == owner and sent["reservation_id"] == rid
        assert "parent_id_tag" not in sent and sent["expiry_date"] == body["expiryDate"].replace(
            "+00:00", "Z"
        )
        code, second = await reserve(api, station_id, 2, owner)
        assert code == 201 and second["reservationId"] != rid and 0 < rid < 2**31
        await cp.status(1, "Reserved")
        await reservation(api, rid, "active")
        # Another tag may not start on the reserved connector...
        refused = await start(cp, 1, other)
        assert refused.id_tag_info["status"] == "Invalid"
        await cp.call(
            call.StopTransaction(meter_stop=0, timestamp=iso(now()), transaction_id=refused.transaction_id)
        )
        # ...but may elsewhere, and the reservation is still active.
        elsewhere = await start(cp, 3, other)
        assert elsewhere.id_tag_info["status"] == "Accepted"
        assert (await api.get(f"/api/v1/reservations/{rid}"))[1]["status"] == "active"
        await cp.status(1, "Preparing")
        started = await start(cp, 1, owner, reservation_id=rid)
        assert started.id_tag_info["status"] == "Accepted"
        used = await reservation(api, rid, "used")
        assert used["usedConnectorId"] == 1 and used["usedIdTag"] == owner
        assert "reservationId" in used["endReason"]
        tx = await api.until(f"/api/v1/transactions/{started.transaction_id}", lambda b: True)
        assert tx["reservationId"] == rid
        code, mine = await api.get("/api/v1/reservations", stationId=station_id, status="used")
        assert code == 200 and [r["reservationId"] for r in mine["reservations"]] == [rid]
        code, active = await api.get("/api/v1/reservations", stationId=station_id, status="active")
        assert [r["reservationId"] for r in active["reservations"]] == [second["reservationId"]]


async def test_reservation_expires_at_its_expiry_date(
    system: System, api: Api, service: ReservationsProcess
) -> None:
    """TC_047: the service expires it itself; afterwards the connector is free for anyone.

    The reservation lives for ``life`` seconds: long enough for a slow machine to answer the refused
    start inside it (checked, as the refusal only means something before expiryDate)."""
    life = 8.0
    station_id, owner, other = unique_station(), new_tag("O"), new_tag("W")
    await tag(api, owner)
    await tag(api, other)
    async with station(system.station_url(station_id)) as cp:
        cp.answering("ReserveNow", call_result.ReserveNow(status="Accepted"))
        expiry = now() + timedelta(seconds=life)
        code, body = await reserve(api, station_id, 1, owner, expiry_date=expiry)
        assert code == 201, body
        rid = body["reservationId"]
        await cp.status(1, "Reserved")
        refused = await start(cp, 1, other)
        assert now() < expiry, "the start was answered after expiryDate: the test's window is too short"
        assert refused.id_tag_info["status"] == "Invalid"
        expired = await reservation(api, rid, "expired", timeout=life + 10)
        assert expired["endReason"] == "expiryDate passed"
        assert expired["endedAt"] == expired["expiryDate"]
        await cp.status(1, "Available")
        assert (await start(cp, 1, other)).id_tag_info["status"] == "Accepted"
        assert (await api.get(f"/api/v1/reservations/{rid}"))[1]["status"] == "expired"


@pytest.mark.parametrize("answer", ["Faulted", "Occupied", "Unavailable", "Rejected"])
async def test_reservation_refused_by_the_station_is_recorded_and_holds_nothing(
    system: System, api: Api, service: ReservationsProcess, answer: str
) -> None:
    """TC_048_1..4: the station's answer is recorded; no reservation holds the connector."""
    station_id, owner, other = unique_station(), new_tag("O"), new_tag("W")
    await tag(api, owner)
    await tag(api, other)
    async with station(system.station_url(station_id)) as cp:
        cp.answering("ReserveNow", call_result.ReserveNow(status=answer))
        if answer == "Unavailable":  # TC_048_3: the operator made the connector Inoperative first
            code, _ = await api.post(
                f"/api/v1/stations/{station_id}/commands/ChangeAvailability",
                {"connectorId": 1, "type": "Inoperative"},
            )
            assert code == 200
            await cp.status(1, "Unavailable")
        if answer == "Occupied":
            await cp.status(1, "Preparing")
        code, body = await reserve(api, station_id, 1, owner)
        assert code == 201 and body["answer"] == answer and body["status"] == answer.lower()
        row = await reservation(api, body["reservationId"], answer.lower())
        assert row["reserveAnswer"] == answer
        assert (await start(cp, 1, other)).id_tag_info["status"] == "Accepted"


async def test_reservation_of_the_whole_station(
    system: System, api: Api, service: ReservationsProcess
) -> None:
    """TC_049: connectorId 0; any connector the reserved tag starts on uses it."""
    station_id, owner, other = unique_station(), new_tag("O"), new_tag("W")
    await tag(api, owner)
    await tag(api, other)
    async with station(system.station_url(station_id)) as cp:
        cp.answering("ReserveNow", call_result.ReserveNow(status="Accepted"))
        code, body = await reserve(api, station_id, 0, owner)
        assert code == 201 and body["status"] == "active" and cp.last("ReserveNow")["connector_id"] == 0
        rid = body["reservationId"]
        await cp.status(0, "Reserved")
        await reservation(api, rid, "active")
        # The station keeps a connector free itself; the central system does not block other tags.
        assert (await start(cp, 1, other)).id_tag_info["status"] == "Accepted"
        assert (await start(cp, 2, owner)).id_tag_info["status"] == "Accepted"
        used = await reservation(api, rid, "used")
        assert used["usedConnectorId"] == 2 and used["connectorId"] == 0


async def test_connector_zero_refused_when_the_station_said_it_cannot(
    system: System, api: Api, service: ReservationsProcess
) -> None:
    station_id = unique_station()
    async with station(system.station_url(station_id)) as cp:
        cp.responses["GetConfiguration"] = call_result.GetConfiguration(
            configuration_key=[{"key": "ReserveConnectorZeroSupported", "readonly": True, "value": "false"}]
        )
        code, _ = await api.post(f"/api/v1/stations/{station_id}/commands/GetConfiguration", {})
        assert code == 200
        await api.until(f"/api/v1/stations/{station_id}/configuration", lambda b: bool(b["configuration"]))
        cp.answering("ReserveNow", call_result.ReserveNow(status="Accepted"))
        code, body = await reserve(api, station_id, 0, new_tag())
        assert code == 409 and body["error"]["code"] == "ConnectorZeroNotSupported"
        assert not any(action == "ReserveNow" for action, _ in cp.received)


async def test_cancel_reservation_accepted_and_rejected(
    system: System, api: Api, service: ReservationsProcess
) -> None:
    """TC_051 (Accepted: cancelled, the connector is free) and TC_052 (Rejected is reported)."""
    station_id, owner, other = unique_station(), new_tag("O"), new_tag("W")
    await tag(api, owner)
    await tag(api, other)
    async with station(system.station_url(station_id)) as cp:
        cp.answering("ReserveNow", call_result.ReserveNow(status="Accepted"))
        cp.answering("CancelReservation", call_result.CancelReservation(status="Accepted"))
        rid = (await reserve(api, station_id, 1, owner))[1]["reservationId"]
        await cp.status(1, "Reserved")
        await reservation(api, rid, "active")
        code, body = await api.post(f"/api/v1/reservations/{rid}/cancel", None)
        assert code == 200 and body["answer"] == "Accepted"
        assert cp.last("CancelReservation") == {"reservation_id": rid}
        await cp.status(1, "Available")
        cancelled = await reservation(api, rid, "cancelled")
        assert cancelled["cancelAnswer"] == "Accepted"
        assert (await start(cp, 1, other)).id_tag_info["status"] == "Accepted"
        code, body = await api.post(f"/api/v1/reservations/{rid}/cancel", None)
        assert code == 409 and body["error"]["code"] == "ReservationNotActive"

        cp.answering("CancelReservation", call_result.CancelReservation(status="Rejected"))
        rid2 = (await reserve(api, station_id, 2, owner))[1]["reservationId"]
        await reservation(api, rid2, "active")
        code, body = await api.post(f"/api/v1/reservations/{rid2}/cancel", None)
        assert code == 200 and body["answer"] == "Rejected"
        row = await api.until(f"/api/v1/reservations/{rid2}", lambda b: b["cancelAnswer"] == "Rejected")
        assert row["status"] == "active"


async def test_reserved_connector_used_by_a_tag_of_the_same_group(
    system: System, api: Api, service: ReservationsProcess
) -> None:
    """TC_053: ReserveNow with parentIdTag; another tag of that group starts: Accepted, used."""
    station_id, group, owner, sibling, stranger = unique_station(), *(new_tag(p) for p in "GOSX")
    await tag(api, group)
    await tag(api, owner, parentIdTag=group)
    await tag(api, sibling, parentIdTag=group)
    await tag(api, stranger)
    async with station(system.station_url(station_id)) as cp:
        cp.answering("ReserveNow", call_result.ReserveNow(status="Accepted"))
        code, body = await reserve(api, station_id, 1, owner, parentIdTag=group)
        assert code == 201, body
        rid = body["reservationId"]
        assert cp.last("ReserveNow")["parent_id_tag"] == group
        await cp.status(1, "Reserved")
        await reservation(api, rid, "active")
        assert (await start(cp, 1, stranger)).id_tag_info["status"] == "Invalid"
        authorized = await cp.call(call.Authorize(id_tag=sibling))
        assert authorized.id_tag_info == {"status": "Accepted", "parent_id_tag": group}
        started = await start(cp, 1, sibling, reservation_id=rid)
        assert started.id_tag_info == {"status": "Accepted", "parent_id_tag": group}
        used = await reservation(api, rid, "used")
        assert used["usedIdTag"] == sibling


async def test_reservation_expires_across_a_service_restart(
    system: System, api: Api, service: ReservationsProcess
) -> None:
    """Down while expiryDate passes: the restarted service rebuilds from the log and expires it."""
    station_id, owner = unique_station(), new_tag("O")
    await tag(api, owner)
    async with station(system.station_url(station_id)) as cp:
        cp.answering("ReserveNow", call_result.ReserveNow(status="Accepted"))
        expiry = now() + timedelta(seconds=8)
        code, body = await reserve(api, station_id, 1, owner, expiry_date=expiry)
        assert code == 201, body
        rid = body["reservationId"]
        await reservation(api, rid, "active")
        assert now() < expiry, "active only after expiryDate: the test's window is too short"
        await service.stop()
        try:
            await asyncio.sleep((expiry - now()).total_seconds() + 1)  # expiryDate passes while it is down
            assert (await api.get(f"/api/v1/reservations/{rid}"))[1]["status"] == "active"
        finally:
            await service.start()
        expired = await reservation(api, rid, "expired", timeout=15)
        assert expired["endReason"] == "expiryDate passed"


async def test_reservation_requests_are_validated(
    system: System, api: Api, service: ReservationsProcess
) -> None:
    station_id = unique_station()
    code, body = await reserve(api, station_id, 1, new_tag(), seconds=-5)
    assert code == 422 and body["error"]["field"] == "expiryDate"
    code, body = await reserve(api, station_id, -1, new_tag())
    assert code == 422 and body["error"]["field"] == "connectorId"
    code, body = await reserve(api, station_id, 1, "x" * 21)
    assert code == 422 and body["error"]["field"] == "idTag"
    code, body = await api.post("/api/v1/reservations", {"stationId": station_id, "connectorId": 1})
    assert code == 422
    code, body = await reserve(api, station_id, 1, new_tag())
    assert code == 404 and body["error"]["code"] == "UnknownStation"
    async with station(system.station_url(station_id)):
        pass
    await api.until(f"/api/v1/stations/{station_id}", lambda b: b["connected"] is False)
    code, body = await reserve(api, station_id, 1, new_tag())
    assert code == 409 and body["error"]["code"] == "NotConnected"
    code, body = await api.post("/api/v1/reservations/2147483000/cancel", None)
    assert code == 404 and body["error"]["code"] == "UnknownReservation"
    code, body = await api.get("/api/v1/reservations/abc")
    assert code == 400
    code, body = await api.get("/api/v1/reservations", status="maybe")
    assert code == 400 and body["error"]["code"] == "InvalidQuery"
