"""MeterValues (OCPP 1.6 4.7, 6.29): answered empty; nothing decided here (projected only)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from msgspec import UNSET

from shared.ocpp.v16.messages import (
    MeterValue,
    MeterValuesRequest,
    MeterValuesResponse,
    SampledValue,
)
from tests.unit.transactions.builders import NOW, System


@pytest.mark.parametrize("transaction_id", [UNSET, 1, 0, -1, 12345])
def test_meter_values_is_answered_empty_without_events(transaction_id: Any) -> None:
    system = System()
    system.start("GOOD")
    request = MeterValuesRequest(
        connector_id=1,
        meter_value=[MeterValue(timestamp=NOW, sampled_value=[SampledValue(value="1500")])],
        transaction_id=transaction_id,
    )
    response, events = system.call("MeterValues", request)
    assert isinstance(response, MeterValuesResponse)
    assert msgspec.json.encode(response) == b"{}"
    assert events == []
    assert set(system.state.active) == {1}
