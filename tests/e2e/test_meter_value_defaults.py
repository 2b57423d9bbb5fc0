"""The spec's defaults of a SampledValue, exactly and no others (OCPP 1.6 section 7.43), and the
stop reason assumed when a StopTransaction has none (section 4.10), as the operator API shows them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ocpp.v16 import call

from tests.e2e.conftest import Api, System, unique_station
from tests.e2e.station import iso, now, station
from tests.e2e.test_core import new_tag, tag

pytestmark = pytest.mark.e2e

# What a station sent without unit, location, context, format (and mostly without phase), and what
# the API must show for it: unit "Wh" only for an Energy measurand (the default one included).
SENT_AND_SHOWN = [
    ({"value": "0.98", "measurand": "Power.Factor"}, ("Power.Factor", None, None)),
    ({"value": "50.0", "measurand": "Frequency"}, ("Frequency", None, None)),
    ({"value": "1200", "measurand": "RPM"}, ("RPM", None, None)),
    (
        {"value": "7.2", "measurand": "Power.Active.Import", "phase": "L1"},
        ("Power.Active.Import", "L1", None),
    ),
    ({"value": "1500"}, ("Energy.Active.Import.Register", None, "Wh")),
    (
        {"value": "20", "measurand": "Energy.Active.Export.Register"},
        ("Energy.Active.Export.Register", None, "Wh"),
    ),
    (
        {"value": "3", "measurand": "Energy.Active.Import.Interval"},
        ("Energy.Active.Import.Interval", None, "Wh"),
    ),
]


async def test_sampled_value_defaults_are_the_specs_and_an_absent_stop_reason_is_local(
    system: System, api: Api
) -> None:
    station_id, id_tag = unique_station(), new_tag("MV")
    await tag(api, id_tag)
    start = now()
    async with station(system.station_url(station_id)) as cp:
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=1000, timestamp=iso(start))
        )
        tx: int = started.transaction_id
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": iso(start + timedelta(minutes=1)),
                        "sampledValue": [sent for sent, _ in SENT_AND_SHOWN],
                    }
                ],
            )
        )
        # No reason: "the Reason SHOULD be assumed 'Local'" (section 4.10).
        await cp.call(
            call.StopTransaction(
                meter_stop=2500, timestamp=iso(start + timedelta(minutes=2)), transaction_id=tx
            )
        )
    body = await api.until(
        f"/api/v1/transactions/{tx}",
        lambda b: b["stoppedAt"] is not None and len(b["meterValues"]) == len(SENT_AND_SHOWN),
    )
    assert body["stopReason"] == "Local"
    shown = sorted((v["measurand"], v["phase"], v["unit"]) for v in body["meterValues"])
    assert shown == sorted(expected for _, expected in SENT_AND_SHOWN)
    # The fields that do have a default carry it on every value.
    assert {(v["location"], v["context"], v["format"]) for v in body["meterValues"]} == {
        ("Outlet", "Sample.Periodic", "Raw")
    }
