"""One bad input never stops a read model for every station (issue 12, ADR 0017/0018).

Values PostgreSQL cannot hold are refused at the edge with the precise CALLERROR (OCPP-J 4.2.3:
PropertyConstraintViolation for a value out of range) or 422; a record already in the log that the
database refuses (written by an older gateway) is dead-lettered with the reason, and the frames of
other stations after it are still applied.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from ocpp.v16 import call
from websockets.asyncio.client import connect

from shared.events.deadletters import DeadLetter, decode_dead_letter
from shared.events.envelope import Direction, FrameRecord, encode
from shared.events.topics import Topics
from tests.e2e.conftest import Api, System, unique_station
from tests.e2e.station import OCPP16, station

pytestmark = pytest.mark.e2e

BIG = 2**31  # one more than int32 can hold: not a connector (ADR 0017)
POISON_CALLS = [
    (
        "StatusNotification",
        {"connectorId": BIG, "errorCode": "NoError", "status": "Available"},
        "connectorId",
    ),
    (
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": "a\x00b"},
        "info",
    ),
    (
        "StartTransaction",
        {"connectorId": BIG, "idTag": "TAG1", "meterStart": 0, "timestamp": "2030-01-01T00:00:00Z"},
        "connectorId",
    ),
    ("BootNotification", {"chargePointVendor": "Ac\x00me", "chargePointModel": "M"}, "chargePointVendor"),
]


async def until_row(db: asyncpg.Pool, query: str, *args: Any) -> asyncpg.Record:
    async with asyncio.timeout(30):
        while True:
            row = await db.fetchrow(query, *args)
            if row is not None:
                return row
            await asyncio.sleep(0.1)


async def good_status(system: System, status: str) -> str:
    """Another station's valid StatusNotification, through the gateway; returns its id."""
    other = unique_station("GOOD")
    async with station(system.station_url(other)) as cp:
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status=status))
    return other


async def test_values_the_database_cannot_hold_are_refused_at_the_edge(
    system: System, db: asyncpg.Pool
) -> None:
    station_id = unique_station("POISON")  # unregistered: auto-registration admits it
    async with connect(system.station_url(station_id), subprotocols=OCPP16) as ws:
        for action, payload, field in POISON_CALLS:
            uid = uuid.uuid4().hex[:12]
            await ws.send(json.dumps([2, uid, action, payload]))
            answer = json.loads(await ws.recv())
            # OCPP-J 4.2.3: a syntactically valid payload that violates a property's constraint.
            assert answer[:3] == [4, uid, "PropertyConstraintViolation"], (action, answer)
            assert answer[4] == {"field": field}
    other = await good_status(system, "Faulted")
    row = await until_row(
        db,
        "SELECT status FROM connectors WHERE station_id = $1 AND connector_id = 1 AND status = 'Faulted'",
        other,
    )
    assert row["status"] == "Faulted"


async def test_api_refuses_nul_in_strings(api: Api) -> None:
    station_id = unique_station("APINUL")
    status, body = await api.put(f"/api/v1/stations/{station_id}", {"site": "site\x00one"})
    assert status == 422, body
    assert body["error"]["field"] == "site"
    assert "U+0000" in body["error"]["description"]
    status, body = await api.get(f"/api/v1/stations/{station_id}")
    assert status == 404, body  # nothing reached the registry


async def read_dead_letter(topics: Topics, settings_bootstrap: str, offset: int, topic: str) -> DeadLetter:
    """The dead letter of the stations projection for one source record, read from the topic."""
    consumer = AIOKafkaConsumer(
        topics.dead_letters, bootstrap_servers=settings_bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            while True:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for msg in records:
                        letter = decode_dead_letter(msg.value)
                        if (
                            letter.projection == "stations"
                            and letter.topic == topic
                            and letter.offset == offset
                        ):
                            return letter
    finally:
        await consumer.stop()


async def test_a_record_the_database_refuses_is_dead_lettered_and_the_others_applied(
    system: System, db: asyncpg.Pool
) -> None:
    topics = Topics(system.settings.topic_prefix, system.settings.frame_partitions)
    poisoned = unique_station("OLDLOG")
    # What a gateway before ADR 0017 wrote: a valid-looking BootNotification whose text holds U+0000,
    # which no jsonb column can hold (SQLSTATE 22P05).
    raw = json.dumps(
        [2, "b1", "BootNotification", {"chargePointVendor": "Ac\x00me", "chargePointModel": "M"}]
    )
    record = FrameRecord(
        v=1,  # an old gateway's record: no payload, upcast from raw when read
        station_id=poisoned,
        gateway_id="old-gateway",
        connection_id="c1",
        epoch=0,
        direction=Direction.IN,
        at_ms=int(time.time() * 1000),
        raw=raw,
        message_type=2,
        unique_id="b1",
        action="BootNotification",
    )
    producer = AIOKafkaProducer(bootstrap_servers=system.settings.kafka_bootstrap)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topics.frames, encode(record), key=poisoned.encode())
    finally:
        await producer.stop()
    other = await good_status(system, "Unavailable")
    row = await until_row(
        db,
        "SELECT status FROM connectors WHERE station_id = $1 AND connector_id = 1 AND status = 'Unavailable'",
        other,
    )
    assert row["status"] == "Unavailable"
    letter = await read_dead_letter(topics, system.settings.kafka_bootstrap, sent.offset, topics.frames)
    assert letter.partition == sent.partition
    assert letter.sqlstate == "22P05", letter.error
    assert letter.key == poisoned.encode()
    assert letter.value == encode(record)  # byte for byte: replayable
    assert await db.fetchval("SELECT boot FROM stations WHERE station_id = $1", poisoned) is None
