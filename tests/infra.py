"""Where the tests' Kafka and PostgreSQL come from.

1. `CSMS_KAFKA_BOOTSTRAP` / `CSMS_DATABASE_URL` set (``make test`` sets them from deploy/local/env.sh
   after starting the local broker and server): use those.
2. Otherwise, when a Docker engine answers: start both with testcontainers for this test session.
3. Otherwise: the local defaults (127.0.0.1:9092, the local PostgreSQL); the e2e fixtures fail
   loudly with "run make infra" when nothing listens there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_containers: list[Any] = []


def docker_available() -> bool:
    host = os.environ.get("DOCKER_HOST", "")
    return bool(host) or Path("/var/run/docker.sock").exists()


def provide() -> None:
    """Fill the environment before any Settings are read."""
    if os.environ.get("CSMS_KAFKA_BOOTSTRAP") or not docker_available():
        return
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer

    kafka = KafkaContainer("apache/kafka:4.1.1").with_kraft()
    kafka.start()
    _containers.append(kafka)
    os.environ["CSMS_KAFKA_BOOTSTRAP"] = kafka.get_bootstrap_server()
    if not os.environ.get("CSMS_DATABASE_URL"):
        pg = PostgresContainer("postgres:16", username="csms", password="csms", dbname="csms")
        pg.start()
        _containers.append(pg)
        url = pg.get_connection_url(driver=None)
        os.environ["CSMS_DATABASE_URL"] = url
        os.environ["CSMS_TEST_DATABASE_URL"] = url


def release() -> None:
    while _containers:
        _containers.pop().stop()
