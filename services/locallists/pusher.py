"""Pushing local authorization lists to stations: one station now, or many in the background.

The adapter around :func:`services.locallists.plan.plan`: it asks the station its version
(GetLocalListVersion), reads what the log says the station holds (the ``local_lists_held`` read
model, or what this process pushed a moment ago), sends the planned SendLocalList requests through
:class:`~shared.commands.CommandClient`, and falls back to a Full update after a VersionMismatch.
Background pushes to many stations are durable jobs run by the locallists service (``jobs.py``).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
import msgspec

from services.locallists.definitions import LocalListDefinition, desired_entries, scopes_of
from services.locallists.plan import Held, Send, UpdateType, apply, plan
from services.locallists.pushes import PushResult
from shared.clock import SYSTEM, Clock
from shared.commands import CommandClient, NotConnected
from shared.events.commands import OutcomeStatus
from shared.events.envelope import StationRegistration
from shared.events.idtags import IdTagRecord
from shared.tables import CompactedView

log = logging.getLogger(__name__)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class LocalListPusher:
    def __init__(
        self,
        commands: CommandClient,
        definitions: CompactedView[LocalListDefinition],
        id_tags: CompactedView[IdTagRecord],
        registry: CompactedView[StationRegistration],
        pool: Callable[[], Awaitable[asyncpg.Pool]],
        clock: Clock = SYSTEM,
    ) -> None:
        self._commands = commands
        self._definitions = definitions
        self._id_tags = id_tags
        self._registry = registry
        self._pool = pool
        self._clock = clock.now
        # What this process last saw a station accept: the read model may lag it by a moment.
        self._pushed: dict[str, Held] = {}

    def desired(self, station_id: str) -> dict[str, dict[str, Any]]:
        registration = self._registry.get(station_id)
        tags: set[str] = set()
        for scope in scopes_of(station_id, registration.site if registration is not None else None):
            definition = self._definitions.get(scope)
            if definition is not None:
                tags.update(definition.id_tags)
        return desired_entries(tags, {t: self._id_tags.get(t) for t in tags}, self._clock())

    async def _call(self, station_id: str, action: str, payload: Mapping[str, Any]) -> tuple[str, Any]:
        """("result", payload) or (an outcome word, description) for anything else."""
        try:
            outcome = await self._commands.call(station_id, action, msgspec.json.encode(payload))
        except NotConnected:
            return "NotConnected", f"station {station_id!r} is not connected"
        if outcome.status is OutcomeStatus.RESULT:
            return "result", msgspec.json.decode(outcome.payload)
        if outcome.status is OutcomeStatus.ERROR:
            return "CallError", f"{outcome.error_code}: {outcome.error_description}"
        return str(outcome.status).capitalize(), outcome.error_description

    async def _known(self, station_id: str) -> tuple[Held | None, dict[str, str | None]]:
        pool = await self._pool()
        row = await pool.fetchrow(
            "SELECT list_version, entries FROM local_lists_held WHERE station_id = $1", station_id
        )
        config = {
            r["key"]: r["value"]
            for r in await pool.fetch(
                """SELECT key, value FROM station_configuration WHERE station_id = $1
                   AND key IN ('SendLocalListMaxLength', 'LocalAuthListMaxLength')""",
                station_id,
            )
        }
        held = None
        if row is not None:
            entries = msgspec.json.decode(row["entries"]) if row["entries"] is not None else None
            held = Held(row["list_version"], entries)
        return held, config

    async def push(self, station_id: str, force: UpdateType | None = None) -> PushResult:
        """Bring one station's list to the desired one; the result says what happened."""
        desired = self.desired(station_id)

        def result(status: str, **found: Any) -> PushResult:
            return PushResult(station_id=station_id, entries=len(desired), status=status, **found)

        kind, answer = await self._call(station_id, "GetLocalListVersion", {})
        if kind != "result":
            return result(kind, detail=answer)
        reported = answer.get("listVersion") if isinstance(answer, dict) else None
        if not isinstance(reported, int):
            return result("InvalidAnswer", detail=f"GetLocalListVersion answered {answer!r}")
        held, config = await self._known(station_id)
        mine = self._pushed.get(station_id)
        if mine is not None and mine.list_version == reported:
            held = mine
        options = {
            "max_send": _int(config.get("SendLocalListMaxLength")),
            "max_total": _int(config.get("LocalAuthListMaxLength")),
        }
        todo = plan(desired, reported, held, force=force, **options)
        if todo.outcome is not None:
            return result(todo.outcome, list_version=reported, detail=todo.detail)
        current: dict[str, Any] = dict(held.entries) if held is not None and held.entries is not None else {}
        sent: list[Send] = []
        for attempt in itertools.count():
            for send in todo.sends:
                kind, answer = await self._call(station_id, "SendLocalList", send.payload())
                status = kind
                if kind == "result":
                    status = str(answer.get("status")) if isinstance(answer, dict) else "InvalidAnswer"
                if status == "Accepted":
                    current = apply(current, send)
                    self._pushed[station_id] = Held(send.list_version, current)
                    sent.append(send)
                    continue
                if status == "VersionMismatch" and attempt == 0:
                    # The station holds another version than we thought: replace the list as a whole.
                    todo = plan(
                        desired, send.list_version, Held(send.list_version, None), force="Full", **options
                    )
                    break
                return result(
                    status,
                    update_type=send.update_type,
                    list_version=send.list_version,
                    detail=answer if kind != "result" else f"SendLocalList answered {status}",
                    messages=len(sent) + 1,
                )
            else:
                break
        return result(
            "Accepted",
            update_type=todo.sends[0].update_type,
            version_mismatch=attempt > 0,
            list_version=sent[-1].list_version,
            messages=len(sent),
        )
