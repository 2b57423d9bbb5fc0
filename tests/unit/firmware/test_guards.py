"""What an operator may do in which state, and the checks of the firmware endpoints' bodies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.api.errors import ApiError
from services.api.firmware_bodies import (
    CampaignBody,
    DiagnosticsBody,
    LogBody,
    PolicyBody,
    TargetFilter,
    boot_fields,
    check_image_query,
    check_retries,
    check_signed,
    check_station_id,
    check_target_count,
    check_transport,
    chosen_target,
    diagnostics_window,
    iso,
    log_window,
    policy_of,
)
from services.firmware import guards
from services.firmware.events import CampaignAborted, CampaignPaused, CampaignResumed, Policy
from services.firmware.state import CampaignStatus


def test_controls_apply_in_their_statuses_only() -> None:
    allowed = {
        (action, status.value)
        for action in guards.CONTROLS
        for status in CampaignStatus
        if guards.control_refusal(action, status.value) is None
    }
    assert allowed == {("pause", "Running"), ("resume", "Paused"), ("abort", "Running"), ("abort", "Paused")}
    assert guards.control_refusal("resume", "Completed") == "cannot resume a campaign that is Completed"
    assert guards.is_control("pause") and not guards.is_control("restart")


def test_a_control_is_recorded_as_its_event() -> None:
    paused = guards.control_event("pause", "c", 5)
    assert isinstance(paused, CampaignPaused) and paused.reason == "paused by the operator"
    assert isinstance(guards.control_event("resume", "c", 5), CampaignResumed)
    aborted = guards.control_event("abort", "c", 5)
    assert isinstance(aborted, CampaignAborted) and (aborted.campaign_id, aborted.at_ms) == ("c", 5)


def test_policy_refusals() -> None:
    assert guards.policy_refusal(Policy()) is None
    assert guards.policy_refusal(Policy(batch_size=0)) == "batchSize and maxInFlight must be at least 1"
    assert guards.policy_refusal(Policy(max_in_flight=0)) == "batchSize and maxInFlight must be at least 1"
    assert guards.policy_refusal(Policy(failure_threshold=1.5)) == "failureThreshold is a fraction in [0, 1]"
    assert guards.policy_refusal(Policy(offline_wait_s=-1)) == "offlineWaitSeconds must not be negative"


def test_targets_transport_and_retries() -> None:
    assert guards.targets_refusal(0) == ("NoTargets", "no station matches the campaign's target")
    assert guards.targets_refusal(1) is None and guards.targets_refusal(guards.MAX_TARGETS) is None
    assert guards.targets_refusal(guards.MAX_TARGETS + 1) is not None
    assert guards.transport_refusal("ftp", -1) is not None
    assert guards.transport_refusal("ftp", 0) is None and guards.transport_refusal("http", -1) is None
    assert guards.retries_refusal(None, 0) is None
    assert guards.retries_refusal(-1, -1) == ("retries", "retries must not be negative")
    assert guards.retries_refusal(1, -1) == ("retryInterval", "retryInterval must not be negative")


def refused(check: object, *args: object) -> ApiError:
    with pytest.raises(ApiError) as caught:
        check(*args)  # type: ignore[operator]
    return caught.value


def test_body_checks_raise_the_api_errors() -> None:
    assert refused(check_image_query, "../x", None).status == 400
    assert refused(check_image_query, "fw.bin", "v" * 51).status == 400
    check_image_query("fw.bin", "v" * 50)
    error = refused(policy_of, CampaignBody(image_id="i", policy=PolicyBody(batch_size=0)))
    assert (error.status, error.code, error.extra) == (422, "InvalidBody", {"field": "policy"})
    assert policy_of(CampaignBody(image_id="i")) == Policy(offline_wait_s=3600.0)
    assert refused(check_retries, None, -1).extra == {"field": "retryInterval"}
    assert refused(check_transport, "ftp", -1).extra == {"field": "transport"}
    assert refused(check_target_count, 0).code == "NoTargets"
    assert refused(check_station_id, "").extra == {"field": "stations"}
    assert refused(check_station_id, "x" * 49).status == 422
    check_station_id("x" * 48)


def test_exactly_one_target_and_the_filter_as_boot_fields() -> None:
    assert chosen_target(CampaignBody(image_id="i", site="s")) == "site"
    assert refused(chosen_target, CampaignBody(image_id="i")).extra == {"field": "stations"}
    assert refused(chosen_target, CampaignBody(image_id="i", site="s", stations=["a"])).status == 422
    assert boot_fields(TargetFilter(vendor="V", firmware_version="1")) == {
        "chargePointVendor": "V",
        "firmwareVersion": "1",
    }
    assert refused(boot_fields, TargetFilter()).extra == {"field": "filter"}


def test_date_times_need_a_zone_and_the_window_an_order() -> None:
    assert iso(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00Z"
    assert iso(None) is None
    assert refused(iso, datetime(2026, 1, 1)).status == 422  # noqa: DTZ001 - a naive one, refused
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    assert diagnostics_window(DiagnosticsBody(start_time=early, stop_time=late)) == (
        "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00Z",
    )
    assert refused(diagnostics_window, DiagnosticsBody(start_time=late, stop_time=early)).extra == {
        "field": "stopTime"
    }


def test_the_log_window_and_signed_always_need_a_signed_image() -> None:
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    body = LogBody(log_type="SecurityLog", oldest_timestamp=early, latest_timestamp=late)
    assert log_window(body) == ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")
    backwards = LogBody(log_type="SecurityLog", oldest_timestamp=late, latest_timestamp=early)
    assert refused(log_window, backwards).extra == {"field": "latestTimestamp"}
    assert refused(check_signed, "always", False).code == "UnsignedImage"
    for mode, signed in (("always", True), ("auto", False), ("never", False), ("auto", True)):
        check_signed(mode, signed)
