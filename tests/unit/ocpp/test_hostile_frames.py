"""Property tests (issue 12): no input makes the frame parser or the session core raise anything
but the documented :class:`FrameError` (parser) or nothing at all (session: it answers a CALLERROR,
OCPP-J 1.6 section 4.2.3)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.ocpp.errors import ErrorCode
from shared.ocpp.frames import UNKNOWN_ID, FrameError, parse_frame
from shared.ocpp.session import ProtocolViolation, Session
from shared.ocpp.v16 import codec

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
frame_like = st.tuples(st.integers(-1, 6), st.text(max_size=40), st.text(max_size=20), json_values).map(
    lambda t: json.dumps(list(t))
)
texts = st.text(max_size=200) | frame_like | json_values.map(json.dumps)
nesting = st.builds(
    lambda prefix, depth, close, opener: prefix + opener * depth + ("]" * depth if close else ""),
    st.sampled_from(["", '[2,"abc","Heartbeat",', '[3,"abc",', "{}"]),
    st.integers(1, 20_000),
    st.booleans(),
    st.sampled_from(["[", '{"a":']),
)
hostile = texts | nesting | st.binary(max_size=200)


@settings(max_examples=300, deadline=None)
@given(hostile)
def test_parse_frame_raises_only_frame_error(data: str | bytes) -> None:
    try:
        parse_frame(data)
    except FrameError as error:
        assert isinstance(error.code, ErrorCode)
        assert error.unique_id is None or isinstance(error.unique_id, str)


@settings(max_examples=300, deadline=None)
@given(st.lists(hostile, min_size=1, max_size=5))
def test_session_never_raises(frames: list[str | bytes]) -> None:
    session = Session()
    for frame in frames:
        events = session.receive_text(frame, 0.0)
        assert isinstance(events, list)


@settings(max_examples=200, deadline=None)
@given(hostile)
def test_codec_raises_only_ocpp_error(data: str | bytes) -> None:
    from shared.ocpp.errors import OcppError

    try:
        codec.decode_request("BootNotification", data)
    except OcppError as error:
        assert isinstance(error.code, ErrorCode)


@pytest.mark.parametrize("depth", [3000, 100_000])
def test_deep_nesting_is_a_formation_violation_with_unknown_id(depth: int) -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame("[" * depth)
    assert caught.value.code is ErrorCode.FORMATION_VIOLATION
    assert caught.value.unique_id == UNKNOWN_ID


def test_deep_nesting_keeps_a_readable_id_and_the_session_answers_it() -> None:
    session = Session()
    events = session.receive_text('[2,"n1","Heartbeat",' + "[" * 5000, 0.0)
    assert isinstance(events[0], ProtocolViolation) and events[0].unique_id == "n1"


def test_invalid_utf8_bytes_are_a_formation_violation() -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(b'[2,"u1","Heartbeat",{}]\xff' + b"[" * 5000)
    assert caught.value.code is ErrorCode.FORMATION_VIOLATION
