"""Every way a 1.6 payload can be wrong gets the CALLERROR code OCPP-J 1.6 section 4.2.3 (table 7)
gives it, with the field it is about; one deterministic case per rule of the codec's table, so the
rules hold whatever the property tests (test_v16_schemas.py) happen to generate."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import msgspec.inspect as mi
import pytest

from shared.ocpp.errors import ErrorCode, OcppError
from shared.ocpp.v16 import codec
from shared.ocpp.v16.actions import ACTIONS
from shared.ocpp.v16.messages import BootNotificationRequest, BootNotificationResponse, HeartbeatRequest

START = {"connectorId": 1, "idTag": "T1", "meterStart": 0, "timestamp": "2026-12-02T10:00:00Z"}
METER = {
    "connectorId": 1,
    "meterValue": [{"timestamp": "2026-12-02T10:00:00Z", "sampledValue": [{"value": "1"}]}],
}


def profile(limit: Any) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            },
        },
    }


def refusal(action: str, payload: Any, *, response: bool = False) -> OcppError:
    text = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    with pytest.raises(OcppError) as caught:
        (codec.decode_response if response else codec.decode_request)(action, text)
    return caught.value


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


PCV = ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
TCV = ErrorCode.TYPE_CONSTRAINT_VIOLATION
OCV = ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION
FV = ErrorCode.FORMATION_VIOLATION
PERIOD_LIMIT = "csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].limit"


@pytest.mark.parametrize(
    ("action", "payload", "code", "field"),
    [
        # FormationViolation: "syntactically incorrect or not conform the PDU structure"
        ("StartTransaction", [], FV, None),
        ("StartTransaction", with_(START, extra=1), FV, "extra"),
        # OccurenceConstraintViolation: a required field missing, an array too short
        ("StartTransaction", {k: v for k, v in START.items() if k != "idTag"}, OCV, "idTag"),
        ("MeterValues", with_(METER, meterValue=[]), OCV, "meterValue"),
        # TypeConstraintViolation: 'e.g. "somestring": 12'
        ("StartTransaction", with_(START, connectorId="1"), TCV, "connectorId"),
        ("StartTransaction", with_(START, connectorId=True), TCV, "connectorId"),  # a boolean is no integer
        ("StartTransaction", with_(START, idTag=12), TCV, "idTag"),
        (
            "StartTransaction",
            with_(START, reservationId="7"),
            TCV,
            "reservationId",
        ),  # after a valid date-time
        ("StartTransaction", with_(START, timestamp=12), TCV, "timestamp"),
        ("MeterValues", with_(METER, meterValue={}), TCV, "meterValue"),
        ("MeterValues", with_(METER, meterValue=[1]), TCV, "meterValue[0]"),  # an object nested in an array
        ("StatusNotification", {"connectorId": 1, "errorCode": 1, "status": "Available"}, TCV, "errorCode"),
        ("SetChargingProfile", profile("1.5"), TCV, PERIOD_LIMIT),
        # PropertyConstraintViolation: "at least one field contains an invalid value"
        ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Broken"}, PCV, "status"),
        ("StartTransaction", with_(START, idTag="x" * 21), PCV, "idTag"),
        ("StartTransaction", with_(START, timestamp="yesterday"), PCV, "timestamp"),
        ("StartTransaction", with_(START, timestamp="2026-12-02T10:00:00"), PCV, "timestamp"),  # no zone
        ("StartTransaction", with_(START, connectorId=2**31), PCV, "connectorId"),  # int32 (ADR 0017)
        ("StartTransaction", with_(START, meterStart=2**63), PCV, "meterStart"),  # int64 (ADR 0017)
        ("StartTransaction", with_(START, idTag="a\x00b"), PCV, "idTag"),  # U+0000 (ADR 0017)
        ("SetChargingProfile", profile(0.15), PCV, PERIOD_LIMIT),  # multipleOf 0.1
    ],
)
def test_each_violation_gets_its_table_7_code_and_names_the_field(
    action: str, payload: Any, code: ErrorCode, field: str | None
) -> None:
    error = refusal(action, payload)
    assert error.code == code
    assert error.details == ({"field": field} if field else {})
    assert error.description.startswith(f"{field or 'payload'}: ")


def test_a_boolean_of_the_wrong_type_in_a_station_answer() -> None:
    """Our CALLs' answers are checked with the same rules (GetConfiguration.conf: readonly)."""
    answer = {"configurationKey": [{"key": "HeartbeatInterval", "readonly": "true", "value": "300"}]}
    error = refusal("GetConfiguration", answer, response=True)
    assert (error.code, error.details) == (TCV, {"field": "configurationKey[0].readonly"})


def test_the_first_violation_is_reported_after_valid_items_and_fields() -> None:
    """Valid array items and booleans before the violation are passed over; the field named is the
    one that is wrong (unknownKey holds CiString50 items)."""
    key = {"key": "HeartbeatInterval", "readonly": True, "value": "300"}
    answer = {"configurationKey": [key, key], "unknownKey": ["Foo", 5]}
    error = refusal("GetConfiguration", answer, response=True)
    assert (error.code, error.details) == (TCV, {"field": "unknownKey[1]"})


@pytest.mark.parametrize(
    ("payload", "description"),
    [
        ("{", "payload is not valid JSON"),
        ("[" * 100_000, "payload is nested too deeply"),
        (b'{"chargePointVendor": "\xff", "chargePointModel": "M"}', "payload is not valid UTF-8"),
        ('{"chargePointVendor": "\ud800", "chargePointModel": "M"}', "payload is not valid UTF-8"),
    ],
)
def test_a_payload_that_is_not_json_in_utf8_is_a_formation_violation(
    payload: str | bytes, description: str
) -> None:
    """OCPP-J 4.1.2 (valid JSON in UTF-8) and 4.2.3: "syntactically incorrect" is FormationViolation,
    also for nesting deeper than the decoder's stack and text no UTF-8 can hold (a lone surrogate)."""
    error = refusal("BootNotification", payload)
    assert (error.code, error.description) == (FV, description)


def test_an_action_not_known_is_not_implemented() -> None:
    """Table 7: NotImplemented, "Requested Action is not known by receiver"."""
    for decode in (codec.decode_request, codec.decode_response):
        with pytest.raises(OcppError) as caught:
            decode("MakeCoffee", b"{}")
        assert caught.value.code == ErrorCode.NOT_IMPLEMENTED


def test_a_valid_payload_decodes_to_its_typed_message() -> None:
    boot = codec.decode_request("BootNotification", b'{"chargePointVendor": "V", "chargePointModel": "M"}')
    assert boot == BootNotificationRequest(charge_point_vendor="V", charge_point_model="M")


def test_meter_readings_take_the_whole_int64_range_and_no_more() -> None:
    """ADR 0017: meterStart/meterStop are int64 (bigint in the read model). msgspec reads any JSON
    integer into a Python int, so 2**63 used to be answered with a CALLRESULT when it came alone."""
    start = codec.decode_request("StartTransaction", json.dumps(with_(START, meterStart=2**63 - 1)))
    assert start.meter_start == 2**63 - 1
    for value in (2**63, -(2**63) - 1, 10**30):
        error = refusal("StartTransaction", with_(START, meterStart=value))
        assert (error.code, error.details) == (PCV, {"field": "meterStart"})


def test_an_escaped_backslash_before_u0000_is_not_a_nul() -> None:
    r"""The raw text ``\\u0000`` is a backslash and the letters u0000, not U+0000 (ADR 0017): accepted."""
    boot = codec.decode_request(
        "BootNotification", b'{"chargePointVendor": "a\\\\u0000", "chargePointModel": "M"}'
    )
    assert boot.charge_point_vendor == "a\\u0000"


def test_encode_writes_the_wire_names_and_omits_unset_optionals() -> None:
    """The 1.6 schemas forbid null: an optional field not set is left out, and names are camelCase."""
    answer = BootNotificationResponse(
        status="Accepted", current_time=datetime(2026, 12, 2, 10, tzinfo=UTC), interval=300
    )
    wire = codec.encode(answer)
    assert json.loads(wire) == {"status": "Accepted", "currentTime": "2026-12-02T10:00:00Z", "interval": 300}
    assert codec.decode_response("BootNotification", wire) == answer
    assert codec.encode(BootNotificationRequest(charge_point_vendor="V", charge_point_model="M")) == (
        b'{"chargePointVendor":"V","chargePointModel":"M"}'
    )


class Limited(msgspec.Struct):
    """Shapes no 1.6 message has today, which the generator can emit (maxItems) or the diagnosis
    does not walk (a map): the next message set (the security extension) must still be diagnosed."""

    items: Annotated[list[int], msgspec.Meta(max_length=2)] = []
    table: dict[str, int] = {}


def test_an_array_longer_than_max_items_is_an_occurrence_violation() -> None:
    """tools/generate_ocpp16.py turns maxItems into max_length; too many items, like too few, is
    OccurenceConstraintViolation."""
    error = codec.diagnose(Limited, {"items": [1, 2, 3]})
    assert (error.code, error.details) == (OCV, {"field": "items"})


def test_a_payload_the_diagnosis_cannot_explain_is_still_refused_as_a_formation_violation() -> None:
    """When msgspec refuses what the walk finds nothing wrong with (a shape it does not walk, or a
    rule only msgspec knows), the frame is still answered with a CALLERROR, never accepted."""
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"table": 5}, Limited)
    assert codec.diagnose(Limited, {"table": 5}).code == FV
    assert codec.diagnose(HeartbeatRequest, {}).description == "payload does not match the message structure"


def test_every_type_in_the_1_6_messages_is_one_the_diagnosis_walks() -> None:
    """A new generated type the walk does not know would only ever be diagnosed as the generic
    FormationViolation above: this fails first, so the walk gets a rule for it."""
    walked = (
        mi.StructType, mi.ListType, mi.LiteralType, mi.StrType, mi.DateTimeType,
        mi.IntType, mi.Metadata, mi.FloatType, mi.BoolType,
    )  # fmt: skip

    def types(t: mi.Type) -> list[mi.Type]:
        inner = (
            [f.type for f in t.fields] if isinstance(t, mi.StructType)
            else [t.item_type] if isinstance(t, mi.ListType)
            else [t.type] if isinstance(t, mi.Metadata)
            else []
        )  # fmt: skip
        return [t, *(x for i in inner for x in types(i))]

    for spec in ACTIONS.values():
        for model in (spec.request, spec.response):
            assert all(isinstance(t, walked) for t in types(mi.type_info(model))), model
