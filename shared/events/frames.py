"""Reading OCPP frames out of ``ocpp.frames`` records: the one place services and projections do it.

The gateway parsed every frame it logged and, for an inbound CALL or CALLRESULT, carries the JSON
payload it validated in the record (``FrameRecord.payload``, v2; version-1 records are upcast to
it). Readers decode that payload once into the action's type; only frames the gateway carries no
payload for (our own outbound frames, CALLERRORs) are parsed from ``raw`` (ADR 0025).
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Sequence
from typing import Any

from aiokafka import ConsumerRecord

from shared.events.envelope import NO_PAYLOAD, Direction, FrameRecord, FramesRecord, decode_frame_record
from shared.ocpp.errors import OcppError
from shared.ocpp.frames import CALL, CALLRESULT, Call, CallResult, Frame, FrameError, parse_frame
from shared.ocpp.v16 import codec


def frame_of(record: FrameRecord) -> Frame | None:
    """The OCPP-J frame of ``record``: from the payload the gateway carried when it did, else
    parsed from ``raw``; None when ``raw`` is not a frame."""
    if record.payload != NO_PAYLOAD and record.unique_id is not None:
        if record.message_type == CALL and record.action is not None:
            return Call(record.unique_id, record.action, record.payload)
        if record.message_type == CALLRESULT:
            return CallResult(record.unique_id, record.payload)
    try:
        return parse_frame(record.raw)
    except FrameError:
        return None


def station_request(record: FramesRecord | None, actions: Container[str]) -> tuple[FrameRecord, Any] | None:
    """The decoded request when ``record`` is a valid station CALL of one of ``actions``, else None.

    Decoded once, from the payload the gateway validated; invalid CALLs were already answered with
    a CALLERROR by the gateway (``error_code`` set) and are skipped.
    """
    if not (
        isinstance(record, FrameRecord)
        and record.direction is Direction.IN
        and record.message_type == CALL
        and record.error_code is None
        and record.action in actions
        and record.payload != NO_PAYLOAD
    ):
        return None
    assert record.action is not None
    try:
        return record, codec.decode_request(record.action, bytes(record.payload))
    except OcppError:
        return None


def frames_of(
    batch: Sequence[ConsumerRecord], actions: Container[str]
) -> Iterator[tuple[FrameRecord, Frame]]:
    """The valid frames of ``actions`` (CALLs and the answers to them) in a batch of ``ocpp.frames``
    records; a frame the gateway found invalid, or one without a message id, is skipped."""
    for msg in batch:
        record = decode_frame_record(msg.value)
        if (
            not isinstance(record, FrameRecord)
            or record.action not in actions
            or record.error_code is not None
            or record.unique_id is None
        ):
            continue
        frame = frame_of(record)
        if frame is not None:
            yield record, frame
