"""The campaign engine without I/O: decide from state and a hand-driven clock, evolve with the events."""

from __future__ import annotations

from services.firmware import decide
from services.firmware.events import (
    CampaignAborted,
    CampaignCreated,
    CampaignFinished,
    CampaignPaused,
    CampaignResumed,
    DiagnosticsAnswered,
    DiagnosticsRequested,
    DiagnosticsSent,
    DiagnosticsStatus,
    FirmwareEvent,
    ImageAdded,
    Policy,
    StationDispatched,
    StationFinished,
    encode_event,
    event_decoder,
)
from services.firmware.state import Campaign, CampaignStatus, State, StationRun, Step, evolve

TIMEOUT = 60_000


def apply(state: State, events: list[FirmwareEvent]) -> list[FirmwareEvent]:
    for e in events:
        evolve(state, e)
    return events


def setup(
    n: int, *, batch: int, in_flight: int, threshold: float = 0.5, version: str | None = "2.0"
) -> State:
    state = State()
    apply(
        state,
        [
            ImageAdded(
                image_id="img", name="fw.bin", version=version, size=3, sha256="x", storage_key="k", at_ms=0
            ),
            CampaignCreated(
                campaign_id="c",
                image_id="img",
                stations=[f"S{i}" for i in range(n)],
                target={"stations": []},
                policy=Policy(batch_size=batch, max_in_flight=in_flight, failure_threshold=threshold),
                token="t",
                at_ms=0,
            ),
        ],
    )
    return state


def dispatched(events: list[FirmwareEvent]) -> list[str]:
    return [e.station_id for e in events if isinstance(e, StationDispatched)]


def step(run: StationRun) -> Step:
    """A call, not the attribute: mypy would keep an earlier assert's narrowing past the events applied since."""
    return run.step


def status(campaign: Campaign) -> CampaignStatus:
    """As step()."""
    return campaign.status


def succeed(state: State, station: str, at: int) -> None:
    for status in ("Downloading", "Downloaded", "Installing"):
        apply(state, decide.on_firmware_status(state, station, status, at))
    apply(state, decide.on_boot(state, station, "2.0", at))
    apply(state, decide.on_firmware_status(state, station, "Installed", at))


def test_batches_run_in_order_and_in_flight_is_capped() -> None:
    state = setup(5, batch=3, in_flight=2)
    assert dispatched(apply(state, decide.tick(state, 1000, TIMEOUT))) == ["S0", "S1"]
    assert dispatched(apply(state, decide.tick(state, 1100, TIMEOUT))) == []  # 2 in flight
    succeed(state, "S0", 1200)
    assert dispatched(apply(state, decide.tick(state, 1300, TIMEOUT))) == ["S2"]
    succeed(state, "S1", 1400)
    # S2 (batch 0) still runs: batch 1 waits although a slot is free.
    assert dispatched(apply(state, decide.tick(state, 1500, TIMEOUT))) == []
    succeed(state, "S2", 1600)
    assert dispatched(apply(state, decide.tick(state, 1700, TIMEOUT))) == ["S3", "S4"]
    succeed(state, "S3", 1800)
    succeed(state, "S4", 1800)
    events = apply(state, decide.tick(state, 1900, TIMEOUT))
    assert any(isinstance(e, CampaignFinished) for e in events)
    assert state.campaigns["c"].status is CampaignStatus.COMPLETED
    assert {r.step for r in state.campaigns["c"].stations.values()} == {Step.SUCCEEDED}


def test_success_needs_the_new_version_in_either_order() -> None:
    state = setup(3, batch=3, in_flight=3)
    apply(state, decide.tick(state, 0, TIMEOUT))
    runs = state.campaigns["c"].stations
    # Installed first, then the boot confirms.
    apply(state, decide.on_firmware_status(state, "S0", "Installed", 1))
    assert step(runs["S0"]) is Step.INSTALLED
    apply(state, decide.on_boot(state, "S0", "2.0", 2))
    assert step(runs["S0"]) is Step.SUCCEEDED
    # Boot first (OCTT TC_044_1), then Installed.
    apply(state, decide.on_firmware_status(state, "S1", "Installing", 1))
    apply(state, decide.on_boot(state, "S1", "2.0", 2))
    assert step(runs["S1"]) is Step.INSTALLING
    apply(state, decide.on_firmware_status(state, "S1", "Installed", 3))
    assert step(runs["S1"]) is Step.SUCCEEDED
    # The station came back with its old version: not a success.
    apply(state, decide.on_firmware_status(state, "S2", "Installed", 1))
    apply(state, decide.on_boot(state, "S2", "1.0", 2))
    assert step(runs["S2"]) is Step.FAILED and "VersionMismatch" in (runs["S2"].reason or "")


def test_without_a_version_installed_is_enough() -> None:
    state = setup(1, batch=1, in_flight=1, version=None)
    apply(state, decide.tick(state, 0, TIMEOUT))
    apply(state, decide.on_firmware_status(state, "S0", "Installed", 1))
    assert state.campaigns["c"].stations["S0"].step is Step.SUCCEEDED


def test_failures_and_the_threshold_pause_then_resume_and_abort() -> None:
    state = setup(6, batch=3, in_flight=3, threshold=0.3)
    apply(state, decide.tick(state, 0, TIMEOUT))
    apply(state, decide.on_firmware_status(state, "S0", "DownloadFailed", 1))
    runs = state.campaigns["c"].stations
    assert step(runs["S0"]) is Step.FAILED and runs["S0"].reason == "DownloadFailed"
    events = apply(state, decide.tick(state, 2, TIMEOUT))  # 1/3 > 0.3
    assert [type(e) for e in events] == [CampaignPaused]
    assert status(state.campaigns["c"]) is CampaignStatus.PAUSED
    succeed(state, "S1", 3)
    apply(state, decide.on_firmware_status(state, "S2", "InstallationFailed", 3))
    assert dispatched(apply(state, decide.tick(state, 4, TIMEOUT))) == []  # paused: nothing sent
    apply(state, [CampaignResumed(campaign_id="c", at_ms=5)])
    # The operator accepted batch 0's failures: batch 1 starts.
    assert dispatched(apply(state, decide.tick(state, 6, TIMEOUT))) == ["S3", "S4", "S5"]
    apply(state, [CampaignAborted(campaign_id="c", at_ms=7)])
    assert status(state.campaigns["c"]) is CampaignStatus.ABORTED
    # In-flight updates are still followed after an abort (1.6 cannot cancel them).
    succeed(state, "S3", 8)
    assert step(runs["S3"]) is Step.SUCCEEDED


def test_abort_skips_what_was_not_sent() -> None:
    state = setup(4, batch=2, in_flight=2)
    apply(state, decide.tick(state, 0, TIMEOUT))
    apply(state, [CampaignAborted(campaign_id="c", at_ms=1)])
    steps = {s: r.step for s, r in state.campaigns["c"].stations.items()}
    assert steps == {"S0": Step.SENT, "S1": Step.SENT, "S2": Step.SKIPPED, "S3": Step.SKIPPED}
    assert dispatched(decide.tick(state, 2, TIMEOUT)) == []


def test_a_silent_station_times_out_and_counts_as_a_failure() -> None:
    state = setup(2, batch=2, in_flight=2, threshold=0.4)
    apply(state, decide.tick(state, 0, TIMEOUT))
    apply(state, decide.on_firmware_status(state, "S0", "Downloading", 10_000))
    events = apply(state, decide.tick(state, 65_000, TIMEOUT))  # S1 silent since 0, S0 since 10 s
    finished = [e for e in events if isinstance(e, StationFinished)]
    assert [(e.station_id, e.succeeded) for e in finished] == [("S1", False)]
    assert finished[0].reason is not None and finished[0].reason.startswith("Timeout")
    assert any(isinstance(e, CampaignPaused) for e in events)  # 1/2 > 0.4, in the same tick


def test_a_refused_dispatch_fails_the_station() -> None:
    state = setup(1, batch=1, in_flight=1)
    apply(state, decide.tick(state, 0, TIMEOUT))
    apply(state, [decide.dispatch_outcome(state, "c", "S0", "CallError NotSupported: no", 1)])
    assert state.campaigns["c"].stations["S0"].step is Step.FAILED


def test_an_offline_station_waits_without_holding_its_batch_and_goes_when_connected() -> None:
    state = setup(3, batch=1, in_flight=1)
    state.campaigns["c"].policy.offline_wait_s = 60
    assert dispatched(apply(state, decide.tick(state, 0, TIMEOUT))) == ["S0"]
    apply(state, [decide.dispatch_outcome(state, "c", "S0", "NotConnected", 10)])
    assert state.campaigns["c"].stations["S0"].step is Step.WAITING
    assert dispatched(apply(state, decide.tick(state, 20, TIMEOUT))) == ["S1"]  # batch 1 goes on
    succeed(state, "S1", 30)
    online = {"S0"}
    # S0 is back: it goes before the next batch's S2 (in-flight room for one).
    assert dispatched(apply(state, decide.tick(state, 40, TIMEOUT, online.__contains__))) == ["S0"]
    # Not delivered again: it keeps its first deadline (60 s after the first try).
    apply(state, [decide.dispatch_outcome(state, "c", "S0", "NotConnected", 50)])
    assert state.campaigns["c"].stations["S0"].waiting_until_ms == 60_010
    assert dispatched(apply(state, decide.tick(state, 60, TIMEOUT))) == ["S2"]
    succeed(state, "S2", 70)
    assert not any(isinstance(e, CampaignFinished) for e in decide.tick(state, 80, TIMEOUT))  # S0 open
    events = apply(state, decide.tick(state, 60_011, TIMEOUT))
    [failed] = [e for e in events if isinstance(e, StationFinished)]
    assert failed.station_id == "S0" and failed.reason == "Offline: not connected within 60s"
    assert any(isinstance(e, CampaignFinished) for e in events)  # nothing else is open


def test_an_aborted_campaign_skips_waiting_stations() -> None:
    state = setup(2, batch=2, in_flight=2)
    apply(state, decide.tick(state, 0, TIMEOUT))
    apply(state, [decide.dispatch_outcome(state, "c", "S0", "NotConnected", 1)])
    apply(state, [CampaignAborted(campaign_id="c", at_ms=2)])
    assert state.campaigns["c"].stations["S0"].step is Step.SKIPPED


def test_status_of_a_station_without_an_update_is_ignored() -> None:
    state = setup(1, batch=1, in_flight=1)
    assert decide.on_firmware_status(state, "S0", "Downloading", 1) == []  # not dispatched yet
    assert decide.on_firmware_status(state, "other", "Downloading", 1) == []
    apply(state, decide.tick(state, 100_000, TIMEOUT))
    # A message from long before the dispatch (read late, e.g. after a restart) is not about it.
    assert decide.on_firmware_status(state, "S0", "Installed", 50_000) == []
    assert decide.on_firmware_status(state, "S0", "Downloading", 100_500) != []


def test_evolve_is_idempotent_and_events_round_trip() -> None:
    state = setup(2, batch=2, in_flight=1)
    events = decide.tick(state, 0, TIMEOUT)
    for event in events:
        evolve(state, event)
        evolve(state, event_decoder.decode(encode_event(event)))  # read back from the log
    apply(state, decide.on_firmware_status(state, "S0", "Downloading", 1))
    for event in events:
        evolve(state, event)  # a late re-delivery does not move S0 back to Sent
    assert state.campaigns["c"].stations["S0"].step is Step.DOWNLOADING


def test_diagnostics_status_follows_the_newest_sent_request() -> None:
    state = State()
    apply(state, [DiagnosticsRequested(request_id="r1", station_id="S", token="t", at_ms=0)])
    assert decide.on_diagnostics_status(state, "S", "Uploading", 1) == []  # not sent yet
    sent = apply(state, decide.tick(state, 1, TIMEOUT))
    assert [type(e) for e in sent] == [DiagnosticsSent]
    apply(state, decide.on_diagnostics_status(state, "S", "Uploading", 2))
    # The answer arrives after the first status: it does not set the status back.
    apply(state, [DiagnosticsAnswered(request_id="r1", station_id="S", file_name="f.log", at_ms=3)])
    assert state.diagnostics["r1"].status == "Uploading" and state.diagnostics["r1"].file_name == "f.log"
    apply(state, decide.on_diagnostics_status(state, "S", "Uploaded", 4))
    assert state.diagnostics["r1"].status == "Uploaded"
    assert decide.on_diagnostics_status(state, "S", "Idle", 5) == []
    # A new request takes over the station's notifications.
    apply(state, [DiagnosticsRequested(request_id="r2", station_id="S", token="t", at_ms=6)])
    apply(state, decide.tick(state, 7, TIMEOUT))
    [event] = decide.on_diagnostics_status(state, "S", "Uploading", 8)
    assert isinstance(event, DiagnosticsStatus)
    assert event.request_id == "r2"


def test_a_campaign_paused_on_its_last_batch_completes_when_everything_ended() -> None:
    state = setup(2, batch=2, in_flight=2, threshold=0.1)
    apply(state, decide.tick(state, 0, TIMEOUT))
    apply(state, decide.on_firmware_status(state, "S0", "DownloadFailed", 1))
    apply(state, decide.tick(state, 2, TIMEOUT))
    assert status(state.campaigns["c"]) is CampaignStatus.PAUSED
    succeed(state, "S1", 3)
    events = apply(state, decide.tick(state, 4, TIMEOUT))
    assert [type(e) for e in events] == [CampaignFinished]
    assert status(state.campaigns["c"]) is CampaignStatus.COMPLETED


def test_a_dispatched_station_is_not_timed_out_before_its_update_firmware_had_its_answer() -> None:
    """The CALL may wait for a station that disconnected a moment ago to reconnect; its own outcome
    (accepted, not connected -> Waiting, timeout) decides, the sweep only after the CALL's longest wait.
    Before, a station just gone offline could fail as "Timeout (in Sent)" instead of waiting."""
    state = setup(1, batch=1, in_flight=1)
    apply(state, decide.tick(state, 0, TIMEOUT))
    run = state.campaigns["c"].stations["S0"]
    assert run.awaiting_answer
    assert decide.tick(state, TIMEOUT + 1, TIMEOUT, answer_allowance_ms=15_000) == []
    apply(state, [decide.dispatch_outcome(state, "c", "S0", decide.NOT_CONNECTED, 14_000)])
    assert step(run) is Step.WAITING and not run.awaiting_answer
    # Back online, sent again, and this time accepted: from the answer on, silence counts as usual.
    apply(state, decide.tick(state, 20_000, TIMEOUT, lambda _: True, answer_allowance_ms=15_000))
    assert step(run) is Step.SENT and run.awaiting_answer
    apply(state, [decide.dispatch_outcome(state, "c", "S0", None, 21_000)])
    assert not run.awaiting_answer
    events = decide.tick(state, 21_000 + TIMEOUT + 1, TIMEOUT, answer_allowance_ms=15_000)
    [finished] = [e for e in events if isinstance(e, StationFinished)]
    assert finished.reason is not None
    assert finished.reason.startswith("Timeout") and "(in Sent)" in finished.reason
    # With no answer at all, the sweep times the station out after the CALL's longest wait.
    state = setup(1, batch=1, in_flight=1)
    apply(state, decide.tick(state, 0, TIMEOUT))
    events = decide.tick(state, TIMEOUT + 15_001, TIMEOUT, answer_allowance_ms=15_000)
    assert [e.succeeded for e in events if isinstance(e, StationFinished)] == [False]


def test_a_boot_read_late_is_not_the_answer_to_update_firmware_nor_newer_news() -> None:
    """A BootNotification from before the dispatch, read after it (within the clock slack), once
    ended the CALL's allowance and moved the last sign of life back: the station timed out
    "(in Sent)" while its UpdateFirmware was still waiting for it to reconnect."""
    state = setup(1, batch=1, in_flight=1)
    apply(state, decide.tick(state, 10_000, TIMEOUT))
    run = state.campaigns["c"].stations["S0"]
    apply(state, decide.on_boot(state, "S0", "1.0", 9_000))
    assert run.awaiting_answer and run.last_activity_ms == 10_000
    assert decide.tick(state, 10_000 + TIMEOUT + 1, TIMEOUT, answer_allowance_ms=15_000) == []
    apply(state, [decide.dispatch_outcome(state, "c", "S0", decide.NOT_CONNECTED, 14_000)])
    assert step(run) is Step.WAITING and not run.awaiting_answer
