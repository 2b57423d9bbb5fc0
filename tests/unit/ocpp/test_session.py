"""The OCPP-J session rules, driven with plain frames: no sockets, no clock."""

import json
from collections.abc import Iterator

from hypothesis import given
from hypothesis import strategies as st

from shared.ocpp.errors import ErrorCode
from shared.ocpp.session import (
    AnswerOverdue,
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


def test_a_call_unanswered_past_the_answer_timeout_is_reported_once_and_a_late_answer_refused() -> None:
    """The core keeps the deadline for our answer to the peer's CALL (the gateway: a service's reply,
    ``CSMS_SERVICE_REPLY_TIMEOUT``); the application answers the overdue CALL InternalError
    (OCPP-J 4.2.3: "not able to process the requested Action"), and the service's answer arriving
    after that is late: refused, nothing more goes out (one answer per CALL, OCPP-J 4.1.4)."""
    s = new_session(answer_timeout=20.0)
    s.receive_text('[2,"a","Heartbeat",{}]', 100.0)
    assert s.unanswered == ["a"] and s.next_deadline() == 120.0
    assert s.tick(119.9) == []
    assert s.tick(120.0) == [AnswerOverdue("a", "Heartbeat")]
    assert s.tick(130.0) == []  # reported once
    assert s.next_deadline() is None  # nothing left to fire, though the CALL is still unanswered
    assert s.awaits_answer("a")  # the application answers it, in reaction to the event
    assert s.reply_error("a", ErrorCode.INTERNAL_ERROR, "no answer in time")
    assert sent(s) == [[4, "a", "InternalError", "no answer in time", {}]]
    assert not s.reply("a", b'{"currentTime":"t"}')  # the service's answer, late
    assert sent(s) == []
    assert s.overdue("a") and not s.overdue("never-received")  # late, not unknown


def test_a_call_answered_in_time_never_goes_overdue() -> None:
    s = new_session(answer_timeout=20.0)
    s.receive_text('[2,"a","Heartbeat",{}]', 0.0)
    assert s.reply("a", b'{"currentTime":"t"}')
    assert s.next_deadline() is None and s.unanswered == []
    assert s.tick(1e6) == []
    assert not s.overdue("a")


def test_only_the_unanswered_call_goes_overdue_when_an_answer_waits_behind_it() -> None:
    """Answers go out in arrival order; one given for a later CALL waits for the earlier one, and
    is not overdue itself (the application did answer it in time)."""
    s = new_session(answer_timeout=20.0)
    s.receive_text('[2,"a","Heartbeat",{}]', 0.0)
    s.receive_text('[2,"b","Heartbeat",{}]', 5.0)
    assert s.reply("b", b'{"currentTime":"t"}')
    assert s.unanswered == ["a"]
    assert s.tick(25.0) == [AnswerOverdue("a", "Heartbeat")]
    s.reply_error("a", ErrorCode.INTERNAL_ERROR, "late")
    assert [frame[:2] for frame in sent(s)] == [[4, "a"], [3, "b"]]
    assert s.tick(100.0) == []


def test_a_new_call_reusing_the_id_of_an_overdue_one_has_a_deadline_of_its_own() -> None:
    """OCPP-J 4.1.4 asks senders for fresh ids; one reused after its answer was evicted from the
    cache is a new CALL, neither late nor overdue until its own deadline."""
    s = new_session(answer_timeout=20.0, answered_cache=0)
    s.receive_text('[2,"a","Heartbeat",{}]', 0.0)
    s.tick(20.0)
    s.reply_error("a", ErrorCode.INTERNAL_ERROR, "late")
    s.data_to_send()
    assert isinstance(s.receive_text('[2,"a","Heartbeat",{}]', 30.0)[0], CallReceived)
    assert not s.overdue("a") and s.awaits_answer("a")
    assert s.next_deadline() == 50.0


def test_without_an_answer_timeout_the_peer_may_take_as_long_as_it_likes() -> None:
    """The station side (simulator) sets no deadline on its own answers."""
    s = new_session()
    s.receive_text('[2,"a","Reset",{"type":"Soft"}]', 0.0)
    assert s.next_deadline() is None and s.tick(1e9) == []
    assert s.reply("a", b'{"status":"Accepted"}')


def test_a_new_connection_never_matches_an_answer_for_a_call_of_the_previous_one() -> None:
    """Message ids are per WebSocket connection (OCPP-J 4.1.4): a session is one connection, so a
    reply with the right id but for the stale connection is not matched by the new one, and the old
    one, once its connection is gone, awaits nothing (no answer could reach the station)."""
    old, new = new_session(answer_timeout=20.0), new_session(answer_timeout=20.0)
    old.receive_text('[2,"a","Heartbeat",{}]', 0.0)
    old.drop_peer_calls()
    assert not new.reply("a", b'{"currentTime":"t"}') and not new.overdue("a")
    assert not old.reply("a", b'{"currentTime":"t"}')
    assert sent(new) == [] and sent(old) == []
    assert old.tick(100.0) == [] and old.unanswered == []


def test_dropping_the_peer_calls_leaves_our_own_call_in_flight() -> None:
    s = new_session(answer_timeout=20.0, call_timeout=30.0)
    s.send_call("Reset", b"{}", 0.0, ref="c1")
    s.receive_text('[2,"a","Heartbeat",{}]', 0.0)
    s.drop_peer_calls()
    assert s.outstanding == "our-1" and s.next_deadline() == 30.0


def test_a_queued_call_whose_deadline_passed_while_waiting_is_skipped_when_its_turn_comes() -> None:
    """One CALL in flight per direction (OCPP-J 4.1.1): the next goes out when the previous is
    answered; one whose caller gave up in the meantime never goes out, the one after it does."""
    s = new_session()
    s.send_call("Reset", b"{}", 0.0, ref="c1")
    s.send_call("ClearCache", b"{}", 0.0, ref="c2", deadline=5.0)
    s.send_call("Heartbeat", b"{}", 0.0, ref="c3")
    s.data_to_send()
    events = s.receive_text('[3,"our-1",{"status":"Accepted"}]', 6.0)
    assert [type(e) for e in events] == [ResultReceived, CallExpired]
    assert events[1] == CallExpired("ClearCache", "c2")
    assert sent(s) == [[2, "our-2", "Heartbeat", {}]]
    assert s.is_in_flight("c3") and not s.is_in_flight("c2")


def test_only_the_call_on_the_wire_is_in_flight() -> None:
    s = new_session()
    s.send_call("Reset", b"{}", 0.0, ref="c1")
    s.send_call("ClearCache", b"{}", 0.0, ref="c2")
    assert s.is_in_flight("c1") and not s.is_in_flight("c2")
    s.receive_text('[3,"our-1",{"status":"Accepted"}]', 1.0)
    assert s.is_in_flight("c2") and not s.is_in_flight("c1")


def test_our_default_message_ids_are_fresh_and_fit_the_36_character_limit() -> None:
    """OCPP-J 4.1.4: a CALL's message id differs from every earlier one on the connection and is at
    most 36 characters ("to allow for GUIDs"): the default ids are UUIDs."""
    s = Session()
    s.send_call("Reset", b"{}", 0.0)
    s.tick(100.0)  # timed out: the next one goes out
    s.send_call("Reset", b"{}", 100.0)
    first, second = [json.loads(o.text)[1] for o in s.data_to_send()]
    assert first != second and len(first) == len(second) == 36


def test_the_memory_of_timed_out_calls_is_bounded() -> None:
    """A reply to a CALL that timed out long ago is reported as unknown, not late: the session keeps
    only the last ``late_memory`` ids, so a station answering garbage ids cannot grow it."""
    s = new_session(call_timeout=1.0, late_memory=1)
    s.send_call("Reset", b"{}", 0.0)
    s.tick(1.0)
    s.send_call("Reset", b"{}", 1.0)
    s.tick(2.0)
    assert s.receive_text('[3,"our-1",{}]', 3.0) == [UnexpectedReply(3, "our-1", late=False)]
    assert s.receive_text('[3,"our-2",{}]', 3.0) == [UnexpectedReply(3, "our-2", late=True)]


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
