"""OCPP 1.6 section 4.2's rules of the registration status (the answer to a station's last
BootNotification: Accepted, Pending, Rejected, or None before its first boot), both directions.

Pure functions: the gateway applies ``station_call_refusal`` to what stations send, the command
client (``shared/commands.py``) applies ``command_refusal`` to what every sender of CALLs sends.
"""

from __future__ import annotations

# "While in pending state, the following Central System initiated messages are not allowed:
# RemoteStartTransaction.req and RemoteStopTransaction.req".
NOT_WHILE_PENDING = frozenset({"RemoteStartTransaction", "RemoteStopTransaction"})
# What a Pending station may send when "instructed by the Central System to do so with a
# TriggerMessage.req" (section 4.2; the messages section 5.17 lets a TriggerMessage request).
TRIGGERABLE = frozenset(
    {
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
    }
)


def command_refusal(boot_status: str | None, action: str) -> tuple[str, str] | None:
    """(error code, why) when section 4.2 forbids sending ``action`` to a station in
    ``boot_status``, else None."""
    if boot_status == "Rejected":
        return "StationRejected", (
            "the station's BootNotification was answered Rejected: while Rejected it does not answer "
            "any Central System message (OCPP 1.6 section 4.2); it is sent nothing until it boots Accepted"
        )
    if boot_status == "Pending" and action in NOT_WHILE_PENDING:
        return "StationPending", (
            f"the station's BootNotification was answered Pending: {action} is not allowed while "
            "Pending (OCPP 1.6 section 4.2)"
        )
    return None


def station_call_refusal(boot_status: str | None, action: str) -> str | None:
    """Why a station CALL is answered SecurityError, or None when it is served.

    OCPP-J 1.6 errata 3.8 (section 5.6): a CALL other than BootNotification "before the Charge
    Point is accepted" is RECOMMENDED to get SecurityError. Before its first boot and while Rejected a
    station may send nothing else (section 4.2); while Pending only what a TriggerMessage asks for.
    """
    if action == "BootNotification" or boot_status == "Accepted":
        return None
    if boot_status == "Pending" and action in TRIGGERABLE:
        return None
    state = "it has not booted" if boot_status is None else f"its BootNotification was answered {boot_status}"
    return f"{action} before the Charge Point is accepted: {state} (OCPP-J errata 3.8)"
