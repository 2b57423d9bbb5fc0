"""What a car draws, from MeterValues, in the site's unit."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from services.smartcharging.metering import drawing
from shared.ocpp.v16.messages import MeterValuesRequest


def request(*samples: dict[str, Any], at: str = "2026-11-26T10:00:00Z") -> MeterValuesRequest:
    body = {"connectorId": 1, "meterValue": [{"timestamp": at, "sampledValue": list(samples)}]}
    return msgspec.json.decode(msgspec.json.encode(body), type=MeterValuesRequest)


def test_amperes_are_the_highest_phase() -> None:
    r = request(
        {"value": "15.5", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
        {"value": "16.0", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
        {"value": "1234", "measurand": "Energy.Active.Import.Register"},
    )
    assert drawing(r, "A", 230, 3) == 16.0


def test_power_in_kw_and_conversions_both_ways() -> None:
    power = request({"value": "6.9", "measurand": "Power.Active.Import", "unit": "kW"})
    assert drawing(power, "W", 230, 3) == pytest.approx(6900)
    assert drawing(power, "A", 230, 3) == pytest.approx(10.0)
    current = request({"value": "10", "measurand": "Current.Import", "unit": "A"})
    assert drawing(current, "W", 230, 3) == pytest.approx(6900)


def test_nothing_usable_is_none() -> None:
    assert drawing(request({"value": "1234"}), "A", 230, 3) is None
    assert drawing(request({"value": "n/a", "measurand": "Current.Import"}), "A", 230, 3) is None
