"""The OCPP-J session rules, driven with plain frames: no sockets, no clock."""

import json
from collections.abc import Iterator

from hypothesis import given
from hypothesis import strategies as st

from shared.ocpp.errors import ErrorCode
from shared.ocpp.session import (
    CallExpired,
    CallReceived,
    CallRepeated,
    CallTimedOut,
    ErrorReceived,
    Ignored,
    ProtocolViolation,
    QueueFull,
    ResultReceived,
    Session,
    UnexpectedReply,
)


def ids() -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"our-{n}"


def new_session(**kwargs: object) -> Session:
    counter = ids()
    return Session(id_factory=lambda: next(counter), **kwargs)  # type: ignore[arg-type]


def sent(session: Session) -> list[list[object]]:
    return [json.loads(o.text) for o in session.data_to_send()]


def test_one_call_in_flight_the_rest_queued_in_order() -> None:
    s = new_session()
    s.send_call("Reset", b'{"type":"Soft"}', 0.0, ref="c1")
    s.send_call("ClearCache", b"{}", 0.0, ref="c2")
    assert sent(s) == [[2, "our-1", "Reset", {"type": "Soft"}]]
    events = s.receive_text('[3,"our-1",{"status":"Accepted"}]', 1.0)
    assert isinstance(events[0], ResultReceived)
    assert (events[0].ref, events[0].action, events[0].elapsed) == ("c1", "Reset", 1.0)
    assert sent(s) == [[2, "our-2", "ClearCache", {}]]
    events = s.receive_text('[4,"our-2","NotSupported","no",{}]', 2.0)
    assert isinstance(events[0], ErrorReceived) and events[0].error_code == "NotSupported"
    assert sent(s) == []


def test_timeout_releases_the_next_call_and_a_late_reply_is_reported() -> None:
    s = new_session(call_timeout=10.0)
    s.send_call("Reset", b"{}", 0.0, ref="c1")
    s.send_call("ClearCache", b"{}", 0.0, ref="c2")
    s.data_to_send()
    assert s.next_deadline() == 10.0
    assert s.tick(9.9) == []
    events = s.tick(10.0)
    assert events == [CallTimedOut("our-1", "Reset", "c1")]
    assert sent(s) == [[2, "our-2", "ClearCache", {}]]
    late = s.receive_text('[3,"our-1",{}]', 11.0)
    assert late == [UnexpectedReply(3, "our-1", late=True)]
    unknown = s.receive_text('[3,"nobody",{}]', 11.0)
    assert unknown == [UnexpectedReply(3, "nobody", late=False)]
    assert s.outstanding == "our-2"  # neither matched the outstanding call


def test_a_queued_call_past_its_deadline_is_never_sent() -> None:
    s = new_session(call_timeout=10.0)
    s.send_call("Reset", b"{}", 0.0, ref="c1")
    s.send_call("ClearCache", b"{}", 0.0, ref="c2", deadline=5.0)
    s.data_to_send()
    events = s.tick(6.0)
    assert CallExpired("ClearCache", "c2") in events
    s.receive_text('[3,"our-1",{}]', 7.0)
    assert sent(s) == []


def test_queue_is_bounded() -> None:
    s = new_session(max_queued_calls=2)
    s.send_call("A", b"{}", 0.0)  # goes out
    s.send_call("B", b"{}", 0.0)
    s.send_call("C", b"{}", 0.0)
    try:
        s.send_call("D", b"{}", 0.0)
    except QueueFull:
        pass
    else:
        raise AssertionError("expected QueueFull")


def test_answers_go_out_in_the_order_the_calls_came_in() -> None:
    s = new_session()
    first = s.receive_text('[2,"a","Heartbeat",{}]', 0.0)
    second = s.receive_text('[2,"b","Heartbeat",{}]', 0.0)  # the station broke the one-in-flight rule
    assert isinstance(first[0], CallReceived) and isinstance(second[0], CallReceived)
    assert s.reply("b", b'{"currentTime":"x"}')
    assert sent(s) == []  # "a" is not answered yet
    assert s.reply_error("a", ErrorCode.INTERNAL_ERROR, "boom")
    assert sent(s) == [[4, "a", "InternalError", "boom", {}], [3, "b", {"currentTime": "x"}]]
    assert not s.reply("a", b"{}")  # answered already


def test_duplicate_id_of_a_call_in_progress_gets_protocol_error_after_the_original() -> None:
    s = new_session()
    s.receive_text('[2,"a","Heartbeat",{}]', 0.0)
    events = s.receive_text('[2,"a","Heartbeat",{}]', 0.0)
    assert isinstance(events[0], ProtocolViolation) and events[0].code == ErrorCode.PROTOCOL_ERROR
    s.reply("a", b"{}")
    out = sent(s)
    assert out[0] == [3, "a", {}]
    assert out[1][:3] == [4, "a", "ProtocolError"]


def test_retransmitted_call_gets_the_cached_answer_without_reprocessing() -> None:
    s = new_session()
    s.receive_text('[2,"a","Heartbeat",{}]', 0.0)
    s.reply("a", b'{"currentTime":"t"}')
    s.data_to_send()
    events = s.receive_text('[2,"a","Heartbeat",{}]', 1.0)
    assert events == [CallRepeated("a", "Heartbeat")]
    assert sent(s) == [[3, "a", {"currentTime": "t"}]]


def test_too_many_calls_in_progress_are_refused() -> None:
    s = new_session(max_inbound_pending=2)
    s.receive_text('[2,"a","Heartbeat",{}]', 0.0)
    s.receive_text('[2,"b","Heartbeat",{}]', 0.0)
    events = s.receive_text('[2,"c","Heartbeat",{}]', 0.0)
    assert isinstance(events[0], ProtocolViolation) and events[0].code == ErrorCode.GENERIC_ERROR
    assert sent(s)[0][:3] == [4, "c", "GenericError"]


def test_bad_frames_get_a_callerror_and_the_session_keeps_working() -> None:
    s = new_session()
    events = s.receive_text("garbage", 0.0)
    assert isinstance(events[0], ProtocolViolation) and events[0].answered
    assert sent(s) == [[4, "-1", "FormationViolation", "message is not valid JSON", {}]]
    assert s.receive_text('[7,"x",{}]', 0.0) == [Ignored(7, "x")]
    assert sent(s) == []
    # A malformed reply is never answered with an error.
    events = s.receive_text('[3,"x"]', 0.0)
    assert isinstance(events[0], ProtocolViolation) and not events[0].answered
    assert sent(s) == []
    assert isinstance(s.receive_text('[2,"ok","Heartbeat",{}]', 0.0)[0], CallReceived)


@given(st.lists(st.one_of(st.text(max_size=60), st.sampled_from(['[2,"a","X",{}]', '[3,"our-1",{}]']))))
def test_random_input_never_breaks_the_session(texts: list[str]) -> None:
    s = new_session()
    s.send_call("Reset", b"{}", 0.0)
    for i, text in enumerate(texts):
        s.receive_text(text, float(i))
        s.data_to_send()
    s.tick(1e9)
    assert isinstance(
        s.receive_text('[2,"final","Heartbeat",{}]', 1e9)[0], CallReceived | CallRepeated | ProtocolViolation
    )
