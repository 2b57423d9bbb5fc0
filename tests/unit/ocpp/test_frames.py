import contextlib
import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.ocpp.errors import ErrorCode
from shared.ocpp.frames import (
    Call,
    CallError,
    CallResult,
    FrameError,
    UnknownMessageType,
    encode_call,
    encode_error,
    encode_result,
    parse_frame,
)


def test_call_result_error_round_trip() -> None:
    call = parse_frame(encode_call("id-1", "Heartbeat", b"{}"))
    assert call == Call("id-1", "Heartbeat", msgspec.Raw(b"{}"))
    result = parse_frame(encode_result("id-1", b'{"currentTime":"2024-01-01T00:00:00Z"}'))
    assert isinstance(result, CallResult) and json.loads(bytes(result.payload)) == {
        "currentTime": "2024-01-01T00:00:00Z"
    }
    error = parse_frame(encode_error("id-1", ErrorCode.NOT_SUPPORTED, 'say "no"'))
    assert isinstance(error, CallError)
    assert (error.error_code, error.error_description, bytes(error.error_details)) == (
        "NotSupported",
        'say "no"',
        b"{}",
    )


def test_error_details_are_never_null() -> None:
    assert json.loads(encode_error("x", "GenericError", ""))[4] == {}


def test_null_payload_means_empty_object() -> None:
    frame = parse_frame('[2,"a","Heartbeat",null]')
    assert isinstance(frame, Call) and bytes(frame.payload) == b"{}"


def test_unknown_message_type_is_returned_not_raised() -> None:
    assert parse_frame('[5,"abc",{}]') == UnknownMessageType(5, "abc")
    assert parse_frame("[9]") == UnknownMessageType(9, None)


@pytest.mark.parametrize(
    ("text", "code", "unique_id"),
    [
        ("not json", ErrorCode.FORMATION_VIOLATION, "-1"),
        ('[2, "abc", "Heartb', ErrorCode.FORMATION_VIOLATION, "abc"),  # cut off: id recovered
        ('{"a": 1}', ErrorCode.FORMATION_VIOLATION, "-1"),
        ("[]", ErrorCode.FORMATION_VIOLATION, "-1"),
        ('["2", "abc", "Heartbeat", {}]', ErrorCode.FORMATION_VIOLATION, "abc"),
        ('[2, 17, "Heartbeat", {}]', ErrorCode.FORMATION_VIOLATION, "-1"),
        ('[2, "' + "a" * 37 + '", "Heartbeat", {}]', ErrorCode.FORMATION_VIOLATION, "a" * 37),
        ('[2, "abc", "Heartbeat"]', ErrorCode.PROTOCOL_ERROR, "abc"),
        ('[2, "abc", "Heartbeat", {}, 1]', ErrorCode.FORMATION_VIOLATION, "abc"),
        ('[2, "abc", 5, {}]', ErrorCode.FORMATION_VIOLATION, "abc"),
        ('[2, "abc", "Heartbeat", []]', ErrorCode.FORMATION_VIOLATION, "abc"),
        ('[3, "abc"]', ErrorCode.FORMATION_VIOLATION, "abc"),
        ('[4, "abc", 1, "", {}]', ErrorCode.FORMATION_VIOLATION, "abc"),
    ],
)
def test_bad_frames_have_a_precise_code_and_the_id_to_answer(
    text: str, code: ErrorCode, unique_id: str
) -> None:
    with pytest.raises(FrameError) as info:
        parse_frame(text)
    assert info.value.code == code
    assert info.value.unique_id == unique_id


def test_bytes_that_are_not_utf8_are_a_formation_violation() -> None:
    with pytest.raises(FrameError) as info:
        parse_frame(b"\xff\xfe[2]")
    assert info.value.code == ErrorCode.FORMATION_VIOLATION


def test_invalid_utf8_inside_an_element_is_a_formation_violation_answered_with_the_id() -> None:
    """OCPP-J 4.1.2: the whole message MUST be UTF-8. Bytes that split into elements fine but hold
    invalid UTF-8 in a string (here the action) are refused like any frame that is not proper
    (4.2.3), answered with the id, which is readable."""
    with pytest.raises(FrameError) as info:
        parse_frame(b'[2,"u1","Heart\xffbeat",{}]')
    assert (info.value.code, info.value.description) == (
        ErrorCode.FORMATION_VIOLATION,
        "message is not valid UTF-8",
    )
    assert info.value.unique_id == "u1"


@pytest.mark.parametrize(
    ("text", "unique_id"),
    [('[2,"u1","\ud800",{}]', "u1"), ('[2,"\ud800x","Heartbeat",{}]', "?x")],
)
def test_text_no_utf8_can_hold_is_a_formation_violation_not_a_crash(text: str, unique_id: str) -> None:
    """A str with a lone surrogate cannot be UTF-8 (OCPP-J 4.1.2); it used to escape parse_frame as
    UnicodeEncodeError. The id to answer with must itself be encodable: the surrogate becomes "?"."""
    with pytest.raises(FrameError) as info:
        parse_frame(text)
    assert info.value.code == ErrorCode.FORMATION_VIOLATION
    assert info.value.unique_id == unique_id
    json.loads(encode_error(unique_id, info.value.code, info.value.description))  # can be sent


@given(st.one_of(st.text(), st.binary()))
def test_garbage_never_raises_anything_but_frame_error(data: str | bytes) -> None:
    with contextlib.suppress(FrameError):
        parse_frame(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@given(st.lists(json_values, max_size=6))
def test_any_json_array_parses_or_raises_frame_error(elements: list[object]) -> None:
    with contextlib.suppress(FrameError):
        parse_frame(json.dumps(elements))
