"""The wss station endpoint over real sockets (security profiles 2 and 3 at the transport layer, ADR
0035), driven by the independent `ocpp` client over websockets with an ssl context: what the
whitepaper asks of the Central System's TLS (docs/security.md lists which test proves which)."""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage, InvalidStatus

from shared.tls import DEV_HOSTS, DEV_ORGANIZATION, RSA_CERT, RSA_KEY, cert_pem, issue, key_pem, new_key
from tests.e2e.conftest import System, eventually, read_frames, unique_station
from tests.e2e.station import OCPP16, now, station
from tests.e2e.test_gateway import basic, register
from tests.tls_clients import client_context, load_ca, old_tls_client, other_ca, station_certificate

pytestmark = pytest.mark.e2e

STATIC_RSA = "AES128-GCM-SHA256:AES256-GCM-SHA384"  # TLS_RSA_WITH_AES_128/256_GCM_*
ECDHE_ECDSA = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"


def server_certificate(ws: object) -> x509.Certificate:
    """The certificate the gateway presented on this connection."""
    ssl_object = ws.transport.get_extra_info("ssl_object")  # type: ignore[attr-defined]
    der = ssl_object.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


async def test_profile_2_station_boots_over_wss_with_basic_auth(system: System) -> None:
    """A00.FR.301-306: TLS with the server certificate, then HTTP Basic as on profile 1."""
    station_id = unique_station("TLS")
    await register(system, station_id, "a-16-byte-secret-key")
    url = system.tls_station_url(station_id)
    tls = client_context(system.ca_file)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, subprotocols=OCPP16, ssl=tls):
            pass
    assert refused.value.response.status_code == 401
    async with station(url, tls=tls, boot=False, **basic(station_id, "a-16-byte-secret-key")) as cp:
        answer = await cp.boot()
        assert answer.status == "Accepted"
        conn = system.gateway.connections[station_id]
        assert conn.security is not None and conn.security.version == "TLSv1.3"
        assert conn.security.client_certificate is None
    frames = await read_frames(system.settings, station_id, lambda fs: any(f["type"] == "opened" for f in fs))
    opened = next(f for f in frames if f["type"] == "opened")
    assert opened["authenticated"] is True and opened["tls_version"] == "TLSv1.3"
    assert "client_certificate" not in opened


async def test_plain_ws_is_unchanged_beside_it(system: System) -> None:
    station_id = unique_station("WS")
    async with station(system.station_url(station_id)) as cp:
        assert system.gateway.connections[station_id].security is None
        await cp.call(call.Heartbeat())


async def test_tls_older_than_1_2_is_refused(system: System) -> None:
    """A00.FR.312/314: the Central System terminates a connection below TLS 1.2."""
    station_id = unique_station("OLD")
    assert system.gateway.tls is not None
    before = system.gateway.tls.refusals.counts["UNSUPPORTED_PROTOCOL"]
    # The station hears why (the alert it raises InvalidTLSVersion on), and the refusal is counted.
    with pytest.raises(ssl.SSLError, match=r"TLSV1_ALERT_PROTOCOL_VERSION"):
        async with connect(
            system.tls_station_url(station_id), subprotocols=OCPP16, ssl=old_tls_client(system.ca_file)
        ):
            pass
    assert station_id not in system.gateway.connections
    assert system.gateway.tls.refusals.counts["UNSUPPORTED_PROTOCOL"] == before + 1


async def test_a_suite_not_in_the_whitepaper_is_refused(system: System) -> None:
    """A00.FR.317/319: TLS_RSA_WITH_AES_128_CBC_SHA256 (no AEAD, no forward secrecy) is not offered."""
    assert system.gateway.tls is not None
    before = system.gateway.tls.refusals.counts["NO_SHARED_CIPHER"]
    tls = client_context(system.ca_file, tls12_ciphers="AES128-SHA256")
    with pytest.raises(ssl.SSLError, match=r"ALERT_HANDSHAKE_FAILURE"):
        async with connect(system.tls_station_url(unique_station()), subprotocols=OCPP16, ssl=tls):
            pass
    assert system.gateway.tls.refusals.counts["NO_SHARED_CIPHER"] == before + 1
    # Counted where operators look: the station port's health.
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{system.gateway.port}/health") as resp,
    ):
        body = await resp.json()
    assert body["tls"]["refusedHandshakes"]["NO_SHARED_CIPHER"] == before + 1


@pytest.mark.parametrize(
    ("suites", "key_type"),
    [(STATIC_RSA, rsa.RSAPublicKey), (ECDHE_ECDSA, ec.EllipticCurvePublicKey)],
    ids=["rsa-only", "ecdsa-only"],
)
async def test_rsa_only_and_ecdsa_only_tls_1_2_stations_boot(
    system: System, suites: str, key_type: type
) -> None:
    """A00.FR.317 and its note: an RSA and an ECDSA server certificate at once, each for its suites."""
    station_id = unique_station("TLS12")
    async with station(
        system.tls_station_url(station_id), tls=client_context(system.ca_file, tls12_ciphers=suites)
    ) as cp:
        ws = cp._connection
        cert = server_certificate(ws)
        assert isinstance(cert.public_key(), key_type)
        security = system.gateway.connections[station_id].security
        assert security is not None and security.version == "TLSv1.2"
        assert security.cipher in suites.split(":")
        await cp.call(call.Heartbeat())


async def test_a_client_certificate_of_the_charge_point_ca_is_recorded(
    system: System, tmp_path: Path
) -> None:
    """Profile 3's ground (A00.FR.402/403): a certificate verified against the charge-point CA, and
    what it says (CN = serial number, O = CPO) recorded on the connection and in its `opened` record."""
    station_id = unique_station("CERT")
    tls = client_context(system.ca_file)
    tls.load_cert_chain(
        *station_certificate(
            load_ca(Path(system.settings.tls_dir)), tmp_path, serial_number="SN-4711", cpo="ACME CPO"
        )
    )
    async with station(system.tls_station_url(station_id), tls=tls):
        security = system.gateway.connections[station_id].security
        assert security is not None and security.client_certificate is not None
        seen = security.client_certificate
        assert (seen.common_name, seen.organization) == ("SN-4711", "ACME CPO")
    frames = await read_frames(system.settings, station_id, lambda fs: any(f["type"] == "opened" for f in fs))
    opened = next(f for f in frames if f["type"] == "opened")
    assert opened["client_certificate"]["common_name"] == "SN-4711"
    assert opened["client_certificate"]["serial"] == seen.serial


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
async def test_a_client_certificate_of_another_ca_is_refused_in_the_handshake(
    system: System, tmp_path: Path, version: str
) -> None:
    """A00.FR.403/407: a certificate whose path does not verify ends the connection before any HTTP."""
    station_id = unique_station("STRANGER")
    tls = client_context(system.ca_file)
    if version == "TLSv1.2":
        tls.maximum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(*station_certificate(other_ca(now()), tmp_path, serial_number="SN-1", cpo="ACME CPO"))
    assert system.gateway.tls is not None
    before = system.gateway.tls.refusals.counts["CERTIFICATE_VERIFY_FAILED"]
    # TLS 1.2: the station hears the alert (unknown_ca) in its handshake. 1.3: its handshake is done
    # before the server verifies; the alert arrives on its first read, which websockets reports as
    # no HTTP answer (the alert itself: tests/unit/gateway/test_tls.py).
    expected = ssl.SSLError if version == "TLSv1.2" else InvalidMessage
    with pytest.raises(expected) as refused:
        async with connect(system.tls_station_url(station_id), subprotocols=OCPP16, ssl=tls):
            pass
    if version == "TLSv1.2":
        assert "TLSV1_ALERT_UNKNOWN_CA" in str(refused.value)
    assert system.gateway.tls.refusals.counts["CERTIFICATE_VERIFY_FAILED"] == before + 1
    assert station_id not in system.gateway.connections


async def test_replaced_server_certificate_reaches_new_connections_only(system: System) -> None:
    """Hot reload (ADR 0035): new files, new handshakes use them; an open connection stays."""
    assert system.gateway.tls is not None
    tls = client_context(system.ca_file, tls12_ciphers=STATIC_RSA)
    async with station(system.tls_station_url(unique_station("BEFORE")), tls=tls) as before:
        old = server_certificate(before._connection)
        directory = Path(system.settings.tls_dir)
        ca_cert, ca_key = load_ca(directory)
        key = new_key("rsa")
        cert = issue(
            ca_cert,
            ca_key,
            key.public_key(),
            common_name="localhost",
            organization=DEV_ORGANIZATION,
            now=now(),
            hosts=DEV_HOSTS,
        )
        reloads = system.gateway.tls.reloads
        for name, data in ((RSA_KEY, key_pem(key)), (RSA_CERT, cert_pem(cert))):
            tmp = directory / f".{name}.new"
            tmp.write_bytes(data)
            os.replace(tmp, directory / name)
        await eventually(lambda: system.gateway.tls is not None and system.gateway.tls.reloads > reloads)
        async with station(system.tls_station_url(unique_station("AFTER")), tls=tls) as after:
            assert server_certificate(after._connection).serial_number == cert.serial_number
        assert server_certificate(before._connection).serial_number == old.serial_number
        await asyncio.wait_for(before.call(call.Heartbeat()), 10)
