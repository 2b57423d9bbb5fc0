"""The 1.6 model accepts exactly what the official JSON schemas accept (with the errata applied).

Valid payloads are generated from the schemas themselves (:func:`from_schema`, covering the subset
of draft-04 the 1.6 schemas use; hypothesis-jsonschema does not work with current hypothesis);
invalid ones are mutations of valid ones (a required field dropped, a wrong type, a value outside an
enum, a string too long, an extra property, a bad date-time, an empty array, a limit that is not a
multiple of 0.1). The codec and jsonschema's Draft4Validator, with a
format checker that really checks date-time, must give the same verdict on every one.

Known, deliberate difference: integers outside the int64 range are rejected by the codec
(PropertyConstraintViolation); OCPP integers are 32-bit in practice, so generation is bounded to int32.
Likewise integers outside int32 (except meterStart/meterStop) and strings with U+0000 (ADR 0017):
generation has neither.
"""

from __future__ import annotations

import copy
import decimal
import json
from datetime import UTC, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator, FormatChecker

from shared.ocpp.errors import OcppError
from shared.ocpp.v16 import codec
from shared.ocpp.v16.actions import ACTIONS
from tools.generate_ocpp16 import load_schema

CASES = [(action, kind) for action in ACTIONS for kind in ("request", "response")]
FORMATS = FormatChecker(["date-time"])
assert FORMATS.conforms("2024-01-01T00:00:00Z", "date-time")
assert not FORMATS.conforms("not-a-date", "date-time"), "rfc3339-validator must be installed"


def schema_file(action: str, kind: str) -> str:
    return action if kind == "request" else f"{action}Response"


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid under ``schema``: objects, arrays, enums, bounded strings, date-times, numbers.

    Integers are int32 and arrays short: what stations send, and fast.
    """
    kind = schema.get("type")
    if kind == "object":
        props = {k: from_schema(v) for k, v in schema.get("properties", {}).items()}
        required = {k: v for k, v in props.items() if k in schema.get("required", [])}
        optional = {k: v for k, v in props.items() if k not in required}
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "array":
        return st.lists(from_schema(schema["items"]), min_size=schema.get("minItems", 0), max_size=3)
    if kind == "string":
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if schema.get("format") == "date-time":
            offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
            return st.datetimes(timezones=offsets | st.just(UTC)).map(
                lambda d: d.isoformat().replace("+00:00", "Z")
            )
        return st.text(
            st.characters(codec="utf-8", exclude_characters="\x00"), max_size=schema.get("maxLength", 60)
        )
    if kind == "integer":
        return st.integers(-(2**31), 2**31 - 1)
    if kind == "number" and "multipleOf" in schema:
        step = decimal.Decimal(str(schema["multipleOf"]))
        return st.integers(-100_000, 100_000).map(lambda n: float(n * step))
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False, width=32) | st.integers(-1000, 1000)
    if kind == "boolean":
        return st.booleans()
    raise AssertionError(f"schema construct not covered: {schema}")


def paths(
    schema: dict[str, Any], value: Any, at: tuple[Any, ...] = ()
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every (path, schema) of a value present in ``value``, the object itself included."""
    found = [(at, schema)]
    if schema.get("type") == "object" and isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                found += paths(sub, value[name], (*at, name))
    if schema.get("type") == "array" and isinstance(value, list):
        for i, item in enumerate(value):
            found += paths(schema["items"], item, (*at, i))
    return found


def mutations(schema: dict[str, Any], value: Any) -> list[tuple[str, tuple[Any, ...], Any]]:
    """(kind, path, new value or DROP) for every way to break ``value`` at every place."""
    out: list[tuple[str, tuple[Any, ...], Any]] = []
    for path, sub in paths(schema, value):
        kind = sub.get("type")
        wrong = {"string": 12, "integer": "12", "number": "1.5", "boolean": "true", "object": [], "array": {}}
        if kind in wrong:
            out.append(("wrong type", path, wrong[kind]))
        if "enum" in sub:
            out.append(("not in enum", path, "NotAValueOfThisEnum"))
        if "maxLength" in sub:
            out.append(("too long", path, "x" * (sub["maxLength"] + 1)))
        if sub.get("format") == "date-time":
            out.append(("bad date-time", path, "2024-13-45T25:61:00Z"))
            out.append(("bad date-time", path, "yesterday"))
        if "multipleOf" in sub:
            out.append(("not a multiple", path, 0.15))
        if kind == "array" and sub.get("minItems"):
            out.append(("too few items", path, []))
        if kind == "object":
            out.append(("extra property", (*path, "unexpectedProperty"), 1))
            for name in sub.get("required", []):
                out.append(("missing required", (*path, name), DROP))
    return out


DROP = object()


def apply(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    value = copy.deepcopy(value)
    if not path:
        return new
    node = value
    for step in path[:-1]:
        node = node[step]
    if new is DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = new
    return value


def verdicts(action: str, kind: str, validator: Draft4Validator, payload: Any) -> tuple[bool, bool]:
    text = json.dumps(payload)
    schema_ok = validator.is_valid(json.loads(text, parse_float=decimal.Decimal))
    try:
        (codec.decode_request if kind == "request" else codec.decode_response)(action, text)
        codec_ok = True
    except OcppError:
        codec_ok = False
    return schema_ok, codec_ok


@pytest.mark.parametrize(("action", "kind"), CASES)
def test_codec_and_official_schema_agree(action: str, kind: str) -> None:
    schema = load_schema(schema_file(action, kind))
    # As the ocpp package does: Decimal numbers, so multipleOf 0.1 is judged exactly.
    validator = Draft4Validator(
        json.loads(json.dumps(schema), parse_float=decimal.Decimal), format_checker=FORMATS
    )

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(payload=from_schema(schema), data=st.data())
    def check(payload: Any, data: st.DataObject) -> None:
        schema_ok, codec_ok = verdicts(action, kind, validator, payload)
        assert schema_ok and codec_ok, (payload, schema_ok, codec_ok)
        options = mutations(schema, payload)
        if options:
            what, path, new = data.draw(st.sampled_from(options), label="mutation")
            broken = apply(payload, path, new)
            schema_ok, codec_ok = verdicts(action, kind, validator, broken)
            assert schema_ok == codec_ok, (what, path, broken, schema_ok, codec_ok)

    check()


def test_all_28_actions_and_the_11_of_the_security_extension_are_modelled() -> None:
    assert len(ACTIONS) == 28 + 11
    assert sum(spec.profile == "Security" for spec in ACTIONS.values()) == 11


def test_generated_module_is_up_to_date() -> None:
    """shared/ocpp/v16/messages.py is what tools/generate_ocpp16.py makes from the schemas."""
    from pathlib import Path

    from shared.ocpp.v16 import messages
    from tools.generate_ocpp16 import generate

    assert Path(messages.__file__).read_text() == generate(), "run: python -m tools.generate_ocpp16"


@pytest.mark.parametrize("number", ["1e400", "-1e400"])
def test_a_number_no_float_holds_is_a_constraint_violation_not_a_crash(number: str) -> None:
    """Valid JSON (RFC 8259 sets no range) that msgspec cannot read untyped: found by the network
    fuzzer, it escaped as msgspec.ValidationError and closed the station's connection with 1011."""
    payload = '{"connectorId":1,"idTag":"x","meterStart":' + number + ',"timestamp":"2026-01-01T00:00:00Z"}'
    with pytest.raises(OcppError) as found:
        codec.decode_request("StartTransaction", payload)
    assert found.value.code == "PropertyConstraintViolation"
