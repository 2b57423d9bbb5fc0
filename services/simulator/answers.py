"""How a simulated station answers each Central System CALL: one explicit route table.

A handler gets the station and the decoded request and returns ``(response, follow_up)``: the
CALLRESULT payload, and optionally a coroutine the station runs after answering (a remote start
starts a transaction, a reset reboots, a trigger sends the requested message), as real stations do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import msgspec

from services.simulator import firmware
from services.simulator.schedule import station_schedule
from services.simulator.station import AnswerRoutes, CallFailed, FollowUp, SimStation, iso
from shared.ocpp.v16.messages import ChargingProfile
from shared.smartcharging.composite import InstalledProfile

MAX_AMPS = 32.0  # the simulated hardware's own limit, reported where no profile applies

READONLY = {"NumberOfConnectors", "SupportedFeatureProfiles", "ChargeProfileMaxStackLevel"}


async def _quietly(coro: Coroutine[Any, Any, Any]) -> None:
    """Follow-ups run after the answer; a lost connection meanwhile is normal, not an error."""
    with contextlib.suppress(CallFailed, asyncio.CancelledError):
        await coro


def change_availability(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    connector_id, kind = req["connectorId"], req["type"]
    targets = list(st.connectors) if connector_id == 0 else [connector_id]
    if any(t not in st.connectors for t in targets):
        return {"status": "Rejected"}, None
    if any(st.connectors[t].transaction_id is not None for t in targets) and kind == "Inoperative":
        return {"status": "Scheduled"}, None
    status = "Unavailable" if kind == "Inoperative" else "Available"

    async def notify() -> None:
        for t in targets:
            await st.status(t, status)

    return {"status": "Accepted"}, _quietly(notify())


def change_configuration(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    key, value = req["key"], req["value"]
    if key not in st.configuration:
        return {"status": "NotSupported"}, None
    if key in READONLY or (key.endswith("Interval") and not value.isdigit()):
        return {"status": "Rejected"}, None
    st.configuration[key] = value
    if key == "HeartbeatInterval":
        st.heartbeat_interval = float(value)
    return {"status": "Accepted"}, None


def get_configuration(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    keys = req.get("key") or list(st.configuration)
    known = [k for k in keys if k in st.configuration]
    return {
        "configurationKey": [
            {"key": k, "readonly": k in READONLY, "value": st.configuration[k]} for k in known
        ],
        "unknownKey": [k for k in keys if k not in st.configuration],
    }, None


def clear_cache(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    return {"status": "Accepted"}, None


def data_transfer(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    return {"status": "UnknownVendorId"}, None


def remote_start(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    wanted = req.get("connectorId")
    free = [
        c
        for c, s in st.connectors.items()
        if s.transaction_id is None and s.status in ("Available", "Preparing")
    ]
    connector_id = wanted if wanted in free else (free[0] if free and wanted is None else None)
    if connector_id is None:
        return {"status": "Rejected"}, None
    profile = req.get("chargingProfile")

    async def start() -> None:
        await st.status(connector_id, "Preparing")
        tx = await st.start_transaction(connector_id, req["idTag"])
        if profile is not None:
            st.profiles[profile["chargingProfileId"]] = {
                **profile,
                "connectorId": connector_id,
                "transactionId": tx,
            }
        await st.status(connector_id, "Charging")

    return {"status": "Accepted"}, _quietly(start())


def remote_stop(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    for connector_id, c in st.connectors.items():
        if c.transaction_id == req["transactionId"]:

            async def stop(connector_id: int = connector_id) -> None:
                await st.stop_transaction(connector_id, "Remote")
                await st.status(connector_id, "Available")

            return {"status": "Accepted"}, _quietly(stop())
    return {"status": "Rejected"}, None


def reset(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    reason = "HardReset" if req["type"] == "Hard" else "SoftReset"

    async def reboot() -> None:
        for connector_id, c in st.connectors.items():
            if c.transaction_id is not None:
                await st.stop_transaction(connector_id, reason)
        await asyncio.sleep(0.05)
        if st.on_reset is not None:
            st.on_reset()

    return {"status": "Accepted"}, _quietly(reboot())


def unlock_connector(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    connector_id = req["connectorId"]
    if connector_id not in st.connectors:
        return {"status": "NotSupported"}, None
    if st.connectors[connector_id].transaction_id is not None:
        return {"status": "Unlocked"}, _quietly(st.stop_transaction(connector_id, "UnlockCommand"))
    return {"status": "Unlocked"}, None


def set_charging_profile(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    connector_id, profile = req["connectorId"], req["csChargingProfiles"]
    purpose = profile["chargingProfilePurpose"]
    if connector_id != 0 and connector_id not in st.connectors:
        return {"status": "Rejected"}, None
    if purpose == "ChargePointMaxProfile" and connector_id != 0:
        return {"status": "Rejected"}, None
    if purpose == "TxProfile" and (connector_id == 0 or st.connectors[connector_id].transaction_id is None):
        return {"status": "Rejected"}, None
    if profile["stackLevel"] > int(st.configuration["ChargeProfileMaxStackLevel"]):
        return {"status": "Rejected"}, None
    # Same id, or same stackLevel + purpose on the same connector, replaces (OCPP 1.6 3.13.2).
    for pid, existing in list(st.profiles.items()):
        if pid == profile["chargingProfileId"] or (
            existing["connectorId"] == connector_id
            and existing["stackLevel"] == profile["stackLevel"]
            and existing["chargingProfilePurpose"] == purpose
        ):
            del st.profiles[pid]
    st.profiles[profile["chargingProfileId"]] = {**profile, "connectorId": connector_id}
    return {"status": "Accepted"}, None


def clear_charging_profile(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    matches = [
        pid
        for pid, p in st.profiles.items()
        if ("id" not in req or req["id"] == pid)
        and ("connectorId" not in req or req["connectorId"] == p["connectorId"])
        and (
            "chargingProfilePurpose" not in req
            or req["chargingProfilePurpose"] == p["chargingProfilePurpose"]
        )
        and ("stackLevel" not in req or req["stackLevel"] == p["stackLevel"])
    ]
    for pid in matches:
        del st.profiles[pid]
    return {"status": "Accepted" if matches else "Unknown"}, None


def get_composite_schedule(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    """The station's own composite schedule (services/simulator/schedule.py), as OCPP 5.7 asks."""
    connector_id = req["connectorId"]
    if connector_id != 0 and connector_id not in st.connectors:
        return {"status": "Rejected"}, None
    installed = [
        InstalledProfile(
            connector_id=p["connectorId"],
            profile=msgspec.convert({k: v for k, v in p.items() if k != "connectorId"}, ChargingProfile),
        )
        for p in st.profiles.values()
    ]
    running = st.connectors.get(connector_id)
    unit = req.get("chargingRateUnit", "A")
    start = datetime.now(UTC).replace(microsecond=0)
    periods = station_schedule(
        installed,
        connector_id=connector_id,
        start=start,
        duration=req["duration"],
        unit=unit,
        transaction_id=running.transaction_id if running else None,
        transaction_start=running.started_at if running and running.transaction_id is not None else None,
        fallback_limit=MAX_AMPS if unit == "A" else MAX_AMPS * 230 * 3,
    )
    return {
        "status": "Accepted",
        "connectorId": connector_id,
        "scheduleStart": iso(start),
        "chargingSchedule": {
            "duration": req["duration"],
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": periods,
        },
    }, None


def reserve_now(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    connector_id = req["connectorId"]
    if connector_id == 0:
        # The whole station (OCPP 1.6 5.13): only when configured so; one free connector is kept.
        if st.configuration.get("ReserveConnectorZeroSupported", "false").lower() != "true":
            return {"status": "Rejected"}, None
        free = [c for c, s in st.connectors.items() if s.status == "Available" and s.transaction_id is None]
        if not free:
            return {"status": "Occupied"}, None
        st.connectors[free[0]].reserved_for = req["reservationId"]
        return {"status": "Accepted"}, None
    connector = st.connectors.get(connector_id)
    if connector is None:
        return {"status": "Rejected"}, None
    if connector.status == "Unavailable":
        return {"status": "Unavailable"}, None
    if connector.status == "Faulted":
        return {"status": "Faulted"}, None
    if connector.transaction_id is not None or connector.status not in ("Available", "Reserved"):
        return {"status": "Occupied"}, None
    connector.reserved_for = req["reservationId"]
    return {"status": "Accepted"}, _quietly(st.status(connector_id, "Reserved"))


def cancel_reservation(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    for connector_id, c in st.connectors.items():
        if c.reserved_for == req["reservationId"]:
            c.reserved_for = None
            return {"status": "Accepted"}, _quietly(st.status(connector_id, "Available"))
    return {"status": "Rejected"}, None


def get_local_list_version(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    return {"listVersion": st.local_list_version}, None


def send_local_list(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    entries = req.get("localAuthorizationList") or []
    if len(entries) > int(st.configuration["SendLocalListMaxLength"]):
        return {"status": "Failed"}, None
    if req["updateType"] == "Differential" and req["listVersion"] <= st.local_list_version:
        return {"status": "VersionMismatch"}, None
    updated = {} if req["updateType"] == "Full" else dict(st.local_list)
    for entry in entries:
        if "idTagInfo" in entry:
            updated[entry["idTag"]] = entry["idTagInfo"]
        else:
            updated.pop(entry["idTag"], None)
    if len(updated) > int(st.configuration["LocalAuthListMaxLength"]):
        return {"status": "Failed"}, None  # more than the station can hold: the list is unchanged
    st.local_list = updated
    st.local_list_version = req["listVersion"]
    return {"status": "Accepted"}, None


def trigger_message(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    what, connector_id = req["requestedMessage"], req.get("connectorId")
    if connector_id is not None and connector_id not in st.connectors:
        return {"status": "Rejected"}, None
    senders: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {
        "BootNotification": st.boot,
        "Heartbeat": st.heartbeat,
        "StatusNotification": lambda: st.status(connector_id or 0),
        "MeterValues": lambda: st.meter_values(connector_id or 1, 0),
        "DiagnosticsStatusNotification": lambda: st.call("DiagnosticsStatusNotification", {"status": "Idle"}),
        "FirmwareStatusNotification": lambda: st.call("FirmwareStatusNotification", {"status": "Idle"}),
    }
    sender = senders.get(what)
    if sender is None:
        return {"status": "NotImplemented"}, None
    return {"status": "Accepted"}, _quietly(sender())


def update_firmware(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    """Accept; then really download from the location, install, reboot, report (simulator/firmware.py)."""
    return {}, _quietly(firmware.update(st, req))


def get_diagnostics(st: SimStation, req: dict[str, Any]) -> tuple[dict[str, Any], FollowUp]:
    """Name the file in the answer, then really upload it to the location (simulator/firmware.py)."""
    name, data = firmware.diagnostics_file(st)
    return {"fileName": name}, _quietly(firmware.upload_diagnostics(st, req, name, data))


ROUTES: AnswerRoutes = {
    "CancelReservation": cancel_reservation,
    "ChangeAvailability": change_availability,
    "ChangeConfiguration": change_configuration,
    "ClearCache": clear_cache,
    "ClearChargingProfile": clear_charging_profile,
    "DataTransfer": data_transfer,
    "GetCompositeSchedule": get_composite_schedule,
    "GetConfiguration": get_configuration,
    "GetDiagnostics": get_diagnostics,
    "GetLocalListVersion": get_local_list_version,
    "RemoteStartTransaction": remote_start,
    "RemoteStopTransaction": remote_stop,
    "ReserveNow": reserve_now,
    "Reset": reset,
    "SendLocalList": send_local_list,
    "SetChargingProfile": set_charging_profile,
    "TriggerMessage": trigger_message,
    "UnlockConnector": unlock_connector,
    "UpdateFirmware": update_firmware,
}
