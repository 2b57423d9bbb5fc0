"""Topic names and their settings: the one place that says which topics exist.

``ocpp.frames`` is a contract relied on by tools outside the project; its name never changes. A
``prefix`` (CSMS_TOPIC_PREFIX) lets several independent systems share one Kafka cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    # Kafka topic configs, e.g. retention and compaction.
    config: dict[str, str]


@dataclass(frozen=True)
class Topics:
    prefix: str = ""
    frame_partitions: int = 8

    @property
    def frames(self) -> str:
        """Every OCPP frame and connection event, key = charge point id; the source of truth."""
        return f"{self.prefix}ocpp.frames"

    @property
    def presence(self) -> str:
        """Compacted station -> owning gateway and connection epoch, derived from ``frames``."""
        return f"{self.prefix}ocpp.presence"

    @property
    def stations(self) -> str:
        """Compacted operator registry of stations (credentials, site), key = station id."""
        return f"{self.prefix}csms.stations"

    @property
    def security(self) -> str:
        """Compacted security profile of each station, in force and pending (ADR 0037)."""
        return f"{self.prefix}csms.security"

    @property
    def id_tags(self) -> str:
        """Compacted operator-managed id tags (status, expiry, parent), key = id tag."""
        return f"{self.prefix}csms.idtags"

    @property
    def sites(self) -> str:
        """Compacted operator-defined sites (grid limit, per-station limits), key = site id."""
        return f"{self.prefix}csms.sites"

    @property
    def api_tokens(self) -> str:
        """Compacted operator API tokens (role, salted digest, revocation), key = token id."""
        return f"{self.prefix}csms.apitokens"

    @property
    def audit(self) -> str:
        """The operator API's audit trail: one record per change or refused request, kept forever."""
        return f"{self.prefix}csms.audit"

    @property
    def local_lists(self) -> str:
        """Compacted local authorization list definitions, key = scope (services/locallists)."""
        return f"{self.prefix}csms.locallists"

    def local_lists_spec(self) -> TopicSpec:
        compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
        return TopicSpec(self.local_lists, self.frame_partitions, compacted)

    def group(self, name: str) -> str:
        """A consumer group: ``name`` is the service or role (``stations``, ``lease.firmware``, ...)."""
        return f"{self.prefix}csms.{name}"

    @property
    def dead_letters(self) -> str:
        """Records a projection could not apply, with the reason (shared/events/deadletters.py)."""
        return f"{self.prefix}csms.deadletters"

    def gateway_inbox(self, gateway_id: str) -> str:
        """Replies and commands for the stations one gateway holds; only that gateway reads it."""
        return f"{self.prefix}csms.gateway.{gateway_id}"

    def replies(self, instance_id: str) -> str:
        """Command outcomes for one operator-API instance."""
        return f"{self.prefix}csms.replies.{instance_id}"

    def domain(self, service: str) -> str:
        """A service's own domain events."""
        return f"{self.prefix}{service}.events"

    def shared_specs(self) -> list[TopicSpec]:
        """Topics every deployment has, created by ``csms topics create`` and at service start."""
        forever = {"retention.ms": "-1", "retention.bytes": "-1"}
        compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
        return [
            TopicSpec(self.frames, self.frame_partitions, forever),
            TopicSpec(self.presence, self.frame_partitions, compacted),
            TopicSpec(self.stations, self.frame_partitions, compacted),
            TopicSpec(self.security, self.frame_partitions, compacted),
            TopicSpec(self.id_tags, self.frame_partitions, compacted),
            TopicSpec(self.sites, self.frame_partitions, compacted),
            TopicSpec(self.api_tokens, 1, compacted),
            # One partition: the trail in one order, paged by offset (services/api/audit.py).
            TopicSpec(self.audit, 1, forever),
            self.dead_letter_spec(self.dead_letters),
        ]

    @staticmethod
    def dead_letter_spec(name: str) -> TopicSpec:
        """One partition (dead letters are rare), kept forever: each is an unresolved incident."""
        return TopicSpec(name, 1, {"retention.ms": "-1", "retention.bytes": "-1"})

    def lease(self, name: str) -> str:
        """A one-partition topic whose consumer group elects one holder (``shared.lease``); no data."""
        return self.group(f"lease.{name}")

    def lease_spec(self, name: str) -> TopicSpec:
        return TopicSpec(self.lease(name), 1, {"retention.ms": str(HOUR_MS)})

    def ephemeral_spec(self, name: str) -> TopicSpec:
        """Inbox topics: one partition (order), short retention (a reply is useless after minutes)."""
        return TopicSpec(name, 1, {"retention.ms": str(HOUR_MS)})

    def domain_spec(self, service: str) -> TopicSpec:
        return TopicSpec(self.domain(service), self.frame_partitions, {"retention.ms": "-1"})
