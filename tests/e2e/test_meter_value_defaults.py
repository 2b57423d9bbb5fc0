"""SampledValue defaults and the assumed stop reason, end to end with the `ocpp` client (issue 11.2).

OCPP 1.6 7.45 SampledValue: context "Sample.Periodic", format "Raw", measurand
"Energy.Active.Import.Register", location "Outlet"; unit "Wh" only "if the (default) measurand is an
'Energy' value"; phase has no default. 4.10: a StopTransaction without reason "SHOULD be assumed
'Local'". The station sends values without those fields; GET /api/v1/transactions/{id} shows exactly
the spec's defaults and no others.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from ocpp.v16 import call

from tests.e2e.conftest import Api, System, unique_station
from tests.e2e.station import iso, now, station
from tests.e2e.test_core import new_tag, tag

pytestmark = pytest.mark.e2e


async def test_sampled_value_defaults_and_assumed_stop_reason(system: System, api: Api) -> None:
    station_id, id_tag = unique_station(), new_tag("M")
    await tag(api, id_tag)
    start = now()
    async with station(system.station_url(station_id)) as cp:
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=1000, timestamp=iso(start))
        )
        tx = started.transaction_id
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": iso(start + timedelta(minutes=5)),
                        "sampledValue": [
                            {"value": "1800"},
                            {"value": "0.98", "measurand": "Power.Factor"},
                            {"value": "50.0", "measurand": "Frequency"},
                            {"value": "1200", "measurand": "RPM"},
                            {"value": "7", "measurand": "Energy.Reactive.Import.Register"},
                        ],
                    }
                ],
            )
        )
        await cp.call(
            call.StopTransaction(
                meter_stop=2500, timestamp=iso(start + timedelta(minutes=10)), transaction_id=tx
            )
        )
    body = await api.until(
        f"/api/v1/transactions/{tx}", lambda b: b["stoppedAt"] is not None and len(b["meterValues"]) == 5
    )
    assert body["stopReason"] == "Local"
    assert body["energyWh"] == 1500
    fields = ("measurand", "phase", "location", "context", "unit", "format")
    shown = {v["value"]: tuple(v[f] for f in fields) for v in body["meterValues"]}
    assert shown == {
        "1800": ("Energy.Active.Import.Register", None, "Outlet", "Sample.Periodic", "Wh", "Raw"),
        "0.98": ("Power.Factor", None, "Outlet", "Sample.Periodic", None, "Raw"),
        "50.0": ("Frequency", None, "Outlet", "Sample.Periodic", None, "Raw"),
        "1200": ("RPM", None, "Outlet", "Sample.Periodic", None, "Raw"),
        "7": ("Energy.Reactive.Import.Register", None, "Outlet", "Sample.Periodic", "Wh", "Raw"),
    }
