"""The gateway's keepalive schedule (services/gateway/keepalive.py), with plain values for time."""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.keepalive import KeepaliveSchedule


@dataclass
class Answer:
    came: bool = False

    def done(self) -> bool:
        return self.came


def always(_: str) -> bool:
    return True


def test_a_connection_is_pinged_every_interval_from_when_it_was_added() -> None:
    k: KeepaliveSchedule[str] = KeepaliveSchedule(interval=20, timeout=20)
    k.add("a", now=0)
    k.add("b", now=5)
    assert k.to_ping(19.9, always) == []
    assert k.to_ping(20, always) == ["a"]
    assert k.to_ping(25, always) == ["b"]
    assert k.to_ping(39, always) == []
    assert k.to_ping(40, always) == ["a"]
    assert k.next_due() == 45


def test_a_pong_within_the_timeout_keeps_the_connection() -> None:
    k: KeepaliveSchedule[str] = KeepaliveSchedule(interval=20, timeout=10)
    answer = Answer()
    k.pinged("a", now=20, pong=answer)
    answer.came = True
    assert k.late(30, always) == []


def test_no_pong_within_the_timeout_makes_it_late_once() -> None:
    k: KeepaliveSchedule[str] = KeepaliveSchedule(interval=20, timeout=10)
    k.pinged("a", now=20, pong=Answer())
    assert k.late(29.9, always) == []
    assert k.late(30, always) == ["a"]
    assert k.late(60, always) == []


def test_a_ping_that_could_not_be_written_counts_as_unanswered() -> None:
    # The connection's write buffer is full: its peer has stopped reading (OCPP-J 5.3 keep-alive).
    k: KeepaliveSchedule[str] = KeepaliveSchedule(interval=20, timeout=10)
    k.pinged("a", now=20, pong=None)
    assert k.late(30, always) == ["a"]


def test_closed_connections_leave_the_schedule_and_are_never_late() -> None:
    k: KeepaliveSchedule[str] = KeepaliveSchedule(interval=20, timeout=10)
    k.add("a", now=0)
    k.pinged("b", now=0, pong=Answer())
    assert k.late(10, lambda c: c != "b") == []
    assert k.to_ping(20, lambda c: c != "a") == []
    assert k.next_due() is None


def test_without_a_timeout_nothing_is_ever_late() -> None:
    k: KeepaliveSchedule[str] = KeepaliveSchedule(interval=20, timeout=None)
    k.pinged("a", now=0, pong=Answer())
    assert k.late(1000, always) == []
