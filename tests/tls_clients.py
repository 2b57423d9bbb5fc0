"""TLS clients as stations use them, for the unit and end-to-end tests of the wss endpoint
(ADR 0035): contexts trusting a CA, a too-old one, and station certificates signed by a CA."""

from __future__ import annotations

import datetime as dt
import ssl
import warnings
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from shared.tls import CA_CERT, CA_KEY, Key, cert_pem, issue, key_pem, make_ca, new_key


def client_context(ca: Path, *, tls12_ciphers: str | None = None) -> ssl.SSLContext:
    """A client that verifies the server with ``ca``; with ``tls12_ciphers``, TLS 1.2 offering those."""
    ctx = ssl.create_default_context(cafile=str(ca))
    if tls12_ciphers is not None:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(tls12_ciphers)
    return ctx


def old_tls_client(ca: Path) -> ssl.SSLContext:
    """TLS 1.0/1.1 only, willing to use them (security level 0): what a legacy station offers."""
    ctx = ssl.create_default_context(cafile=str(ca))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the point: a deprecated version
        ctx.minimum_version, ctx.maximum_version = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def load_ca(directory: Path) -> tuple[x509.Certificate, Key]:
    """The development CA of ``directory`` (``ca.pem`` and its key)."""
    key = load_pem_private_key((directory / CA_KEY).read_bytes(), None)
    assert isinstance(key, Key)
    return x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes()), key


def other_ca(now: dt.datetime) -> tuple[x509.Certificate, Key]:
    """A CA nobody configured: what it signs must not get in."""
    key = new_key("ecdsa")
    return make_ca(key, common_name="another CA", organization="someone else", now=now), key


def station_certificate(
    ca: tuple[x509.Certificate, Key],
    directory: Path,
    *,
    serial_number: str,
    cpo: str,
    kind: str = "ecdsa",
    now: dt.datetime | None = None,
) -> tuple[Path, Path]:
    """A station's client certificate (CN = its serial number, O = the CPO) and key as PEM files."""
    key = new_key(kind)
    cert = issue(
        ca[0],
        ca[1],
        key.public_key(),
        common_name=serial_number,
        organization=cpo,
        now=now or dt.datetime.now(dt.UTC),
        client=True,
    )
    cert_path, key_path = directory / f"{serial_number}.pem", directory / f"{serial_number}-key.pem"
    cert_path.write_bytes(cert_pem(cert))
    key_path.write_bytes(key_pem(key))
    return cert_path, key_path


def station_tls(ca_file: Path, cert_and_key: tuple[Path, Path]) -> ssl.SSLContext:
    """A profile-3 station's client: trusts the server's CA, presents its own certificate."""
    ctx = client_context(ca_file)
    ctx.load_cert_chain(*cert_and_key)
    return ctx


def forwarded_header(cert_path: Path) -> str:
    """The certificate as an ingress passes it on (nginx ``ssl-client-cert``: URL-encoded PEM)."""
    return quote(cert_path.read_text())
