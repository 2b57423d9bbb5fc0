"""The station endpoint's TLS (ADR 0035): the development certificates, the server context, what a
client certificate says, the files the settings name and their reload. Handshakes run over memory
BIOs: the whole negotiation, no socket."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.gateway.tls import ReloadingContext, configured_files, server_files, transport_security
from shared.config import Settings
from shared.tls import (
    CA_CERT,
    CA_KEY,
    ECDSA_CERT,
    RSA_CERT,
    RSA_KEY,
    TLS12_CIPHERS,
    WHITEPAPER_CIPHERS,
    client_certificate,
    ensure_dev_certificates,
    issue,
    key_pem,
    make_ca,
    new_key,
    server_context,
)
from tests.tls_clients import client_context, load_ca, old_tls_client, other_ca, station_certificate

NOW = dt.datetime(2026, 12, 3, 6, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tls")
    ensure_dev_certificates(directory, NOW)
    return directory


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def handshake(
    server: ssl.SSLContext, client: ssl.SSLContext, host: str = "127.0.0.1"
) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """Drive a handshake between two SSLObjects over memory BIOs; raises what either side raises."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    cli = client.wrap_bio(c_in, c_out, server_hostname=host)
    done = {"s": False, "c": False}
    for _ in range(20):
        for side, obj in (("c", cli), ("s", srv)):
            if not done[side]:
                try:
                    obj.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
            s_in.write(c_out.read())
            c_in.write(s_out.read())
        if all(done.values()):
            # TLS 1.3: the server learns of a refused client certificate only on the next read.
            c_in.write(s_out.read())
            return srv, cli
    raise AssertionError("handshake did not finish")


# -- generation -----------------------------------------------------------------------------------


def test_dev_certificates_are_an_rsa_and_an_ecdsa_server_certificate_for_127_0_0_1_and_localhost(
    dev: Path,
) -> None:
    ca = load(dev / CA_CERT)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)  # A00.FR.505: ECDSA signatures
    for name, key_type in ((RSA_CERT, rsa.RSAPublicKey), (ECDSA_CERT, ec.EllipticCurvePublicKey)):
        cert = load(dev / name)
        key = cert.public_key()
        assert isinstance(key, key_type)
        if isinstance(key, rsa.RSAPublicKey):
            assert key.key_size >= 2048  # A00.FR.502
        if isinstance(key, ec.EllipticCurvePublicKey):
            assert key.curve.name == "secp256r1"  # A00.FR.503: >= 224 bits
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
        assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"  # A00.FR.510
        assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)  # A00.FR.509
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
        assert cert.signature_hash_algorithm is not None and cert.signature_hash_algorithm.name == "sha256"
        cert.verify_directly_issued_by(ca)


def test_keys_are_private_to_their_owner(dev: Path) -> None:
    for name in (CA_KEY, RSA_KEY, "server-ecdsa-key.pem"):
        assert stat.S_IMODE(os.stat(dev / name).st_mode) == 0o600


def test_existing_certificates_are_reused(dev: Path) -> None:
    before = {p.name: p.read_bytes() for p in dev.iterdir()}
    ensure_dev_certificates(dev, NOW + dt.timedelta(days=30))
    assert {p.name: p.read_bytes() for p in dev.iterdir()} == before


def test_only_what_is_missing_or_expiring_is_made_again(tmp_path: Path) -> None:
    ensure_dev_certificates(tmp_path, NOW)
    ca, ecdsa = (tmp_path / CA_CERT).read_bytes(), (tmp_path / ECDSA_CERT).read_bytes()
    (tmp_path / RSA_KEY).unlink()
    ensure_dev_certificates(tmp_path, NOW)
    assert (tmp_path / CA_CERT).read_bytes() == ca and (tmp_path / ECDSA_CERT).read_bytes() == ecdsa
    assert load(tmp_path / RSA_CERT).public_key() is not None
    # A year on, the server certificates are renewed under the same CA; ten years on, the CA too.
    ensure_dev_certificates(tmp_path, NOW + dt.timedelta(days=395))
    assert (tmp_path / CA_CERT).read_bytes() == ca and (tmp_path / ECDSA_CERT).read_bytes() != ecdsa
    ensure_dev_certificates(tmp_path, NOW + dt.timedelta(days=3650))
    assert (tmp_path / CA_CERT).read_bytes() != ca
    load(tmp_path / RSA_CERT).verify_directly_issued_by(load(tmp_path / CA_CERT))


def test_the_ca_that_verifies_the_server_is_ca_pem_under_the_cache(tmp_path: Path, dev: Path) -> None:
    """The contract: ``~/.cache/csms/tls/ca.pem`` (the default tls_dir) verifies the gateway."""
    assert Settings().tls_dir == "~/.cache/csms/tls"
    files = server_files(dataclasses.replace(Settings(), tls_dir=str(tmp_path)))
    assert files.server_ca == files.client_ca == tmp_path / "ca.pem"
    server, _ = handshake(server_context(files), client_context(tmp_path / "ca.pem"), host="localhost")
    assert server.version() in ("TLSv1.2", "TLSv1.3")


def test_default_settings_make_them_under_the_home_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `make run` does with no TLS settings: ``$HOME/.cache/csms/tls/ca.pem``."""
    monkeypatch.setenv("HOME", str(tmp_path))
    files = server_files(Settings())
    assert files.server_ca == tmp_path / ".cache" / "csms" / "tls" / "ca.pem"
    assert files.server_ca.is_file() and stat.S_IMODE(os.stat(files.server_ca.parent).st_mode) == 0o700


def test_client_certificate_says_serial_number_cpo_and_certificate_serial() -> None:
    ca_key = new_key("ecdsa")
    ca = make_ca(ca_key, common_name="CPO CA", organization="CPO", now=NOW)
    cert = issue(
        ca,
        ca_key,
        new_key("rsa").public_key(),
        common_name="SN-0001",
        organization="CPO",
        now=NOW,
        client=True,
    )
    seen = client_certificate(cert.public_bytes(Encoding.DER))
    assert (seen.common_name, seen.organization) == ("SN-0001", "CPO")
    assert seen.serial == format(cert.serial_number, "X") and not seen.serial.startswith("0")
    assert seen.issuer == "CN=CPO CA,O=CPO"


# -- the context ----------------------------------------------------------------------------------


def test_context_is_tls_1_2_and_1_3_without_compression(dev: Path) -> None:
    ctx = server_context(ensure_dev_certificates(dev, NOW))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2  # A00.FR.312
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_3
    assert ctx.options & ssl.OP_NO_COMPRESSION  # A00.FR.320
    assert ctx.verify_mode == ssl.CERT_OPTIONAL
    tls12 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == set(TLS12_CIPHERS)
    assert set(WHITEPAPER_CIPHERS) <= tls12  # A00.FR.317


@pytest.mark.parametrize("suite", WHITEPAPER_CIPHERS)
def test_each_whitepaper_suite_is_negotiated_over_tls_1_2(dev: Path, suite: str) -> None:
    client = client_context(dev / CA_CERT, tls12_ciphers=suite)
    server, _ = handshake(server_context(ensure_dev_certificates(dev, NOW)), client)
    assert server.version() == "TLSv1.2"
    cipher = server.cipher()
    assert cipher is not None and cipher[0] == suite


def test_too_old_tls_and_other_suites_are_refused(dev: Path) -> None:
    server = server_context(ensure_dev_certificates(dev, NOW))
    with pytest.raises(ssl.SSLError, match="UNSUPPORTED_PROTOCOL"):
        handshake(server, old_tls_client(dev / CA_CERT))
    # TLS_RSA_WITH_AES_128_CBC_SHA256: not the whitepaper's
    other = client_context(dev / CA_CERT, tls12_ciphers="AES128-SHA256")
    with pytest.raises(ssl.SSLError, match=r"HANDSHAKE_FAILURE|NO_SHARED_CIPHER"):
        handshake(server, other)


def test_client_certificate_is_optional_and_verified_when_presented(dev: Path, tmp_path: Path) -> None:
    server = server_context(ensure_dev_certificates(dev, NOW))
    srv, _ = handshake(server, client_context(dev / CA_CERT))
    security = transport_security(srv)
    assert security is not None and security.client_certificate is None
    client = client_context(dev / CA_CERT)
    client.load_cert_chain(
        *station_certificate(load_ca(dev), tmp_path, serial_number="SN-1", cpo="CPO", now=NOW)
    )
    srv, _ = handshake(server, client)
    security = transport_security(srv)
    assert security is not None and security.client_certificate is not None
    assert (security.client_certificate.common_name, security.client_certificate.organization) == (
        "SN-1",
        "CPO",
    )
    # One signed by another CA fails the handshake (over TLS 1.2 the client hears it at once).
    client = client_context(dev / CA_CERT, tls12_ciphers=":".join(TLS12_CIPHERS))
    client.load_cert_chain(
        *station_certificate(other_ca(NOW), tmp_path, serial_number="SN-2", cpo="CPO", now=NOW)
    )
    with pytest.raises(ssl.SSLError, match=r"CERTIFICATE_VERIFY_FAILED|UNKNOWN_CA"):
        handshake(server, client)


# -- settings and reload --------------------------------------------------------------------------


def test_the_four_files_are_all_or_none() -> None:
    assert configured_files(Settings()) is None
    half = dataclasses.replace(Settings(), tls_cert_rsa="/r.pem", tls_key_rsa="/r-key.pem")
    with pytest.raises(ValueError, match="CSMS_TLS_CERT_ECDSA, CSMS_TLS_KEY_ECDSA"):
        configured_files(half)
    whole = dataclasses.replace(half, tls_cert_ecdsa="/e.pem", tls_key_ecdsa="/e-key.pem")
    files = configured_files(whole)
    assert files is not None and files.client_ca is None
    assert files.ecdsa_key == Path("/e-key.pem")


def test_the_listener_counts_refused_handshakes_and_lets_the_alert_out(tmp_path: Path) -> None:
    """A00.FR.323: refusals recorded; the station hears protocol_version (A00.FR.315's cue)."""
    reloading = ReloadingContext(ensure_dev_certificates(tmp_path, NOW))
    with pytest.raises(ssl.SSLError, match=r"TLSV1_ALERT_PROTOCOL_VERSION"):
        handshake(reloading.listener, old_tls_client(tmp_path / CA_CERT))
    with pytest.raises(ssl.SSLError, match=r"ALERT_HANDSHAKE_FAILURE"):
        handshake(reloading.listener, client_context(tmp_path / CA_CERT, tls12_ciphers="AES128-SHA256"))
    assert reloading.refusals.counts == {"UNSUPPORTED_PROTOCOL": 1, "NO_SHARED_CIPHER": 1}
    server, _ = handshake(reloading.listener, client_context(tmp_path / CA_CERT))
    assert server.version() == "TLSv1.3" and sum(reloading.refusals.counts.values()) == 2


def test_changed_files_reach_new_handshakes_and_broken_ones_keep_the_old(tmp_path: Path) -> None:
    files = ensure_dev_certificates(tmp_path, NOW)
    reloading = ReloadingContext(files)
    assert not reloading.check()
    client = client_context(tmp_path / CA_CERT, tls12_ciphers="ECDHE-RSA-AES128-GCM-SHA256")
    _, cli = handshake(reloading.listener, client)
    first = cli.getpeercert()
    assert first is not None
    # A key that is not the certificate's: not loaded, the old certificates stay.
    (tmp_path / RSA_KEY).write_bytes(key_pem(new_key("rsa")))
    assert not reloading.check()
    (tmp_path / RSA_KEY).unlink()
    ensure_dev_certificates(tmp_path, NOW)  # a new RSA pair under the same CA
    assert reloading.check() and reloading.reloads == 1
    _, cli = handshake(reloading.listener, client)
    second = cli.getpeercert()
    assert second is not None and second["serialNumber"] != first["serialNumber"]
    # On the new context client certificates are still verified against the charge-point CA.
    station = client_context(tmp_path / CA_CERT)
    station.load_cert_chain(
        *station_certificate(load_ca(tmp_path), tmp_path, serial_number="SN-9", cpo="CPO", now=NOW)
    )
    srv, _ = handshake(reloading.listener, station)
    assert srv.context is reloading.current
    security = transport_security(srv)
    assert security is not None and security.client_certificate is not None
    stranger = client_context(tmp_path / CA_CERT, tls12_ciphers=":".join(TLS12_CIPHERS))
    stranger.load_cert_chain(
        *station_certificate(other_ca(NOW), tmp_path, serial_number="SN-8", cpo="CPO", now=NOW)
    )
    with pytest.raises(ssl.SSLError, match=r"UNKNOWN_CA"):
        handshake(reloading.listener, stranger)
