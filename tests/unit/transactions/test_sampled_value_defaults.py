"""OCPP 1.6 7.45 unit default and 4.10 assumed stop reason, as the transactions read model applies them."""

from __future__ import annotations

import pytest

from services.transactions.projection import default_unit, stop_reason


@pytest.mark.parametrize(
    ("measurand", "unit"),
    [
        ("Energy.Active.Import.Register", "Wh"),
        ("Energy.Reactive.Export.Interval", "Wh"),
        ("Power.Factor", ""),
        ("Frequency", ""),
        ("RPM", ""),
        ("Power.Active.Import", ""),
        ("SoC", ""),
    ],
)
def test_wh_only_for_energy_measurands(measurand: str, unit: str) -> None:
    assert default_unit(measurand) == unit


def test_missing_stop_reason_is_local_and_a_given_one_is_kept() -> None:
    assert stop_reason(None) == "Local"
    assert stop_reason("EVDisconnected") == "EVDisconnected"
