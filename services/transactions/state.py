"""The transactions service's in-memory state and its pure ``evolve``.

Rebuilt from ``transactions.events`` (followed from the beginning), and evolved with the service's
own events as it produces them. A process therefore sees its own events twice (when it decides, and
when its follower reads them back); every event carries the ``ocpp.frames`` position it answers, and
``evolve`` skips what it has already applied for that partition, so applying twice changes nothing.

Transaction ids are striped by ``ocpp.frames`` partition: ``id = seq * partitions + partition + 1``.
Only the owner of a partition allocates in its stripe, so ids are unique across instances without
coordination, never reused (the sequence is recovered from the log), and stay within int32 for
2**31 / partitions transactions per partition.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.transactions.events import TransactionEvent, TransactionStarted
from shared.ocpp.v16.constraints import INT32_MAX

# How many recent starts per station are remembered to recognise a station's retry.
RECENT_STARTS = 32

StartKey = tuple[int, str, str, int]  # connector, idTag, timestamp (ISO), meterStart


def start_key(connector_id: int, id_tag: str, timestamp: datetime, meter_start: int) -> StartKey:
    return (connector_id, id_tag, timestamp.astimezone(UTC).isoformat(), meter_start)


@dataclass
class Active:
    transaction_id: int
    station_id: str
    connector_id: int
    id_tag: str
    meter_start: int


@dataclass
class State:
    partitions: int
    next_seq: dict[int, int] = field(default_factory=dict)
    # station -> recent StartTransaction keys -> (transaction id, idTagInfo.status it was answered)
    recent: dict[str, OrderedDict[StartKey, tuple[int, str]]] = field(
        default_factory=lambda: defaultdict(OrderedDict)
    )
    active: dict[int, Active] = field(default_factory=dict)
    # idTag -> transaction ids in progress with that tag (ConcurrentTx)
    by_tag: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    # (station, connector) -> the transaction running there; a newer start on the connector
    # supersedes an older one whose stop never came (the station lost it), so a tag is not
    # blocked with ConcurrentTx forever by a transaction that cannot be running any more.
    by_connector: dict[tuple[str, int], int] = field(default_factory=dict)
    # Superseded transactions: no longer running, but their stop is still welcome (and recorded).
    superseded: dict[int, Active] = field(default_factory=dict)
    # ocpp.frames partition -> offset of the last frame whose event was applied
    applied: dict[int, int] = field(default_factory=dict)

    def allocate(self, partition: int) -> int:
        """The next id in ``partition``'s stripe (not yet recorded: ``evolve`` records it)."""
        tx_id = self.next_seq.get(partition, 0) * self.partitions + partition + 1
        if tx_id > INT32_MAX:
            raise OverflowError(f"transaction ids of partition {partition} are exhausted")
        return tx_id

    def is_known(self, transaction_id: int) -> bool:
        """Allocated by this system (active or already stopped): its stripe's sequence passed it."""
        if transaction_id <= 0:
            return False
        partition = (transaction_id - 1) % self.partitions
        return (transaction_id - 1) // self.partitions < self.next_seq.get(partition, 0)


def evolve(state: State, event: TransactionEvent) -> None:
    if event.frame_offset <= state.applied.get(event.partition, -1):
        return
    state.applied[event.partition] = event.frame_offset
    if isinstance(event, TransactionStarted):
        seq = (event.transaction_id - 1 - event.partition) // state.partitions
        state.next_seq[event.partition] = max(state.next_seq.get(event.partition, 0), seq + 1)
        recent = state.recent[event.station_id]
        recent[start_key(event.connector_id, event.id_tag, event.started_at, event.meter_start)] = (
            event.transaction_id,
            event.id_tag_status,
        )
        while len(recent) > RECENT_STARTS:
            recent.popitem(last=False)
        place = (event.station_id, event.connector_id)
        superseded = state.by_connector.get(place)
        if superseded is not None and superseded != event.transaction_id:
            ended = _end(state, superseded)
            if ended is not None:
                state.superseded[superseded] = ended
        state.by_connector[place] = event.transaction_id
        state.active[event.transaction_id] = Active(
            event.transaction_id, event.station_id, event.connector_id, event.id_tag, event.meter_start
        )
        state.by_tag[event.id_tag].add(event.transaction_id)
    elif event.known:
        _end(state, event.transaction_id)
        state.superseded.pop(event.transaction_id, None)


def _end(state: State, transaction_id: int) -> Active | None:
    active = state.active.pop(transaction_id, None)
    if active is None:
        return None
    place = (active.station_id, active.connector_id)
    if state.by_connector.get(place) == transaction_id:
        del state.by_connector[place]
    tags = state.by_tag.get(active.id_tag)
    if tags is not None:
        tags.discard(transaction_id)
        if not tags:
            del state.by_tag[active.id_tag]
    return active
