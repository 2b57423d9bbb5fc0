"""The service's four decision entries (shared/decision.py's shape): what a frame, the clock, a
station's answer and an upload decide; the reply is always None (the stations service answers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from services.firmware import decide
from services.firmware.events import (
    DiagnosticsAnswered,
    DiagnosticsFileStored,
    DiagnosticsRequested,
    DiagnosticsStatus,
    FirmwareEvent,
    StationDispatched,
    StationFinished,
    StationProgress,
    StationWaiting,
)
from services.firmware.state import State, Step, evolve
from services.firmware.storage import Stored
from shared.decision import Decide, Evolve
from shared.events.commands import CommandOutcome, OutcomeStatus
from shared.ocpp.v16.messages import (
    BootNotificationRequest,
    DiagnosticsStatusNotificationRequest,
    FirmwareStatusNotificationRequest,
)
from tests.unit.firmware.test_campaign import TIMEOUT, apply, setup


def bare(events: Sequence[FirmwareEvent]) -> list[dict[str, Any]]:
    """The events without their random ids: what two decisions of the same input share."""
    return [{k: v for k, v in msgspec.structs.asdict(e).items() if k != "id"} for e in events]


def outcome(status: OutcomeStatus, payload: bytes = b"{}", **fields: object) -> CommandOutcome:
    return CommandOutcome(
        command_id="x",
        station_id="S0",
        status=status,
        payload=msgspec.Raw(payload),
        **fields,  # type: ignore[arg-type]
    )


def test_the_entries_have_the_one_shape() -> None:
    """mypy checks these assignments: each entry is a ``Decide`` (shared/decision.py), ``evolve`` an ``Evolve``."""
    entries: list[object] = []
    on_frame: Decide[State, decide.Watched, decide.Frame, None, FirmwareEvent] = decide.decide
    on_clock: Decide[State, int, decide.Sweep, None, FirmwareEvent] = decide.sweep
    on_answer: Decide[
        State, decide.UpdateFirmwareAnswered | decide.GetDiagnosticsAnswered, int, None, FirmwareEvent
    ] = decide.answered
    on_upload: Decide[State, decide.Uploaded, int, None, FirmwareEvent] = decide.uploaded
    change: Evolve[State, FirmwareEvent] = evolve
    entries += [on_frame, on_clock, on_answer, on_upload, change]
    assert all(callable(e) for e in entries)


def test_frames_are_decided_by_their_request_type_without_a_reply() -> None:
    state = setup(1, batch=1, in_flight=1)
    apply(state, list(decide.sweep(state, 0, decide.Sweep(TIMEOUT, lambda _: True))[1]))
    frame = decide.Frame("S0", 10)
    reply, events = decide.decide(state, FirmwareStatusNotificationRequest(status="Installed"), frame)
    assert reply is None and bare(events) == bare(decide.on_firmware_status(state, "S0", "Installed", 10))
    apply(state, list(events))
    reply, events = decide.decide(
        state,
        BootNotificationRequest(charge_point_vendor="V", charge_point_model="M", firmware_version="2.0"),
        frame,
    )
    assert reply is None and [type(e) for e in events] == [StationProgress, StationFinished]
    finished = events[-1]
    assert isinstance(finished, StationFinished) and finished.succeeded
    # A boot without a version: the unset field reads as None, which does not tell yet.
    state = setup(1, batch=1, in_flight=1)
    apply(state, decide.tick(state, 0, TIMEOUT))
    apply(state, decide.on_firmware_status(state, "S0", "Installed", 1))
    _, events = decide.decide(
        state, BootNotificationRequest(charge_point_vendor="V", charge_point_model="M"), frame
    )
    [booted] = events
    assert isinstance(booted, StationProgress) and booted.firmware_version is None
    state = State()
    apply(state, [DiagnosticsRequested(request_id="r", station_id="S", token="t", at_ms=0)])
    apply(state, decide.tick(state, 1, TIMEOUT))
    _, events = decide.decide(
        state, DiagnosticsStatusNotificationRequest(status="Uploading"), decide.Frame("S", 2)
    )
    assert [type(e) for e in events] == [DiagnosticsStatus]


def test_the_sweep_is_the_tick() -> None:
    state = setup(3, batch=3, in_flight=2)
    reply, events = decide.sweep(state, 5, decide.Sweep(TIMEOUT, lambda _: False))
    assert reply is None and bare(events) == bare(decide.tick(state, 5, TIMEOUT))
    assert [e.station_id for e in events if isinstance(e, StationDispatched)] == ["S0", "S1"]


def test_the_answer_to_update_firmware() -> None:
    state = setup(3, batch=3, in_flight=3)
    apply(state, decide.tick(state, 0, TIMEOUT))
    answers = {
        "S0": outcome(OutcomeStatus.RESULT),
        "S1": outcome(OutcomeStatus.ERROR, error_code="NotSupported", error_description="no"),
        "S2": None,  # not connected: waits
    }
    for station_id, answer in answers.items():
        reply, events = decide.answered(state, decide.UpdateFirmwareAnswered("c", station_id, answer), 1)
        assert reply is None
        apply(state, list(events))
    runs = state.campaigns["c"].stations
    assert [runs[s].step for s in ("S0", "S1", "S2")] == [Step.SENT, Step.FAILED, Step.WAITING]
    assert runs["S1"].reason == "CallError NotSupported: no"


def test_describe_says_why_a_call_did_not_work() -> None:
    assert decide.describe(outcome(OutcomeStatus.RESULT)) is None
    assert decide.describe(None) == decide.describe(outcome(OutcomeStatus.UNDELIVERABLE)) == "NotConnected"
    assert decide.describe(outcome(OutcomeStatus.ERROR, error_code="X")) == "CallError X:"
    assert decide.describe(outcome(OutcomeStatus.TIMEOUT)) == "Timeout: no answer"
    assert decide.describe(outcome(OutcomeStatus.INVALID, error_description="bad")) == "Invalid: bad"


def test_the_answer_to_get_diagnostics_names_the_file_or_the_error() -> None:
    state = State()
    apply(state, [DiagnosticsRequested(request_id="r", station_id="S", token="t", at_ms=0)])
    cases = [
        (outcome(OutcomeStatus.RESULT, b'{"fileName":"d.log"}'), "d.log", None),
        (outcome(OutcomeStatus.RESULT, b"{}"), None, None),  # nothing to upload (6.26)
        (outcome(OutcomeStatus.RESULT, b""), None, None),
        (None, None, "NotConnected"),
    ]
    for answer, file_name, error in cases:
        reply, [event] = decide.answered(state, decide.GetDiagnosticsAnswered("r", "S", answer), 7)
        assert reply is None and isinstance(event, DiagnosticsAnswered)
        assert (event.request_id, event.file_name, event.error, event.at_ms) == ("r", file_name, error, 7)


def test_an_upload_is_recorded_for_a_known_request_only() -> None:
    state = State()
    apply(state, [DiagnosticsRequested(request_id="r", station_id="S", token="t", at_ms=0)])
    stored = Stored("diagnostics/r/d.log", 3, "abc")
    reply, [event] = decide.uploaded(state, decide.Uploaded("r", "d.log", stored, "ftp"), 9)
    assert reply is None and isinstance(event, DiagnosticsFileStored)
    assert (event.station_id, event.file_name, event.size, event.sha256, event.storage_key, event.via) == (
        "S",
        "d.log",
        3,
        "abc",
        "diagnostics/r/d.log",
        "ftp",
    )
    evolve(state, event)
    assert state.diagnostics["r"].stored
    assert decide.uploaded(state, decide.Uploaded("unknown", "d.log", stored, "http"), 9) == (None, [])


def test_not_connected_waits_until_the_offline_deadline() -> None:
    state = setup(1, batch=1, in_flight=1)
    apply(state, decide.tick(state, 0, TIMEOUT))
    _, [event] = decide.answered(state, decide.UpdateFirmwareAnswered("c", "S0", None), 100)
    assert isinstance(event, StationWaiting) and event.until_ms == 100 + 3600 * 1000
