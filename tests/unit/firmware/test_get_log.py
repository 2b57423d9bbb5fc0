"""GetLog (whitepaper 5.9-5.13, N01) rides on the diagnostics machinery: a request with a logType
becomes GetLog with the system's upload location, its answer's status is kept, and a
LogStatusNotification is linked to it by requestId (a DiagnosticsStatusNotification never is)."""

from __future__ import annotations

from services.firmware import calls, decide
from services.firmware.events import (
    DiagnosticsAnswered,
    DiagnosticsRequested,
    DiagnosticsSent,
    DiagnosticsStatus,
)
from services.firmware.state import State
from shared.events.commands import OutcomeStatus
from shared.ocpp.v16.messages import DiagnosticsStatusNotificationRequest, LogStatusNotificationRequest
from tests.unit.firmware.test_campaign import apply
from tests.unit.firmware.test_decide import outcome


def log_request(request_id: str = "r", log_request_id: int = 42) -> DiagnosticsRequested:
    return DiagnosticsRequested(
        request_id=request_id,
        station_id="S",
        token="t",
        start_time="2026-01-01T00:00:00Z",
        retries=2,
        log_type="SecurityLog",
        log_request_id=log_request_id,
        at_ms=0,
    )


def sent_state() -> State:
    state = State()
    apply(state, [log_request()])
    apply(state, decide.tick(state, 1, 1000))
    return state


def test_get_log_carries_the_system_location_and_request_id() -> None:
    state = State()
    apply(state, [log_request()])
    payload = calls.get_log(state.diagnostics["r"], "http://files/diagnostics/r/t/")
    assert payload == {
        "logType": "SecurityLog",
        "requestId": 42,
        "log": {"remoteLocation": "http://files/diagnostics/r/t/", "oldestTimestamp": "2026-01-01T00:00:00Z"},
        "retries": 2,
    }


def test_the_answer_keeps_get_log_status_and_filename() -> None:
    state = sent_state()
    cases = [
        (b'{"status":"Accepted","filename":"sec.log"}', "Accepted", "sec.log"),
        (b'{"status":"Rejected"}', "Rejected", None),
        (b'{"status":"AcceptedCanceled"}', "AcceptedCanceled", None),
    ]
    for payload, status, file_name in cases:
        answer = decide.GetDiagnosticsAnswered("r", "S", outcome(OutcomeStatus.RESULT, payload))
        _, [event] = decide.answered(state, answer, 7)
        assert isinstance(event, DiagnosticsAnswered)
        assert (event.status, event.file_name, event.error) == (status, file_name, None)
    _, [event] = decide.answered(
        state,
        decide.GetDiagnosticsAnswered("r", "S", outcome(OutcomeStatus.RESULT, b'{"status":"Rejected"}')),
        7,
    )
    apply(state, [event])
    assert state.diagnostics["r"].status == "Rejected"


def test_log_status_is_linked_by_request_id() -> None:
    state = sent_state()
    uploading = LogStatusNotificationRequest(status="Uploading", request_id=42)
    _, [event] = decide.decide(state, uploading, decide.Frame("S", 5))
    assert isinstance(event, DiagnosticsStatus) and (event.request_id, event.status) == ("r", "Uploading")
    apply(state, [event])
    assert state.diagnostics["r"].status == "Uploading"
    # Another requestId, another station, no requestId (a triggered Idle): about no request.
    for request, station in [
        (LogStatusNotificationRequest(status="Uploaded", request_id=7), "S"),
        (LogStatusNotificationRequest(status="Uploaded", request_id=42), "other"),
        (LogStatusNotificationRequest(status="Idle"), "S"),
    ]:
        assert decide.decide(state, request, decide.Frame(station, 6)) == (None, [])


def test_a_diagnostics_status_is_never_about_a_log_request() -> None:
    state = sent_state()
    dsn = DiagnosticsStatusNotificationRequest(status="Uploaded")
    assert decide.decide(state, dsn, decide.Frame("S", 5)) == (None, [])


def test_a_log_request_is_sent_once() -> None:
    state = State()
    apply(state, [log_request()])
    [event] = decide.tick(state, 1, 1000)
    assert isinstance(event, DiagnosticsSent)
    apply(state, [event])
    assert decide.tick(state, 2, 1000) == []
