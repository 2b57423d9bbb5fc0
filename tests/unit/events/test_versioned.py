"""The versioning mechanism: head, upcaster chain, current Struct; undecodable records are loud."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
import pytest
from aiokafka import ConsumerRecord, TopicPartition

from shared.config import Settings
from shared.events import undecodable
from shared.events.envelope import (
    NO_PAYLOAD,
    Direction,
    FrameRecord,
    StationRegistration,
    decode_frame_record,
    encode,
    registration_decoder,
)
from shared.events.frames import frame_of, station_request
from shared.events.topics import Topics
from shared.events.versioned import (
    Family,
    UndecodableRecord,
    UnknownRecordType,
    VersionedDecoder,
    read_head,
    version,
)
from shared.ocpp.frames import Call, CallError, CallResult
from shared.ocpp.v16.messages import HeartbeatRequest, MeterValuesRequest
from shared.service import FrameServiceRunner, Inbound, Output
from shared.tables import CompactedView


class Thing(msgspec.Struct, tag="thing", tag_field="type", kw_only=True, omit_defaults=True):
    """Version 3: ``name`` was ``title`` (v1), ``size`` was a string (v2)."""

    v: int = version(3)
    name: str
    size: int


class Other(msgspec.Struct, tag="other", tag_field="type", kw_only=True, omit_defaults=True):
    v: int = 1
    note: str = ""


def _rename(obj: dict[str, Any]) -> dict[str, Any]:
    obj["name"] = obj.pop("title")
    return obj


def _size_to_int(obj: dict[str, Any]) -> dict[str, Any]:
    obj["size"] = int(obj["size"])
    return obj


THINGS = Family("things", {("thing", 1): _rename, ("thing", 2): _size_to_int})
decoder: VersionedDecoder[Thing | Other] = VersionedDecoder(THINGS, Thing | Other)


def test_the_current_version_is_always_written() -> None:
    assert msgspec.json.encode(Thing(name="a", size=1)).startswith(b'{"type":"thing","v":3,')
    with pytest.raises(ValueError, match="version 1"):
        version(1)


def test_every_version_decodes_into_the_current_struct() -> None:
    current = Thing(name="a", size=5)
    assert decoder.decode(b'{"type":"thing","title":"a","size":"5"}') == current  # v1: no "v"
    assert decoder.decode(b'{"type":"thing","v":2,"name":"a","size":"5"}') == current
    assert decoder.decode(b'{"type":"thing","v":3,"name":"a","size":5}') == current
    # Another writer's spelling of a current record takes the slow path, to the same value.
    assert decoder.decode(b'{ "v": 3, "type": "thing", "size": 5, "name": "a" }') == current
    assert decoder.decode(b'{"type":"other"}') == Other()


def test_head_is_read_without_the_rest() -> None:
    assert read_head(b'{"type":"thing","v":2,"name":[1,{"x":2}]}') == ("thing", 2)
    assert read_head(b'{"station_id":"x"}') == (None, 1)
    with pytest.raises(UndecodableRecord):
        read_head(b"not json")


def test_an_unknown_type_is_a_newer_writers_and_ignorable() -> None:
    with pytest.raises(UnknownRecordType):
        decoder.decode(b'{"type":"from_the_future","v":1}')
    assert decoder.decode_known(b'{"type":"from_the_future","v":1}') is None


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1, 2]",
        b'{"type":"thing","v":3,"name":"a"}',  # a known type that does not validate
        b'{"type":"thing","size":"5"}',  # v1 without the field its upcaster needs
        b'{"type":"thing","v":2,"name":"a","size":"five"}',
    ],
)
def test_what_no_version_reads_is_undecodable_never_none(data: bytes) -> None:
    with pytest.raises(UndecodableRecord):
        decoder.decode_known(data)
    # A ValidationError: every existing handler of msgspec errors (the projections' poison
    # check among them) treats it as the record's fault.
    assert issubclass(UndecodableRecord, msgspec.ValidationError)


def _frame(**changes: Any) -> FrameRecord:
    fields: dict[str, Any] = {
        "station_id": "CP-1",
        "gateway_id": "gw",
        "connection_id": "c",
        "epoch": 3,
        "direction": Direction.IN,
        "at_ms": 1,
        "raw": '[2,"u1","Heartbeat",{}]',
        "message_type": 2,
        "unique_id": "u1",
        "action": "Heartbeat",
        "payload": msgspec.Raw(b"{}"),
    }
    return FrameRecord(**{**fields, **changes})


def test_station_request_decodes_the_carried_payload_not_raw() -> None:
    # raw is not read again: the payload the gateway validated is what counts.
    record = _frame(raw="not parsed again")
    assert station_request(record, {"Heartbeat"}) == (record, HeartbeatRequest())
    assert station_request(record, {"MeterValues"}) is None
    assert station_request(_frame(error_code="FormationViolation"), {"Heartbeat"}) is None
    assert station_request(_frame(direction=Direction.OUT), {"Heartbeat"}) is None
    assert station_request(_frame(payload=NO_PAYLOAD), {"Heartbeat"}) is None
    meter = _frame(
        action="MeterValues",
        payload=msgspec.Raw(
            b'{"connectorId":1,"meterValue":[{"timestamp":"2024-05-01T12:00:00Z","sampledValue":[{"value":"1"}]}]}'
        ),
    )
    call = station_request(meter, {"MeterValues"})
    assert call is not None and isinstance(call[1], MeterValuesRequest)


def test_frame_of_uses_the_payload_and_parses_only_what_carries_none() -> None:
    assert frame_of(_frame()) == Call("u1", "Heartbeat", msgspec.Raw(b"{}"))
    answer = _frame(message_type=3, raw='[3,"u1",{"a":1}]', payload=msgspec.Raw(b'{"a":1}'))
    assert frame_of(answer) == CallResult("u1", msgspec.Raw(b'{"a":1}'))
    ours = _frame(direction=Direction.OUT, raw='[2,"x","Reset",{"type":"Soft"}]', payload=NO_PAYLOAD)
    assert frame_of(ours) == Call("x", "Reset", msgspec.Raw(b'{"type":"Soft"}'))
    error = _frame(message_type=4, raw='[4,"u1","NotSupported","",{}]', payload=NO_PAYLOAD)
    assert isinstance(frame_of(error), CallError)
    assert frame_of(_frame(raw="garbage", payload=NO_PAYLOAD, message_type=None)) is None


def test_a_gateway_record_round_trips_as_version_2() -> None:
    record = _frame()
    data = encode(record)
    assert data.startswith(b'{"type":"frame","v":2,')
    assert decode_frame_record(data) == record


class _Echo:
    name = "echo"

    async def start(self, topics: Topics, settings: Settings) -> None:
        return None

    def handle(self, inbound: Inbound) -> list[Output]:
        return [Output("out", None, b"handled")]

    async def stop(self) -> None:
        return None


def _message(value: bytes, offset: int) -> ConsumerRecord:
    return ConsumerRecord("ocpp.frames", 5, offset, 0, 0, b"CP-1", value, None, 0, 0, [])


def test_the_service_runner_logs_and_counts_an_undecodable_frame(caplog: pytest.LogCaptureFixture) -> None:
    undecodable.reset()
    runner = FrameServiceRunner(_Echo(), Settings())
    with caplog.at_level(logging.ERROR):
        assert runner._handle_one(_message(b'{"type":"frame","v":2,"station_id":1}', 17)) == []
        assert runner._handle_one(_message(b'{"type":"newer_type","station_id":"CP-1"}', 18)) == []
    assert undecodable.counts() == {"ocpp.frames": 1}  # the unknown type is not an error
    assert "ocpp.frames[5]@17" in caplog.text
    assert [o.value for o in runner._handle_one(_message(encode(_frame()), 19))] == [b"handled"]
    undecodable.reset()


class _OneBatch:
    """A consumer that returns one batch, then stops the follower."""

    def __init__(self, records: list[ConsumerRecord]) -> None:
        self._batches = [{TopicPartition("csms.stations", 2): records}]

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        if not self._batches:
            raise asyncio.CancelledError
        return self._batches.pop(0)

    def assignment(self) -> set[TopicPartition]:
        return set()


def test_a_follower_logs_and_counts_what_its_view_cannot_decode(caplog: pytest.LogCaptureFixture) -> None:
    undecodable.reset()
    view = CompactedView("unused:9092", "csms.stations", registration_decoder.decode)
    good = msgspec.json.encode(StationRegistration(station_id="CP-1"))
    records = [
        ConsumerRecord("csms.stations", 2, 40, 0, 0, b"CP-9", b'{"station_id": 5}', None, 0, 0, []),
        ConsumerRecord("csms.stations", 2, 41, 0, 0, b"CP-1", good, None, 0, 0, []),
    ]
    view._follower._consumer = _OneBatch(records)
    with caplog.at_level(logging.ERROR), pytest.raises(asyncio.CancelledError):
        asyncio.run(view._follower._follow())
    assert undecodable.counts() == {"csms.stations": 1}
    assert "csms.stations[2]@40" in caplog.text
    assert view.get("CP-1") == StationRegistration(station_id="CP-1") and "CP-9" not in view
    undecodable.reset()
