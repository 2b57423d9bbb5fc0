"""What a car draws, read from a MeterValues request, in the site's unit.

Amperes: the highest phase's Current.Import (a three-phase limit is per phase). Watts: the total
Power.Active.Import. Either is converted from the other with the site's voltage and phases when the
station reports only that one. The newest sample of the request wins.
"""

from __future__ import annotations

from msgspec import UNSET

from shared.events.sites import Unit
from shared.ocpp.v16.messages import MeterValuesRequest, SampledValue

_SCALE = {"A": 1.0, "W": 1.0, "kW": 1000.0}


def _number(sv: SampledValue) -> float | None:
    if sv.format == "SignedData":
        return None
    try:
        return float(sv.value)
    except ValueError:
        return None


def drawing(request: MeterValuesRequest, unit: Unit, voltage: float, phases: int) -> float | None:
    """The newest current (A, highest phase) or power (W) in ``request``, or None if it has neither."""
    for mv in sorted(request.meter_value, key=lambda mv: mv.timestamp, reverse=True):
        amps: list[float] = []
        watts: list[float] = []
        for sv in mv.sampled_value:
            value = _number(sv)
            if value is None:
                continue
            if sv.measurand == "Current.Import" and sv.phase in (UNSET, "L1", "L2", "L3"):
                amps.append(value * _SCALE.get(sv.unit if sv.unit is not UNSET else "A", 1.0))
            elif sv.measurand == "Power.Active.Import" and sv.phase is UNSET:
                watts.append(value * _SCALE.get(sv.unit if sv.unit is not UNSET else "W", 1.0))
        if unit == "A":
            if amps:
                return max(amps)
            if watts:
                return max(watts) / (voltage * phases)
        else:
            if watts:
                return max(watts)
            if amps:
                return max(amps) * voltage * phases
    return None
