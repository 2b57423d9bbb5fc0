"""The secured connection settings against a real broker: the local one has a SASL/PLAIN listener
beside the plain one (deploy/local/kafka/server.properties.in), user csms."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import uuid

import pytest
from aiokafka.errors import KafkaError

from shared.config import Settings
from shared.events.topics import TopicSpec
from shared.kafka import configure, ensure_topics, make_consumer, make_producer
from tests.e2e.conftest import System

pytestmark = pytest.mark.e2e


def sasl(system: System, password: str) -> Settings:
    host, port = system.settings.kafka_bootstrap.rsplit(":", 1)
    return dataclasses.replace(
        system.settings,
        kafka_bootstrap=f"{host}:{int(port) + 2}",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="csms",
        kafka_sasl_password=password,
    )


def listening(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
        return True
    return False


async def test_services_reach_a_sasl_broker_with_the_configured_credentials(system: System) -> None:
    secured = sasl(system, "csms-secret")
    if not listening(secured.kafka_bootstrap):
        pytest.skip("the local broker has no SASL listener yet: restart it (make stop && make infra)")
    topic = f"{system.settings.topic_prefix}sasl-{uuid.uuid4().hex[:6]}"  # removed with the session
    configure(secured)  # what `csms <service>` does at start from CSMS_KAFKA_* settings
    try:
        await ensure_topics(secured.kafka_bootstrap, [TopicSpec(topic, 1, {})])
        producer = make_producer(secured.kafka_bootstrap, client_id="sasl-test")
        consumer = make_consumer(
            secured.kafka_bootstrap, client_id="sasl-test", group_id=None, topics=[topic]
        )
    finally:
        configure(system.settings)  # clients keep the options they were built with
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(topic, b"over SASL")
        async with asyncio.timeout(20):
            while not (batches := await consumer.getmany(timeout_ms=500)):
                pass
        assert [m.value for ms in batches.values() for m in ms] == [b"over SASL"]
    finally:
        await consumer.stop()
        await producer.stop()

    configure(sasl(system, "wrong"))
    try:
        refused = make_producer(secured.kafka_bootstrap, client_id="sasl-test-wrong")
    finally:
        configure(system.settings)
    with pytest.raises(KafkaError):
        await refused.start()
    await refused.stop()
