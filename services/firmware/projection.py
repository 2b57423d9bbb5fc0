"""Read models of firmware management, built from ``firmware.events``: images, campaigns with a row
per targeted station, diagnostics and log requests and their files. Same step rules as ``state.evolve``."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from aiokafka import ConsumerRecord

from services.firmware.events import (
    CampaignAborted,
    CampaignCreated,
    CampaignFinished,
    CampaignPaused,
    CampaignResumed,
    DiagnosticsAnswered,
    DiagnosticsFileStored,
    DiagnosticsRequested,
    DiagnosticsSent,
    DiagnosticsStatus,
    FirmwareEvent,
    ImageAdded,
    StationDispatched,
    StationFinished,
    StationProgress,
    StationWaiting,
    event_decoder,
)
from services.firmware.state import ACTIVE as STATE_ACTIVE
from services.firmware.state import STEPS_BY_STATUS, answered_status
from shared.events.topics import Topics
from shared.projection.base import TableProjection
from shared.projection.columns import as_json, ms_to_datetime

DDL = [
    """CREATE TABLE IF NOT EXISTS fw_images (
        image_id text PRIMARY KEY,
        name text NOT NULL,
        version text,
        size bigint NOT NULL,
        sha256 text NOT NULL,
        storage_key text NOT NULL,
        created_at timestamptz NOT NULL,
        signing_certificate text,
        signature text
    )""",
    """CREATE TABLE IF NOT EXISTS fw_campaigns (
        campaign_id text PRIMARY KEY,
        image_id text NOT NULL,
        status text NOT NULL,
        pause_reason text,
        target jsonb NOT NULL,
        policy jsonb NOT NULL,
        transport text NOT NULL,
        retrieve_date text,
        retries int,
        retry_interval int,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS fw_campaign_stations (
        campaign_id text NOT NULL,
        station_id text NOT NULL,
        position int NOT NULL,
        batch int NOT NULL,
        state text NOT NULL,
        last_status text,
        reason text,
        booted_version text,
        dispatched_at timestamptz,
        updated_at timestamptz,
        signed boolean NOT NULL DEFAULT false,
        PRIMARY KEY (campaign_id, station_id)
    )""",
    """CREATE TABLE IF NOT EXISTS fw_diagnostics (
        request_id text PRIMARY KEY,
        station_id text NOT NULL,
        transport text NOT NULL,
        status text NOT NULL,
        start_time text,
        stop_time text,
        file_name text,
        error text,
        size bigint,
        sha256 text,
        storage_key text,
        uploaded_via text,
        uploaded_at timestamptz,
        log_type text,
        log_request_id bigint,
        requested_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS fw_diagnostics_station ON fw_diagnostics (station_id, requested_at)",
    # GET /api/v1/diagnostics pages by (requested_at DESC, request_id) (ADR 0016).
    "CREATE INDEX IF NOT EXISTS fw_diagnostics_recent ON fw_diagnostics (requested_at DESC, request_id)",
]

ACTIVE = [step.value for step in STATE_ACTIVE]


class FirmwareProjection(TableProjection):
    name = "firmware"
    version = 2  # 2: the campaign policy carries offline_wait_s
    statements = DDL
    table_names = ["fw_diagnostics", "fw_campaign_stations", "fw_campaigns", "fw_images"]

    def topics(self) -> Sequence[str]:
        return [self._topics.domain("firmware")]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        for msg in batch:
            if msg.value is None:
                continue
            event = event_decoder.decode_known(msg.value)  # undecodable: dead-lettered, counted
            if event is not None:  # None: a newer record type this version does not know
                await _apply(conn, event)


async def _apply(conn: asyncpg.Connection, e: FirmwareEvent) -> None:
    at = ms_to_datetime(e.at_ms)
    if isinstance(e, ImageAdded):
        await conn.execute(
            """INSERT INTO fw_images VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING""",
            e.image_id, e.name, e.version, e.size, e.sha256, e.storage_key, at, e.signing_certificate,
            e.signature,
        )  # fmt: skip
    elif isinstance(e, CampaignCreated):
        await conn.execute(
            """INSERT INTO fw_campaigns VALUES ($1, $2, 'Running', NULL, $3::jsonb, $4::jsonb, $5, $6, $7, $8,
               $9, $9) ON CONFLICT DO NOTHING""",
            e.campaign_id, e.image_id, as_json(e.target), as_json(e.policy), e.transport, e.retrieve_date,
            e.retries, e.retry_interval, at,
        )  # fmt: skip
        size, signed = max(1, e.policy.batch_size), set(e.signed_stations)
        await conn.executemany(
            """INSERT INTO fw_campaign_stations (campaign_id, station_id, position, batch, state, signed)
               VALUES ($1, $2, $3, $4, 'Pending', $5) ON CONFLICT DO NOTHING""",
            [(e.campaign_id, s, i, i // size, s in signed) for i, s in enumerate(e.stations)],
        )
    elif isinstance(e, CampaignPaused):
        await _campaign(conn, e.campaign_id, "Paused", e.reason, at, only=("Running",))
    elif isinstance(e, CampaignResumed):
        await _campaign(conn, e.campaign_id, "Running", None, at, only=("Paused",))
    elif isinstance(e, CampaignAborted):
        if await _campaign(conn, e.campaign_id, "Aborted", None, at, only=("Running", "Paused")):
            await conn.execute(
                """UPDATE fw_campaign_stations SET state = 'Skipped', reason = 'campaign aborted', updated_at = $2
                   WHERE campaign_id = $1 AND state IN ('Pending', 'Waiting')""",
                e.campaign_id,
                at,
            )
    elif isinstance(e, CampaignFinished):
        await _campaign(conn, e.campaign_id, "Completed", None, at, only=("Running", "Paused"))
    elif isinstance(e, StationDispatched):
        await conn.execute(
            """UPDATE fw_campaign_stations SET state = 'Sent', dispatched_at = $3, updated_at = $3
               WHERE campaign_id = $1 AND station_id = $2""",
            e.campaign_id,
            e.station_id,
            at,
        )
    elif isinstance(e, StationWaiting):
        await conn.execute(
            """UPDATE fw_campaign_stations SET state = 'Waiting', reason = $3, updated_at = $4
               WHERE campaign_id = $1 AND station_id = $2 AND state NOT IN ('Succeeded', 'Failed', 'Skipped')""",
            e.campaign_id,
            e.station_id,
            e.reason,
            at,
        )
    elif isinstance(e, StationProgress):
        step = STEPS_BY_STATUS.get(e.status)
        await conn.execute(
            """UPDATE fw_campaign_stations SET last_status = $3, updated_at = $4,
                   booted_version = CASE WHEN $3 = 'Booted' THEN $5 ELSE booted_version END,
                   state = CASE WHEN $6::text IS NOT NULL AND state = ANY($7::text[]) THEN $6 ELSE state END
               WHERE campaign_id = $1 AND station_id = $2""",
            e.campaign_id, e.station_id, e.status, at, e.firmware_version, step.value if step else None, ACTIVE,
        )  # fmt: skip
    elif isinstance(e, StationFinished):
        await conn.execute(
            """UPDATE fw_campaign_stations SET state = $3, reason = $4, updated_at = $5
               WHERE campaign_id = $1 AND station_id = $2""",
            e.campaign_id, e.station_id, "Succeeded" if e.succeeded else "Failed", e.reason, at,
        )  # fmt: skip
    else:
        await _apply_diagnostics(conn, e, at)


async def _campaign(
    conn: asyncpg.Connection,
    campaign_id: str,
    status: str,
    reason: str | None,
    at: object,
    only: tuple[str, ...],
) -> bool:
    result: str = await conn.execute(
        """UPDATE fw_campaigns SET status = $2, pause_reason = $3, updated_at = $4
           WHERE campaign_id = $1 AND status = ANY($5::text[])""",
        campaign_id,
        status,
        reason,
        at,
        list(only),
    )
    return result.endswith(" 1")


async def _apply_diagnostics(conn: asyncpg.Connection, e: FirmwareEvent, at: object) -> None:
    if isinstance(e, DiagnosticsRequested):
        await conn.execute(
            """INSERT INTO fw_diagnostics (request_id, station_id, transport, status, start_time, stop_time,
                   log_type, log_request_id, requested_at, updated_at)
               VALUES ($1, $2, $3, 'Requested', $4, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING""",
            e.request_id, e.station_id, e.transport, e.start_time, e.stop_time, e.log_type, e.log_request_id, at,
        )  # fmt: skip
    elif isinstance(e, DiagnosticsSent):
        await conn.execute(
            "UPDATE fw_diagnostics SET status = 'Sent', updated_at = $2 WHERE request_id = $1",
            e.request_id,
            at,
        )
    elif isinstance(e, DiagnosticsAnswered):
        status = answered_status(e)
        await conn.execute(
            """UPDATE fw_diagnostics SET file_name = $3, error = $4, updated_at = $5,
                   status = CASE WHEN status IN ('Requested', 'Sent') THEN $2 ELSE status END
               WHERE request_id = $1""",
            e.request_id, status, e.file_name, e.error, at,
        )  # fmt: skip
    elif isinstance(e, DiagnosticsStatus):
        await conn.execute(
            "UPDATE fw_diagnostics SET status = $2, updated_at = $3 WHERE request_id = $1",
            e.request_id,
            e.status,
            at,
        )
    elif isinstance(e, DiagnosticsFileStored):
        await conn.execute(
            """UPDATE fw_diagnostics SET size = $2, sha256 = $3, storage_key = $4, uploaded_via = $5,
                   uploaded_at = $6, updated_at = $6, file_name = COALESCE(file_name, $7)
               WHERE request_id = $1""",
            e.request_id, e.size, e.sha256, e.storage_key, e.via, at, e.file_name,
        )  # fmt: skip


def projections(topics: Topics) -> list[FirmwareProjection]:
    return [FirmwareProjection(topics)]
