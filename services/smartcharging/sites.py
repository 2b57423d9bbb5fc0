"""Site load management, the I/O part: follows the inputs, runs allocation rounds, sends the limits.

Inputs: the sites (``csms.sites``, consumed in a consumer group: the partitions this process is
assigned are the sites it manages, so several instances share the sites and each site has exactly
one allocator), the station registry (which site a station belongs to), ``transactions.events``
(who charges where, under which transaction id), the MeterValues in ``ocpp.frames`` (what each car
draws) and presence (a station that reconnects gets another chance). Output: TxProfiles sent
through the station's gateway, and a :class:`SiteAllocated` event per round.

A round (:meth:`SiteManager._round`) asks the pure functions in ``allocation`` what to send, sends
the decreases, waits for the answers, then sends the increases the limits now in force leave room
for. A station that refuses (or cannot be reached) is reported in the event, its session counts at
its cap, and it is not asked again for that transaction (a reconnect clears "unreachable").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Literal

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from services.smartcharging.allocation import (
    Change,
    Demand,
    Key,
    allocate,
    decreases,
    in_force,
    increases,
)
from services.smartcharging.events import AllocationEntry, EntryStatus, SiteAllocated, event_decoder
from services.smartcharging.metering import drawing
from shared.clock import SYSTEM, Clock
from shared.commands import CommandClient, NotConnected
from shared.config import Settings
from shared.events import undecodable
from shared.events.commands import OutcomeStatus
from shared.events.envelope import (
    Presence,
    StationRegistration,
    decode_frame_record,
    encode,
    registration_decoder,
)
from shared.events.frames import station_request
from shared.events.sites import SiteRecord, site_decoder
from shared.events.topics import Topics
from shared.events.versioned import Family, UndecodableRecord, VersionedDecoder
from shared.kafka import connection, ensure_topics, make_consumer, make_producer, stop_reader
from shared.ocpp.v16.messages import MeterValuesRequest
from shared.tables import CompactedView, LogFollower

log = logging.getLogger(__name__)

SERVICE = "smartcharging"
# TxProfiles of the allocator use this id plus the connector id: one profile per connector, replaced
# in place by every new limit, and recognisable among the operator's own profiles.
PROFILE_ID_BASE = 1_900_000_000
# A car drawing less than its share keeps what it draws plus this much (site unit: A, or W / 230).
MARGIN_AMPS = 2.0


class _TxStarted(msgspec.Struct, tag="started", tag_field="type", kw_only=True):
    """What the allocator reads of the transactions service's events (a tolerant reader)."""

    transaction_id: int
    station_id: str
    connector_id: int
    frame_offset: int


class _TxStopped(msgspec.Struct, tag="stopped", tag_field="type", kw_only=True):
    transaction_id: int
    station_id: str


# A view of two of transactions.events' types (this service does not import that one's module);
# should that family get upcasters for them, this view must use them too.
_tx_decoder: VersionedDecoder[_TxStarted | _TxStopped] = VersionedDecoder(
    Family("transactions.events"), _TxStarted | _TxStopped
)

Refusal = Literal["rejected", "unreachable"]


@dataclass
class _Session:
    transaction_id: int
    order: int


@dataclass
class _SiteState:
    """What a site's allocator remembers between rounds (restored from its newest event)."""

    applied: dict[Key, tuple[int, float]] = field(default_factory=dict)  # key -> (tx, limit in force)
    refused: dict[Key, tuple[int, Refusal, str]] = field(default_factory=dict)  # key -> (tx, status, why)
    last_raised: dict[Key, int] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None
    drawing: dict[Key, float] = field(default_factory=dict)


class _Assignment(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, manager: SiteManager) -> None:
        self._manager = manager

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._manager.release({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._manager.assigned |= {tp.partition for tp in assigned}


class SiteManager:
    """A Runner: manages the sites of the ``csms.sites`` partitions this process is assigned."""

    def __init__(self, settings: Settings, clock: Clock = SYSTEM, group: str | None = None) -> None:
        self.settings = settings
        # The consumer group that shares the sites among allocators (a test may run one apart).
        self.group = group or Topics(settings.topic_prefix).group("smartcharging.sites")
        self.topics = Topics(settings.topic_prefix, settings.frame_partitions)
        self._clock = clock.now_ms
        self._stopping = asyncio.Event()
        self.assigned: set[int] = set()
        self.sites: dict[str, tuple[int, SiteRecord]] = {}  # site id -> (partition, record)
        self._state: dict[str, _SiteState] = {}
        # Completed allocation rounds per site (for operators' metrics and for tests to wait on).
        self.rounds: dict[str, int] = {}
        self._sessions: dict[Key, _Session] = {}
        self._restored: dict[str, SiteAllocated] = {}
        self._registry: CompactedView[StationRegistration] = CompactedView(
            settings.kafka_bootstrap, self.topics.stations, registration_decoder.decode
        )
        self._transactions = LogFollower(
            settings.kafka_bootstrap, self.topics.domain("transactions"), self._on_tx
        )
        self._history = LogFollower(settings.kafka_bootstrap, self.topics.domain(SERVICE), self._on_own_event)
        self._commands = CommandClient(settings)
        self._producer = make_producer(settings.kafka_bootstrap, client_id="smartcharging-sites")
        self._meters: AIOKafkaConsumer | None = None
        self._meter_task: asyncio.Task[None] | None = None

    # -- life cycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        s = self.settings
        await ensure_topics(
            s.kafka_bootstrap,
            [
                *self.topics.shared_specs(),
                self.topics.domain_spec("transactions"),
                self.topics.domain_spec(SERVICE),
            ],
            s.replication_factor,
        )
        await self._registry.start()
        self._registry.on_change(self._on_registration)
        await self._history.start()
        await self._transactions.start()
        await self._commands.start()
        self._commands.presence.on_change(self._on_presence)
        await self._producer.start()
        await self._start_meters()
        consumer = make_consumer(
            s.kafka_bootstrap,
            client_id="smartcharging-sites",
            group_id=self.group,
        )
        consumer.subscribe([self.topics.sites], listener=_Assignment(self))
        await consumer.start()
        log.info("site allocator following %s", self.topics.sites)
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    for msg in records:
                        try:
                            self._on_site(tp.partition, msg.key, msg.value)
                        except UndecodableRecord as exc:
                            undecodable.report(msg.topic, tp.partition, msg.offset, exc)
        finally:
            self.release(set(self.assigned))
            with contextlib.suppress(Exception):
                await consumer.stop()
            await stop_reader(self._meter_task, self._meters)
            await self._producer.stop()
            await self._commands.stop()
            await self._transactions.stop()
            await self._history.stop()
            await self._registry.stop()

    def stop(self) -> None:
        self._stopping.set()

    def release(self, partitions: set[int]) -> None:
        """Stop managing the sites of ``partitions`` (revoked, or this process stops)."""
        for site_id, (partition, _) in list(self.sites.items()):
            if partition in partitions:
                del self.sites[site_id]
                self._forget(site_id)
        self.assigned -= partitions

    def _forget(self, site_id: str) -> None:
        state = self._state.pop(site_id, None)
        if state is not None:
            if state.task is not None:
                state.task.cancel()
            if state.timer is not None:
                state.timer.cancel()

    # -- inputs ------------------------------------------------------------------------------------

    def _on_site(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        site_id = key.decode()
        if value is None:
            self.sites.pop(site_id, None)
            self._forget(site_id)
            return
        record = site_decoder.decode(value)  # undecodable: reported by the loop above
        self.sites[site_id] = (partition, record)
        self._wake(site_id)

    def _on_tx(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        event = _tx_decoder.decode_known(value)
        if event is None:
            return  # another event type of that service: not the allocator's business
        if isinstance(event, _TxStarted):
            key_ = (event.station_id, event.connector_id)
            current = self._sessions.get(key_)
            if current is None or event.frame_offset >= current.order:
                self._sessions[key_] = _Session(event.transaction_id, event.frame_offset)
        else:
            for k, session in list(self._sessions.items()):
                if k[0] == event.station_id and session.transaction_id == event.transaction_id:
                    del self._sessions[k]
        self._wake_station(event.station_id)

    def _on_own_event(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        if value is not None:
            event = event_decoder.decode(value)
            self._restored[event.site_id] = event

    def _on_registration(self, station_id: str, registration: StationRegistration | None) -> None:
        """A station with a running session joined, left or changed site: every site it may have
        been part of shares again (the old one learns it is gone, the new one that it came)."""
        if any(k[0] == station_id for k in self._sessions):
            for site_id in list(self._state):
                self._wake(site_id)
            if registration is not None and registration.site is not None:
                self._wake(registration.site)

    def _on_presence(self, station_id: str, presence: Presence | None) -> None:
        """A station that connects again may take a limit now: forget that it was unreachable."""
        site_id = self._site_of(station_id)
        state = self._state.get(site_id) if site_id else None
        if state is None or presence is None or not presence.connected:
            return
        for k, (_, status, _) in list(state.refused.items()):
            if k[0] == station_id and status == "unreachable":
                del state.refused[k]
        self._wake_station(station_id)

    async def _start_meters(self) -> None:
        """MeterValues from now on (what cars draw now); no group: every allocator sees every site."""
        self._meters = AIOKafkaConsumer(
            **connection(),
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=50,
        )
        await self._meters.start()
        self._meters.subscribe([self.topics.frames])
        self._meter_task = asyncio.create_task(self._read_meters(), name="site-meters")

    async def _read_meters(self) -> None:
        assert self._meters is not None
        while True:
            batches = await self._meters.getmany(timeout_ms=500)
            for records in batches.values():
                for msg in records:
                    # The key is the station: frames of stations outside managed sites are not decoded.
                    site_id = self._site_of(msg.key.decode()) if msg.key is not None else None
                    if site_id is not None and site_id in self._state and site_id in self.sites:
                        try:
                            self._on_meter(site_id, msg.value)
                        except UndecodableRecord as exc:
                            undecodable.report(msg.topic, msg.partition, msg.offset, exc)

    def _on_meter(self, site_id: str, raw: bytes) -> None:
        call = station_request(decode_frame_record(raw), {"MeterValues"})
        if call is None:
            return
        record, request = call
        assert isinstance(request, MeterValuesRequest)
        site = self.sites[site_id][1]
        value = drawing(request, site.unit, site.voltage, site.phases)
        if value is None:
            return
        state = self._state[site_id]
        key = (record.station_id, request.connector_id)
        before = state.drawing.get(key)
        state.drawing[key] = value
        if before is None or abs(before - value) >= site.deadband:
            state.wake.set()

    # -- rounds ------------------------------------------------------------------------------------

    def _site_of(self, station_id: str) -> str | None:
        reg = self._registry.get(station_id)
        return reg.site if reg is not None else None

    def _wake_station(self, station_id: str) -> None:
        site_id = self._site_of(station_id)
        if site_id is not None:
            self._wake(site_id)

    def _wake(self, site_id: str) -> None:
        if site_id not in self.sites:
            return
        state = self._state.get(site_id)
        if state is None:
            state = self._state[site_id] = self._restore(site_id)
            state.task = asyncio.create_task(self._loop(site_id), name=f"site:{site_id}")
        state.wake.set()

    def _restore(self, site_id: str) -> _SiteState:
        state = _SiteState()
        event = self._restored.get(site_id)
        if event is not None:
            for e in event.entries:
                key = (e.station_id, e.connector_id)
                if e.limit is not None:
                    state.applied[key] = (e.transaction_id, e.limit)
                if e.status == "rejected" or e.status == "unreachable":
                    state.refused[key] = (e.transaction_id, e.status, e.reason or "")
        return state

    async def _loop(self, site_id: str) -> None:
        state = self._state[site_id]
        while True:
            await state.wake.wait()
            await asyncio.sleep(0.05)  # let a burst of inputs (a fleet starting) land in one round
            state.wake.clear()
            try:
                await self._round(site_id, state)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("site %s: allocation round failed", site_id)

    def _demands(self, site: SiteRecord, state: _SiteState) -> list[Demand]:
        members = [(k, s) for k, s in self._sessions.items() if self._site_of(k[0]) == site.site_id]
        per_station: dict[str, int] = {}
        for k, _ in members:
            per_station[k[0]] = per_station.get(k[0], 0) + 1
        demands = []
        for k, s in members:
            cap = site.station_max
            if k[0] in site.station_limits:
                cap = min(cap, site.station_limits[k[0]] / per_station[k[0]])
            demands.append(
                Demand(k, s.transaction_id, s.order, site.min_charging_rate, cap, state.drawing.get(k))
            )
        return demands

    async def _round(self, site_id: str, state: _SiteState) -> None:
        site = self.sites[site_id][1]
        demands = self._demands(site, state)
        live = {d.key: d.transaction_id for d in demands}
        # What belongs to ended transactions is forgotten.
        for table in (state.applied, state.refused):
            for k in [k for k, v in table.items() if live.get(k) != v[0]]:
                del table[k]
        for k in [k for k in (*state.last_raised, *state.drawing) if k not in live]:
            state.last_raised.pop(k, None)
            state.drawing.pop(k, None)
        refused = {d.key for d in demands if d.key in state.refused}
        managed = [d for d in demands if d.key not in refused]
        margin = MARGIN_AMPS if site.unit == "A" else MARGIN_AMPS * site.voltage * site.phases
        applied = {k: v[1] for k, v in state.applied.items()}
        forced = in_force(demands, applied, refused)
        targets = allocate(site.grid_limit - sum(forced[k] for k in refused), managed, margin)

        # A session waiting for its first limit needs the exact room: no deadband on decreases then.
        waiting_first = any(d.key not in applied for d in managed)
        deadband = 0.0 if waiting_first else site.deadband
        refusals = await self._send(site, state, decreases(managed, targets, applied, deadband))
        applied = {k: v[1] for k, v in state.applied.items()}
        now = self._clock()
        ups, due = increases(
            site.grid_limit,
            demands,
            targets,
            applied,
            refused,
            state.last_raised,
            now,
            int(site.min_interval_s * 1000),
            site.deadband,
        )
        refusals += await self._send(site, state, ups, raised_at=now)
        if refusals:
            state.wake.set()  # a refusing station counts at its cap from now on: share again
        if due is not None:
            if state.timer is not None:
                state.timer.cancel()
            delay = max((due - self._clock()) / 1000, 0.0)
            state.timer = asyncio.get_running_loop().call_later(delay, state.wake.set)
        await self._record(site, state, demands, targets)
        self.rounds[site_id] = self.rounds.get(site_id, 0) + 1

    def limits(self, site_id: str) -> dict[Key, float]:
        """The limits in force this allocator knows of for ``site_id`` (accepted by the stations)."""
        state = self._state.get(site_id)
        return {k: v[1] for k, v in state.applied.items()} if state is not None else {}

    async def _send(
        self, site: SiteRecord, state: _SiteState, changes: list[Change], raised_at: int | None = None
    ) -> int:
        """Send ``changes`` at once and record the answers; returns how many were refused."""
        results = await asyncio.gather(*(self._set_limit(site, c) for c in changes))
        refusals = 0
        for change, (status, reason) in zip(changes, results, strict=True):
            if status is None:
                state.applied[change.key] = (change.transaction_id, change.limit)
                if raised_at is not None:
                    state.last_raised[change.key] = raised_at
            else:
                log.warning(
                    "site %s: %s connector %d did not take limit %.1f %s (%s: %s)",
                    site.site_id,
                    change.key[0],
                    change.key[1],
                    change.limit,
                    site.unit,
                    status,
                    reason,
                )
                state.refused[change.key] = (change.transaction_id, status, reason)
                refusals += 1
        return refusals

    async def _set_limit(self, site: SiteRecord, change: Change) -> tuple[Refusal | None, str]:
        """Send one TxProfile: (None, "") when the station accepted it, else why not."""
        station_id, connector_id = change.key
        payload = {
            "connectorId": connector_id,
            "csChargingProfiles": {
                "chargingProfileId": PROFILE_ID_BASE + connector_id,
                "transactionId": change.transaction_id,
                "stackLevel": site.stack_level,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": {
                    "chargingRateUnit": site.unit,
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": round(change.limit, 1)}],
                },
            },
        }
        try:
            outcome = await self._commands.call(
                station_id,
                "SetChargingProfile",
                msgspec.json.encode(payload),
                timeout=self.settings.command_timeout,
            )
        except NotConnected:
            return "unreachable", "not connected"
        if outcome.status is OutcomeStatus.RESULT:
            answer = msgspec.json.decode(outcome.payload)
            status = answer.get("status") if isinstance(answer, dict) else None
            return (None, "") if status == "Accepted" else ("rejected", f"station answered {status}")
        if outcome.status is OutcomeStatus.ERROR:
            return "rejected", f"CALLERROR {outcome.error_code}: {outcome.error_description}"
        if outcome.status is OutcomeStatus.INVALID:
            return "rejected", outcome.error_description
        return "unreachable", outcome.error_description or outcome.status.value

    async def _record(
        self, site: SiteRecord, state: _SiteState, demands: list[Demand], targets: dict[Key, float]
    ) -> None:
        entries = []
        for d in sorted(demands, key=lambda d: d.key):
            applied = state.applied.get(d.key)
            refused = state.refused.get(d.key)
            target = targets.get(d.key)
            status: EntryStatus = "limited"
            if refused is not None:
                status = refused[1]
            elif target == 0:
                status = "waiting"
            entries.append(
                AllocationEntry(
                    station_id=d.key[0],
                    connector_id=d.key[1],
                    transaction_id=d.transaction_id,
                    target=target,
                    limit=applied[1] if applied is not None else None,
                    status=status,
                    reason=refused[2] if refused is not None else None,
                    drawing=d.drawing,
                )
            )
        event = SiteAllocated(
            site_id=site.site_id,
            at_ms=self._clock(),
            grid_limit=site.grid_limit,
            unit=site.unit,
            entries=entries,
        )
        previous = self._restored.get(site.site_id)
        if previous is not None and _decisions(previous) == _decisions(event):
            return  # nothing decided differently: no event (meter values would otherwise flood the topic)
        self._restored[site.site_id] = event
        await self._producer.send_and_wait(
            self.topics.domain(SERVICE), encode(event), key=site.site_id.encode()
        )


def _decisions(event: SiteAllocated) -> tuple[object, ...]:
    """What an allocation decided, without what cars happened to draw."""
    return (
        event.grid_limit,
        event.unit,
        tuple(msgspec.structs.replace(e, drawing=None) for e in event.entries),
    )
