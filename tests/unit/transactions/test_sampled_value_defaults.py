"""OCPP 1.6 7.43 unit default, as the transactions read model applies it."""

from __future__ import annotations

import pytest

from services.transactions.projection import default_unit


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
