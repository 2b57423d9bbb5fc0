"""TLS for the station endpoint (OCPP 1.6 security profiles 2 and 3, ADR 0035).

The pure parts: the server's SSLContext (versions, cipher suites, client certificates), the
certificates of a local development CA, and what a station's client certificate says. Reading the
files and watching them for changes is the gateway's (``services/gateway/tls.py``).

Whitepaper edition 2 ("Improved security for OCPP 1.6-J"), the requirements cited below:
A00.FR.312/416 TLS 1.2 or above; A00.FR.317/421 the four cipher suites; A00.FR.320/424 no
compression; A00.FR.501-512 certificate properties.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.events.envelope import ClientCertificate

# A00.FR.317 / A00.FR.421: the Central System SHALL support at least these four (OpenSSL names of
# TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
# TLS_RSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_AES_256_GCM_SHA384).
WHITEPAPER_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
)
# What TLS 1.2 offers, in the server's order of preference: forward secrecy first (the note under
# A00.FR.318 recommends ECDHE); the ECDHE-RSA pair gives it to RSA stations that can, the static-RSA
# pair stays for those that cannot ("at least" the four). TLS 1.3 has its own (OpenSSL's) suites.
TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
)

# The local development CA's directory layout (``~/.cache/csms/tls``); ``ca.pem`` is a contract:
# tools outside the project verify the gateway with it.
CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
RSA_CERT, RSA_KEY = "server-rsa.pem", "server-rsa-key.pem"
ECDSA_CERT, ECDSA_KEY = "server-ecdsa.pem", "server-ecdsa-key.pem"
DEV_ORGANIZATION = "csms local development"
DEV_HOSTS = ("localhost", "127.0.0.1")
CA_DAYS = 3650
SERVER_DAYS = 397
# A certificate that expires within this margin is made again on the next start.
RENEW_MARGIN = dt.timedelta(days=7)
RSA_BITS = 2048  # A00.FR.502: at least 2048

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class ServerFiles:
    """Where the gateway's TLS material is: PEM files (A00.FR.507)."""

    rsa_cert: Path
    rsa_key: Path
    ecdsa_cert: Path
    ecdsa_key: Path
    # The CA that signs stations' client certificates (profile 3); None: none are asked for.
    client_ca: Path | None
    # The CA that verifies the server, when it is the local development CA (``ca.pem``).
    server_ca: Path | None = None

    def paths(self) -> tuple[Path, ...]:
        found = (self.rsa_cert, self.rsa_key, self.ecdsa_cert, self.ecdsa_key, self.client_ca)
        return tuple(p for p in found if p is not None)


def server_context(files: ServerFiles) -> ssl.SSLContext:
    """The station endpoint's context: TLS 1.2 and 1.3 only, the suites above, an RSA and an ECDSA
    certificate at once (the note under A00.FR.317: each key type serves its pair of suites), no
    compression, and a client certificate optional at the TLS layer but verified when presented
    (profile 3 decides per station what it requires)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # A00.FR.312/314, A00.FR.416/418
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_ciphers(":".join(TLS12_CIPHERS))
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    ctx.load_cert_chain(files.rsa_cert, files.rsa_key)
    ctx.load_cert_chain(files.ecdsa_cert, files.ecdsa_key)
    if files.client_ca is not None:
        ctx.load_verify_locations(cafile=files.client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL  # one port for profiles 2 and 3
    return ctx


def client_certificate(der: bytes) -> ClientCertificate:
    """What a verified client certificate says about its owner: CN is the station's serial number
    (A00.FR.511), O the CPO (A00.FR.509); the serial number as hex, without leading zeroes."""
    cert = x509.load_der_x509_certificate(der)

    def first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
        values = name.get_attributes_for_oid(oid)
        return str(values[0].value) if values else None

    return ClientCertificate(
        common_name=first(cert.subject, NameOID.COMMON_NAME),
        organization=first(cert.subject, NameOID.ORGANIZATION_NAME),
        serial=format(cert.serial_number, "X"),
        issuer=cert.issuer.rfc4514_string(),
        not_after_ms=int(cert.not_valid_after_utc.timestamp() * 1000),
    )


# -- certificates ---------------------------------------------------------------------------------


def new_key(kind: str) -> Key:
    """``rsa`` (2048 bits, A00.FR.502) or ``ecdsa`` (P-256, A00.FR.503)."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key type {kind!r}")


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(key: Key, *, common_name: str, organization: str, now: dt.datetime) -> x509.Certificate:
    """A self-signed root (SHA-256, A00.FR.506), for signing only (A00.FR.512 key usage)."""
    name = _name(common_name, organization)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def issue(
    ca_cert: x509.Certificate,
    ca_key: Key,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    *,
    common_name: str,
    organization: str,
    now: dt.datetime,
    days: int = SERVER_DAYS,
    hosts: Sequence[str] = (),
    client: bool = False,
) -> x509.Certificate:
    """A leaf certificate signed by ``ca_cert``: a server's (``hosts`` as subjectAltNames, IP
    addresses as such) or, with ``client``, a station's (CN = its serial number, A00.FR.511; no SAN)."""
    key_encipherment = isinstance(public_key, rsa.RSAPublicKey)  # static-RSA suites encrypt to it
    purpose = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(key_encipherment=key_encipherment), critical=True)
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _key_usage(*, cert_sign: bool = False, key_encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def valid_at(cert: x509.Certificate, now: dt.datetime) -> bool:
    """Usable now and for :data:`RENEW_MARGIN` more."""
    return cert.not_valid_before_utc <= now and now + RENEW_MARGIN < cert.not_valid_after_utc


# -- the local development CA ---------------------------------------------------------------------


def dev_files(directory: Path) -> ServerFiles:
    """The development layout; the dev CA also signs stations' certificates (profile 3 locally)."""
    return ServerFiles(
        rsa_cert=directory / RSA_CERT,
        rsa_key=directory / RSA_KEY,
        ecdsa_cert=directory / ECDSA_CERT,
        ecdsa_key=directory / ECDSA_KEY,
        client_ca=directory / CA_CERT,
        server_ca=directory / CA_CERT,
    )


def ensure_dev_certificates(
    directory: Path, now: dt.datetime, hosts: Sequence[str] = DEV_HOSTS
) -> ServerFiles:
    """Make what is missing or (nearly) expired of the local CA and the two server certificates in
    ``directory``, and reuse the rest: ``make run`` needs no set-up, and a station or tool that
    trusts ``ca.pem`` keeps trusting it across restarts. A new CA means new server certificates."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = dev_files(directory)
    ca = _load_pair(directory / CA_CERT, directory / CA_KEY)
    if ca is None or not valid_at(ca[0], now):
        ca_key = new_key("ecdsa")  # A00.FR.505: the CA signs with ECDSA
        ca_cert = make_ca(
            ca_key, common_name="csms local development CA", organization=DEV_ORGANIZATION, now=now
        )
        _write(directory / CA_KEY, key_pem(ca_key), private=True)
        _write(directory / CA_CERT, cert_pem(ca_cert))
    else:
        ca_cert, ca_key = ca
    for kind, cert_path, key_path in (
        ("rsa", files.rsa_cert, files.rsa_key),
        ("ecdsa", files.ecdsa_cert, files.ecdsa_key),
    ):
        pair = _load_pair(cert_path, key_path)
        if pair is not None and valid_at(pair[0], now) and pair[0].issuer == ca_cert.subject:
            try:
                pair[0].verify_directly_issued_by(ca_cert)
                continue
            except (ValueError, TypeError, InvalidSignature):
                pass
        key = new_key(kind)
        cert = issue(
            ca_cert,
            ca_key,
            key.public_key(),
            common_name=hosts[0],
            organization=DEV_ORGANIZATION,
            now=now,
            hosts=hosts,
        )
        _write(key_path, key_pem(key), private=True)
        _write(cert_path, cert_pem(cert))
    return files


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, Key] | None:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, Key) or key.public_key() != cert.public_key():
        return None
    return cert, key


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Whole or not at all (a gateway starting beside another reads no half file); keys mode 600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
