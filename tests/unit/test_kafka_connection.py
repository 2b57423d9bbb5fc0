"""How the settings' Kafka security becomes client options (shared.kafka.connection_options)."""

from __future__ import annotations

import dataclasses
import ssl
from typing import Any

import pytest

from shared.config import Settings
from shared.kafka import configure, connection, connection_options


def settings(**changes: Any) -> Settings:
    return dataclasses.replace(Settings(), **changes)


def test_plaintext_adds_nothing() -> None:
    assert connection_options(settings()) == {}


def test_sasl_scram_over_tls() -> None:
    options = connection_options(
        settings(
            kafka_security_protocol="sasl_ssl",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="csms",
            kafka_sasl_password="secret",
        )
    )
    assert options["security_protocol"] == "SASL_SSL"
    assert (options["sasl_mechanism"], options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "csms",
        "secret",
    )
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_sasl_without_tls_has_no_ssl_context() -> None:
    options = connection_options(
        settings(
            kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN", kafka_sasl_username="u"
        )
    )
    assert "ssl_context" not in options and options["sasl_mechanism"] == "PLAIN"


@pytest.mark.parametrize(
    "changes",
    [
        {"kafka_security_protocol": "TLS"},
        {"kafka_security_protocol": "SASL_SSL"},  # no mechanism, no user
        {
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_sasl_mechanism": "GSSAPI",
            "kafka_sasl_username": "u",
        },
    ],
)
def test_inconsistent_settings_are_refused_at_start(changes: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="CSMS_KAFKA"):
        connection_options(settings(**changes))


def test_configure_is_process_wide_and_resettable() -> None:
    configure(
        settings(
            kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN", kafka_sasl_username="u"
        )
    )
    try:
        assert connection()["security_protocol"] == "SASL_PLAINTEXT"
        connection()["sasl_mechanism"] = "changed"  # a copy: callers cannot alter it
        assert connection()["sasl_mechanism"] == "PLAIN"
    finally:
        configure(Settings.from_env())  # what this test process runs with (plaintext locally)
