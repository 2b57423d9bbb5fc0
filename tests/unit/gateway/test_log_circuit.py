"""The gateway's log circuit (ADR 0023) with plain numbers: open on a failed write, refuse at once
while open but for one probe per ``retry_after``, closed by the first acknowledged write."""

from __future__ import annotations

from services.gateway.logstate import LogCircuit


def test_closed_lets_every_write_through() -> None:
    c = LogCircuit(retry_after=1.0)
    assert all(c.allow(t) for t in (0.0, 0.0, 0.1))
    assert c.available and c.refused == 0


def test_a_failed_write_opens_it_and_later_writes_are_refused_until_the_probe_time() -> None:
    c = LogCircuit(retry_after=1.0)
    assert c.failed(10.0) is True
    assert not c.available
    assert not c.allow(10.5)
    assert not c.allow(10.9)
    assert c.refused == 2


def test_one_probe_at_a_time_and_a_failed_probe_waits_again() -> None:
    c = LogCircuit(retry_after=1.0)
    c.failed(10.0)
    assert c.allow(11.0)  # the probe
    assert not c.allow(11.1)  # another write while the probe is out
    assert c.failed(16.0) is False  # the probe timed out: still open, not opened again
    assert c.down_since == 10.0
    assert not c.allow(16.5)
    assert c.allow(17.0)


def test_an_acknowledged_write_closes_it_and_says_since_when_it_was_down() -> None:
    c = LogCircuit(retry_after=1.0)
    c.failed(10.0)
    assert c.allow(11.0)
    assert c.succeeded() == 10.0
    assert c.available and c.allow(11.1) and c.allow(11.1)
    assert c.succeeded() is None
