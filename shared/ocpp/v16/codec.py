"""Decode and encode OCPP 1.6 payloads, with the precise CALLERROR for every way a payload is wrong.

The valid path is one typed msgspec decode. Only when msgspec rejects a payload do we look closer:
:func:`diagnose` walks the untyped JSON against the model's type information and classifies the first
violation by structure (never by parsing error text):

| violation | code |
|---|---|
| payload not valid JSON, or not an object | FormationViolation |
| a property the model does not have (additionalProperties false) | FormationViolation |
| a required property missing; an array shorter or longer than allowed | OccurenceConstraintViolation |
| a value of the wrong JSON type (``"connectorId": "1"``) | TypeConstraintViolation |
| a value out of the allowed set or range (enum, length, date-time, int32) | PropertyConstraintViolation |
| a string containing U+0000 (no PostgreSQL text can hold it; ADR 0017) | PropertyConstraintViolation |

msgspec has no "no NUL" string constraint, so after a typed decode succeeds a payload whose raw text
holds the escape ``\\u0000`` is walked once more; the raw text cannot hold a literal NUL (JSON forbids
control characters in strings), so the search is exact and costs nothing on the normal path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
import msgspec.inspect as mi

from shared.ocpp.errors import ErrorCode, OcppError
from shared.ocpp.v16.actions import ACTIONS
from shared.ocpp.v16.constraints import DECIMAL_MULTIPLE_OF, INT64_MAX, INT64_MIN, is_multiple

_requests: Mapping[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(spec.request) for name, spec in ACTIONS.items()
}
_responses: Mapping[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(spec.response) for name, spec in ACTIONS.items()
}
_encoder = msgspec.json.Encoder()
_INT64 = (INT64_MIN, INT64_MAX)  # the bound of an integer the model leaves unbounded
NUL = "\x00"
_NUL_ESCAPE = b"\\u0000"


def decode_request(action: str, payload: bytes | str) -> Any:
    """The typed request of ``action``; raises OcppError with the 1.6 code when it is not valid."""
    return _decode(_requests, action, payload)


def decode_response(action: str, payload: bytes | str) -> Any:
    return _decode(_responses, action, payload)


def encode(message: msgspec.Struct) -> bytes:
    return _encoder.encode(message)


def _decode(decoders: Mapping[str, msgspec.json.Decoder[Any]], action: str, payload: bytes | str) -> Any:
    decoder = decoders.get(action)
    if decoder is None:
        raise OcppError(ErrorCode.NOT_IMPLEMENTED, f"unknown action {action!r}")
    try:
        try:
            decoded = decoder.decode(payload)
        except msgspec.ValidationError:
            # The typed decoder may stop early; the untyped one reads it all, nesting included.
            try:
                untyped = msgspec.json.decode(payload)
            except msgspec.ValidationError as exc:  # valid JSON no Python float holds, e.g. 1e400
                raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, f"payload: {exc}") from None
        else:
            if _NUL_ESCAPE not in (payload.encode() if isinstance(payload, str) else payload):
                return decoded
            # Perhaps only an escaped backslash before "u0000": then the walk finds nothing.
            found = _check(mi.type_info(decoder.type), msgspec.json.decode(payload), "")
            if found is None:
                return decoded
            raise _error(found)
    except msgspec.DecodeError:
        raise OcppError(ErrorCode.FORMATION_VIOLATION, "payload is not valid JSON") from None
    except RecursionError:
        # msgspec's decoder recurses per nesting level; a few thousand `[` exhaust the stack.
        raise OcppError(ErrorCode.FORMATION_VIOLATION, "payload is nested too deeply") from None
    except UnicodeError:  # bytes that are not UTF-8, or text no UTF-8 can hold (a lone surrogate)
        raise OcppError(ErrorCode.FORMATION_VIOLATION, "payload is not valid UTF-8") from None
    raise diagnose(decoder.type, untyped)


def diagnose(model: Any, value: Any) -> OcppError:
    """Explain why ``value`` (untyped JSON) does not fit ``model``."""
    found = _check(mi.type_info(model), value, "")
    if found is not None:
        return _error(found)
    # msgspec and the walk disagree: report it rather than guess.
    return OcppError(ErrorCode.FORMATION_VIOLATION, "payload does not match the message structure")


Finding = tuple[ErrorCode, str, str]


def _error(found: Finding) -> OcppError:
    code, path, what = found
    return OcppError(code, f"{path or 'payload'}: {what}", {"field": path} if path else {})


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check(t: mi.Type, value: Any, path: str) -> Finding | None:
    if isinstance(t, mi.StructType):
        if not isinstance(value, dict):
            code = ErrorCode.FORMATION_VIOLATION if not path else ErrorCode.TYPE_CONSTRAINT_VIOLATION
            return code, path, "must be an object"
        fields = {f.encode_name: f for f in t.fields}
        for key in value:
            if key not in fields:
                return ErrorCode.FORMATION_VIOLATION, _join(path, key), "is not a property of this message"
        for name, field in fields.items():
            if name not in value:
                if field.required:
                    return ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION, _join(path, name), "is required"
                continue
            found = _check(field.type, value[name], _join(path, name))
            if found is not None:
                return found
        return None
    if isinstance(t, mi.ListType):
        if not isinstance(value, list):
            return ErrorCode.TYPE_CONSTRAINT_VIOLATION, path, "must be an array"
        if t.min_length is not None and len(value) < t.min_length:
            return ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION, path, f"needs at least {t.min_length} item(s)"
        if t.max_length is not None and len(value) > t.max_length:
            return ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION, path, f"allows at most {t.max_length} item(s)"
        for i, item in enumerate(value):
            found = _check(t.item_type, item, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(t, mi.LiteralType):
        if not isinstance(value, str):
            return ErrorCode.TYPE_CONSTRAINT_VIOLATION, path, "must be a string"
        if value not in t.values:
            return ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, path, f"{value!r} is not one of {list(t.values)}"
        return None
    if isinstance(t, mi.StrType):
        if not isinstance(value, str):
            return ErrorCode.TYPE_CONSTRAINT_VIOLATION, path, "must be a string"
        if t.max_length is not None and len(value) > t.max_length:
            return ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, path, f"longer than {t.max_length} characters"
        if NUL in value:
            return ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, path, "must not contain U+0000"
        return None
    if isinstance(t, mi.DateTimeType):
        if not isinstance(value, str):
            return ErrorCode.TYPE_CONSTRAINT_VIOLATION, path, "must be a date-time string"
        try:
            parsed = msgspec.json.decode(msgspec.json.encode(value), type=datetime)
        except msgspec.ValidationError:
            return ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, path, f"{value!r} is not an RFC 3339 date-time"
        if t.tz and parsed.tzinfo is None:
            return ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, path, "date-time needs a time zone (e.g. Z)"
        return None
    if isinstance(t, mi.IntType):
        if not isinstance(value, int) or isinstance(value, bool):
            return ErrorCode.TYPE_CONSTRAINT_VIOLATION, path, "must be an integer"
        low = _INT64[0] if t.ge is None else t.ge
        high = _INT64[1] if t.le is None else t.le
        if not low <= value <= high:
            return ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, path, f"integer out of range [{low}, {high}]"
        return None
    if isinstance(t, mi.Metadata):
        found = _check(t.type, value, path)
        step = (t.extra or {}).get(DECIMAL_MULTIPLE_OF)
        if found is None and step is not None and not is_multiple(value, step):
            return ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, path, f"must be a multiple of {step}"
        return found
    if isinstance(t, mi.FloatType):
        if not _is_number(value):
            return ErrorCode.TYPE_CONSTRAINT_VIOLATION, path, "must be a number"
        return None
    if isinstance(t, mi.BoolType):
        if not isinstance(value, bool):
            return ErrorCode.TYPE_CONSTRAINT_VIOLATION, path, "must be a boolean"
        return None
    return None
