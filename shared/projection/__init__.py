"""Projections: read models in PostgreSQL, built from Kafka, rebuildable at any time.

Each projection writes its rows and the Kafka offsets it consumed in ONE transaction
(``projection_offsets``), and on start seeks to the stored offsets rather than a consumer group's:
a redelivered record is never applied twice, and a crash between Kafka and PostgreSQL loses nothing.
When PostgreSQL is unavailable the runner waits and retries from the last stored offsets, so the
OCPP path (which never touches PostgreSQL) keeps answering and projections catch up afterwards.
A record PostgreSQL refuses (shared/dberrors.py: poison, not an outage) is not retried forever: the
batch is re-applied record by record in savepoints, the bad record goes to the dead-letter topic with
the reason, and the rest are applied (ADR 0018).

Rebuild (``csms replay``): a projection is written into its own PostgreSQL schema; replaying into an
empty schema from offset 0 yields the same rows as the live one (tests/e2e/test_stations_projection.py).
A projection whose shape (its DDL and ``version``) differs from the one its rows were written with
(``projection_shapes``) is dropped and rebuilt from offset 0 when it starts: a new release never
serves rows an older one wrote differently.

Modules: ``base`` (what a projection is), ``runner`` (apply from Kafka, offsets in the same
transaction, dead letters), ``bookkeeping`` (offsets and shapes tables), ``pool`` (PostgreSQL
connections), ``rebuild`` (``csms replay``), ``pairing`` (CALLs and their answers), ``columns`` (values
as column values).
"""
