"""Read model of the charging profiles each station holds, built from the log.

A profile is installed when the station answers Accepted to our SetChargingProfile (requests and
answers are paired by connection epoch and message id); other answers are recorded as outcomes.
Replacement follows OCPP 1.6 3.13.2: the same chargingProfileId, or the same stackLevel and purpose
on the same connector, replaces. An accepted ClearChargingProfile removes what it matches. An
accepted RemoteStartTransaction's TxProfile is installed for the transaction it leads to (the next
start with its idTag on its connector). A TxProfile ends with its transaction (StopTransaction, or a
new start on its connector).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from aiokafka import ConsumerRecord

from shared.events.envelope import Direction, FrameRecord
from shared.events.frames import frames_of
from shared.ocpp.frames import Call, CallError, CallResult
from shared.projection.base import TableProjection
from shared.projection.columns import ms_to_datetime
from shared.projection.pairing import CallPairing

TRACKED = ("SetChargingProfile", "ClearChargingProfile", "RemoteStartTransaction", "StartTransaction")
REQUESTS = CallPairing("sc_requests")

DDL = [
    REQUESTS.ddl(),
    """CREATE TABLE IF NOT EXISTS sc_running (
        station_id text NOT NULL,
        connector_id int NOT NULL,
        transaction_id int NOT NULL,
        started_at timestamptz NOT NULL,
        PRIMARY KEY (station_id, connector_id)
    )""",
    """CREATE TABLE IF NOT EXISTS charging_profiles (
        station_id text NOT NULL,
        charging_profile_id int NOT NULL,
        connector_id int NOT NULL,
        stack_level int NOT NULL,
        purpose text NOT NULL,
        kind text NOT NULL,
        transaction_id int,
        profile jsonb NOT NULL,
        installed_at timestamptz NOT NULL,
        PRIMARY KEY (station_id, charging_profile_id)
    )""",
    # An accepted RemoteStartTransaction's TxProfile, until the transaction it asked for starts.
    """CREATE TABLE IF NOT EXISTS sc_remote_starts (
        station_id text NOT NULL,
        epoch bigint NOT NULL,
        unique_id text NOT NULL,
        connector_id int,
        id_tag text NOT NULL,
        profile jsonb NOT NULL,
        PRIMARY KEY (station_id, epoch, unique_id)
    )""",
    """CREATE TABLE IF NOT EXISTS charging_profile_outcomes (
        station_id text NOT NULL,
        epoch bigint NOT NULL,
        unique_id text NOT NULL,
        action text NOT NULL,
        connector_id int,
        charging_profile_id int,
        status text NOT NULL,
        at timestamptz NOT NULL,
        PRIMARY KEY (station_id, epoch, unique_id)
    )""",
]


class ChargingProfilesProjection(TableProjection):
    name = "charging_profiles"
    statements = DDL
    table_names = [
        "charging_profile_outcomes",
        "charging_profiles",
        "sc_remote_starts",
        "sc_running",
        "sc_requests",
    ]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        for record, frame in frames_of(batch, (*TRACKED, "StopTransaction")):
            if isinstance(frame, Call):
                await self._call(conn, record, frame)
            elif isinstance(frame, CallResult | CallError):
                await self._answer(conn, record, frame)

    async def _call(self, conn: asyncpg.Connection, record: FrameRecord, frame: Call) -> None:
        ours = record.direction is Direction.OUT and frame.action in (
            "SetChargingProfile",
            "ClearChargingProfile",
            "RemoteStartTransaction",
        )
        theirs = record.direction is Direction.IN and frame.action == "StartTransaction"
        if ours or theirs:
            await REQUESTS.remember(conn, record, frame)
        elif record.direction is Direction.IN and frame.action == "StopTransaction":
            payload = msgspec.json.decode(bytes(frame.payload))
            if isinstance(payload, dict) and isinstance(payload.get("transactionId"), int):
                await self._transaction_ended(conn, record.station_id, payload["transactionId"])

    async def _answer(
        self, conn: asyncpg.Connection, record: FrameRecord, frame: CallResult | CallError
    ) -> None:
        call = await REQUESTS.answered(conn, record, frame)
        if call is None:
            return
        action, request, response = call.action, call.request, call.response
        at = ms_to_datetime(record.at_ms)
        if action == "StartTransaction":
            if isinstance(response.get("transactionId"), int):
                await self._transaction_started(
                    conn, record.station_id, request, response["transactionId"], at
                )
            return
        status = response.get("status") if isinstance(frame, CallResult) else f"CALLERROR {frame.error_code}"
        profile = request.get("csChargingProfiles") or request.get("chargingProfile") or {}
        if action == "RemoteStartTransaction" and not profile:
            return  # a remote start without a profile is not this read model's business
        await conn.execute(
            """INSERT INTO charging_profile_outcomes
                 (station_id, epoch, unique_id, action, connector_id, charging_profile_id, status, at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
            record.station_id,
            record.epoch,
            record.unique_id,
            action,
            request.get("connectorId"),
            profile.get("chargingProfileId", request.get("id")),
            str(status),
            at,
        )
        if status != "Accepted":
            return
        if action == "SetChargingProfile":
            await self._install(conn, record.station_id, request["connectorId"], profile, at)
        elif action == "RemoteStartTransaction":
            await conn.execute(
                """INSERT INTO sc_remote_starts (station_id, epoch, unique_id, connector_id, id_tag, profile)
                   VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING""",
                record.station_id,
                record.epoch,
                record.unique_id,
                request.get("connectorId"),
                request.get("idTag", ""),
                msgspec.json.encode(profile).decode(),
            )
        else:
            await self._clear(conn, record.station_id, request)

    async def _install(
        self, conn: asyncpg.Connection, station_id: str, connector_id: int, profile: dict[str, Any], at: Any
    ) -> None:
        purpose, level = profile["chargingProfilePurpose"], profile["stackLevel"]
        transaction_id = profile.get("transactionId")
        if purpose == "TxProfile" and transaction_id is None:  # bound to what runs there now
            transaction_id = await conn.fetchval(
                "SELECT transaction_id FROM sc_running WHERE station_id = $1 AND connector_id = $2",
                station_id,
                connector_id,
            )
        await conn.execute(
            """DELETE FROM charging_profiles WHERE station_id = $1 AND (charging_profile_id = $2
                 OR (connector_id = $3 AND stack_level = $4 AND purpose = $5))""",
            station_id,
            profile["chargingProfileId"],
            connector_id,
            level,
            purpose,
        )
        await conn.execute(
            """INSERT INTO charging_profiles (station_id, charging_profile_id, connector_id, stack_level, purpose,
                 kind, transaction_id, profile, installed_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)""",
            station_id,
            profile["chargingProfileId"],
            connector_id,
            level,
            purpose,
            profile["chargingProfileKind"],
            transaction_id,
            msgspec.json.encode(profile).decode(),
            at,
        )

    async def _clear(self, conn: asyncpg.Connection, station_id: str, request: dict[str, Any]) -> None:
        """ClearChargingProfile: by id, or by every given filter (connector, purpose, stackLevel)."""
        if "id" in request:
            await conn.execute(
                "DELETE FROM charging_profiles WHERE station_id = $1 AND charging_profile_id = $2",
                station_id,
                request["id"],
            )
            return
        await conn.execute(
            """DELETE FROM charging_profiles WHERE station_id = $1
                 AND ($2::int IS NULL OR connector_id = $2)
                 AND ($3::text IS NULL OR purpose = $3)
                 AND ($4::int IS NULL OR stack_level = $4)""",
            station_id,
            request.get("connectorId"),
            request.get("chargingProfilePurpose"),
            request.get("stackLevel"),
        )

    async def _transaction_started(
        self, conn: asyncpg.Connection, station_id: str, request: dict[str, Any], transaction_id: int, at: Any
    ) -> None:
        connector_id = request.get("connectorId")
        # The station's own start time: Relative profiles count from it (offline starts too).
        with contextlib.suppress(KeyError, ValueError):
            at = datetime.fromisoformat(str(request["timestamp"]))
        previous = await conn.fetchval(
            "SELECT transaction_id FROM sc_running WHERE station_id = $1 AND connector_id = $2",
            station_id,
            connector_id,
        )
        if previous is not None:
            await self._transaction_ended(conn, station_id, previous)
        await conn.execute(
            """INSERT INTO sc_running (station_id, connector_id, transaction_id, started_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (station_id, connector_id) DO UPDATE SET transaction_id = $3, started_at = $4""",
            station_id,
            connector_id,
            transaction_id,
            at,
        )
        # The transaction a remote start with a TxProfile asked for: the profile is now bound to it.
        pending = await conn.fetchval(
            """DELETE FROM sc_remote_starts WHERE ctid = (
                 SELECT ctid FROM sc_remote_starts WHERE station_id = $1 AND id_tag = $2
                   AND (connector_id IS NULL OR connector_id = $3)
                 ORDER BY epoch, unique_id LIMIT 1)
               RETURNING profile""",
            station_id,
            request.get("idTag", ""),
            connector_id,
        )
        if pending is not None and isinstance(connector_id, int):
            profile = {**msgspec.json.decode(pending), "transactionId": transaction_id}
            await self._install(conn, station_id, connector_id, profile, at)

    async def _transaction_ended(
        self, conn: asyncpg.Connection, station_id: str, transaction_id: int
    ) -> None:
        await conn.execute(
            "DELETE FROM charging_profiles WHERE station_id = $1 AND purpose = 'TxProfile' AND transaction_id = $2",
            station_id,
            transaction_id,
        )
        await conn.execute(
            "DELETE FROM sc_running WHERE station_id = $1 AND transaction_id = $2", station_id, transaction_id
        )
