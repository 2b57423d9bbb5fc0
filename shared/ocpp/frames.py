"""OCPP-J RPC frames (OCPP-J 1.6 section 4): parse and encode CALL, CALLRESULT and CALLERROR.

The payload stays raw JSON (``msgspec.Raw``): validating it is the job of the action's model, and
keeping the bytes lets the gateway log and relay them without re-encoding.

Error codes chosen for malformed frames (OCPP-J table 7; the spec lists "missing mandatory fields,
an existing call with the same unique identifier, unique identifier too long" as CALLERROR cases):

| what is wrong | code | answered with message id |
|---|---|---|
| not JSON, not UTF-8 | FormationViolation | recovered id if the text starts like a frame, else ``-1`` |
| nested deeper than the decoder's recursion limit | FormationViolation | recovered id, else ``-1`` |
| JSON but not an array, or an empty one | FormationViolation | ``-1`` |
| message type not an integer | FormationViolation | the id when readable, else ``-1`` |
| message type not 2/3/4 | not an error: ignored (4.1.3), returned as UnknownMessageType | — |
| message id not a string | FormationViolation | ``-1`` |
| message id longer than 36 characters | FormationViolation | the id as sent |
| CALL with fewer than 4 elements ("payload incomplete") | ProtocolError | the id |
| more elements than the type has, or a CALLRESULT/CALLERROR with too few | FormationViolation | the id |
| action not a string, payload not an object | FormationViolation | the id |

A ``null`` payload is read as ``{}``: OCPP-J 4.2.1 allows both notations for "no payload".
``-1`` is the id used for an unreadable frame because it can never collide with a real message id
that a station is waiting on (stations use GUIDs or counters) and several CSMSs already use it.
"""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

from shared.ocpp.errors import ErrorCode, OcppError

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MAX_ID_LENGTH = 36
UNKNOWN_ID = "-1"
EMPTY_OBJECT = msgspec.Raw(b"{}")


class Call(msgspec.Struct, frozen=True):
    unique_id: str
    action: str
    payload: msgspec.Raw


class CallResult(msgspec.Struct, frozen=True):
    unique_id: str
    payload: msgspec.Raw


class CallError(msgspec.Struct, frozen=True):
    unique_id: str
    error_code: str
    error_description: str
    error_details: msgspec.Raw


class UnknownMessageType(msgspec.Struct, frozen=True):
    """A frame whose message type number is not 2, 3 or 4: ignored, but logged (OCPP-J 4.1.3)."""

    message_type: int
    unique_id: str | None


Frame = Call | CallResult | CallError | UnknownMessageType


class FrameError(OcppError):
    """A frame that is not a valid OCPP-J message; ``unique_id`` is what to answer with, if known."""

    def __init__(
        self, code: ErrorCode, description: str, unique_id: str | None, message_type: int | None
    ) -> None:
        super().__init__(code, description)
        self.unique_id = unique_id
        self.message_type = message_type


_elements = msgspec.json.Decoder(list[msgspec.Raw])
_int = msgspec.json.Decoder(int)
_str = msgspec.json.Decoder(str)
_object = msgspec.json.Decoder(dict[str, msgspec.Raw] | None)
_encode = msgspec.json.encode
# Recovers the id of a frame that is cut off or otherwise not JSON: `[2, "abc", ...`.
_ID_PREFIX = re.compile(r'^\s*\[\s*\d+\s*,\s*"([^"\\]{1,36})"')
_ARITY = {CALL: 4, CALLRESULT: 3, CALLERROR: 5}


T = TypeVar("T")


def _read(decoder: msgspec.json.Decoder[T], raw: msgspec.Raw) -> T | None:
    try:
        return decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def _payload(raw: msgspec.Raw, unique_id: str, message_type: int, what: str) -> msgspec.Raw:
    try:
        value = _object.decode(raw)
    except msgspec.ValidationError:
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION, f"{what} must be a JSON object", unique_id, message_type
        ) from None
    return EMPTY_OBJECT if value is None else raw


def parse_frame(data: str | bytes) -> Frame:
    """Parse one WebSocket text message; raises :class:`FrameError` when it is not OCPP-J.

    FrameError is the only exception: msgspec raises RecursionError on deep nesting (a few
    thousand ``[``), UnicodeDecodeError on invalid UTF-8 bytes and UnicodeEncodeError on text that
    no UTF-8 can hold (a lone surrogate), all of which would otherwise escape and drop the
    connection with 1011 before the frame is logged (OCPP-J 4.1.2: the message MUST be valid JSON
    in UTF-8; 4.2.3: the content "does not meet the requirements for a proper message", so it gets
    a CALLERROR).
    """
    try:
        return _parse(data)
    except RecursionError:
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION, "message is nested too deeply", _recover_id(data), None
        ) from None
    except UnicodeError:
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION, "message is not valid UTF-8", _recover_id(data), None
        ) from None


def _recover_id(data: str | bytes) -> str:
    """The id of a frame that cannot be decoded, when its text starts like ``[2, "abc", ...``."""
    # Only what UTF-8 can hold: the id goes back out in the CALLERROR (a lone surrogate becomes "?").
    text = (
        data.decode("utf-8", "replace") if isinstance(data, bytes) else data.encode(errors="replace").decode()
    )
    match = _ID_PREFIX.match(text)
    return match.group(1) if match else UNKNOWN_ID


def _parse(data: str | bytes) -> Frame:
    try:
        elements = _elements.decode(data)
    except msgspec.ValidationError:  # a subclass of DecodeError: valid JSON, wrong shape
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION, "message is not a JSON array", UNKNOWN_ID, None
        ) from None
    except msgspec.DecodeError:
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION, "message is not valid JSON", _recover_id(data), None
        ) from None
    if not elements:
        raise FrameError(ErrorCode.FORMATION_VIOLATION, "message is an empty array", UNKNOWN_ID, None)
    raw_id = _read(_str, elements[1]) if len(elements) > 1 else None
    unique_id = raw_id if isinstance(raw_id, str) else None
    message_type = _read(_int, elements[0])
    if not isinstance(message_type, int) or isinstance(message_type, bool):
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION, "message type must be an integer", unique_id or UNKNOWN_ID, None
        )
    if message_type not in _ARITY:
        return UnknownMessageType(message_type, unique_id)
    if unique_id is None:
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION, "message id must be a string", UNKNOWN_ID, message_type
        )
    if len(unique_id) > MAX_ID_LENGTH:
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION,
            f"message id longer than {MAX_ID_LENGTH} characters",
            unique_id,
            message_type,
        )
    arity = _ARITY[message_type]
    if len(elements) != arity:
        incomplete = message_type == CALL and len(elements) < arity
        raise FrameError(
            ErrorCode.PROTOCOL_ERROR if incomplete else ErrorCode.FORMATION_VIOLATION,
            f"a message of type {message_type} has {arity} elements, got {len(elements)}",
            unique_id,
            message_type,
        )
    if message_type == CALL:
        action = _read(_str, elements[2])
        if not isinstance(action, str) or not action:
            raise FrameError(ErrorCode.FORMATION_VIOLATION, "action must be a string", unique_id, CALL)
        return Call(unique_id, action, _payload(elements[3], unique_id, CALL, "payload"))
    if message_type == CALLRESULT:
        return CallResult(unique_id, _payload(elements[2], unique_id, CALLRESULT, "payload"))
    code, description = _read(_str, elements[2]), _read(_str, elements[3])
    if not isinstance(code, str) or not isinstance(description, str):
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION,
            "errorCode and errorDescription must be strings",
            unique_id,
            CALLERROR,
        )
    details = _payload(elements[4], unique_id, CALLERROR, "errorDetails")
    return CallError(unique_id, code, description, details)


def encode_call(unique_id: str, action: str, payload: bytes) -> str:
    return f"[2,{_encode(unique_id).decode()},{_encode(action).decode()},{payload.decode()}]"


def encode_result(unique_id: str, payload: bytes) -> str:
    return f"[3,{_encode(unique_id).decode()},{payload.decode()}]"


def encode_error(
    unique_id: str, code: ErrorCode | str, description: str, details: bytes | None = None
) -> str:
    """A CALLERROR; errorDetails is ``{}`` when there is nothing to add (never null)."""
    body = details.decode() if details else "{}"
    return (
        f"[4,{_encode(unique_id).decode()},{_encode(str(code)).decode()},"
        f"{_encode(description).decode()},{body}]"
    )
