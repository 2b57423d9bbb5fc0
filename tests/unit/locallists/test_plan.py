"""Pure tests of local-list planning: Full vs Differential, only the changes, versions, max lengths."""

from __future__ import annotations

from typing import Any

from services.locallists.plan import Held, apply, changes, plan

A: dict[str, Any] = {"status": "Accepted"}
B: dict[str, Any] = {"status": "Blocked"}


def test_first_list_and_empty_station_get_a_full_update_with_every_entry() -> None:
    p = plan({"X": A, "Y": A}, 0, None)
    (send,) = p.sends
    assert send.update_type == "Full" and send.list_version == 1
    assert send.payload()["localAuthorizationList"] == [
        {"idTag": "X", "idTagInfo": A},
        {"idTag": "Y", "idTagInfo": A},
    ]
    assert plan({"X": A}, 0, Held(0, {})).sends[0].update_type == "Full"


def test_differential_carries_only_what_changed() -> None:
    held = Held(4, {"KEEP": A, "CHANGE": A, "DROP": A})
    (send,) = plan({"KEEP": A, "CHANGE": B, "ADD": A}, 4, held).sends
    assert send.update_type == "Differential" and send.list_version == 5
    assert send.entries == [("ADD", A), ("CHANGE", B), ("DROP", None)]
    assert send.payload()["localAuthorizationList"][-1] == {"idTag": "DROP"}
    assert apply(held.entries or {}, send) == {"KEEP": A, "CHANGE": B, "ADD": A}


def test_nothing_changed_sends_nothing() -> None:
    p = plan({"X": A}, 3, Held(3, {"X": A}))
    assert p.sends == [] and p.outcome == "UpToDate"


def test_unknown_content_or_another_version_means_full() -> None:
    assert plan({"X": A}, 3, Held(3, None)).sends[0].update_type == "Full"
    full = plan({"X": A}, 9, Held(3, {"X": A})).sends[0]
    assert full.update_type == "Full" and full.list_version == 10
    assert plan({"X": A}, 3, Held(3, {}), force="Full").sends[0].update_type == "Full"


def test_not_supported_and_too_long() -> None:
    assert plan({"X": A}, -1, None).outcome == "NotSupported"
    p = plan({"X": A, "Y": A}, 0, None, max_total=1)
    assert p.sends == [] and p.outcome == "ListTooLong"


def test_split_by_send_local_list_max_length() -> None:
    desired = {f"T{i}": A for i in range(5)}
    sends = plan(desired, 2, None, max_send=2).sends
    assert [(s.update_type, s.list_version, len(s.entries)) for s in sends] == [
        ("Full", 3, 2),
        ("Differential", 4, 2),
        ("Differential", 5, 1),
    ]
    held: dict[str, Any] = {}
    for s in sends:
        held = apply(held, s)
    assert held == desired


def test_changes_is_empty_for_equal_lists() -> None:
    assert changes({"X": A}, {"X": dict(A)}) == []
