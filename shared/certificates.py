"""Charge-point certificates from a station's CSR (security whitepaper use case A02/A03), pure.

A station sends SignCertificate with a PEM CSR; the Central System answers Accepted when it can
process it (A02.FR.11: the CSR reads and is signed by its own key) and hands it to a certificate
authority, which signs it only if it is what the whitepaper asks of a charge-point certificate:
a key of at least RSA 2048 or ECC P-256 (A00.FR.502/503), O = the CPO name (A02.FR.13), CN = the
station's serial number (A00.FR.511). The authority is behind :class:`CertificateAuthority`, so a
dedicated CA server (A02.FR.04 recommends one) can replace the local one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from shared import tls

MIN_RSA_BITS = 2048  # A00.FR.502
MIN_EC_BITS = 256  # A00.FR.503
CHARGE_POINT_DAYS = 365 * 2


def read_csr(pem: str) -> x509.CertificateSigningRequest | None:
    """The CSR when ``pem`` is one whose signature matches its own key, else None (Rejected)."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except (ValueError, TypeError):
        return None
    try:
        return csr if csr.is_signature_valid else None
    except (ValueError, TypeError):  # an algorithm the library cannot check
        return None


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    value = values[0].value if len(values) == 1 else None
    return value if isinstance(value, str) else None


def subject_of(csr: x509.CertificateSigningRequest) -> tuple[str | None, str | None]:
    """(CN, O) of the CSR's subject; None where absent or given more than once."""
    return _attribute(csr.subject, NameOID.COMMON_NAME), _attribute(csr.subject, NameOID.ORGANIZATION_NAME)


def refusal(csr: x509.CertificateSigningRequest, *, serial_number: str | None, cpo_name: str) -> str | None:
    """Why the CSR must not be signed for a station with ``serial_number``, or None."""
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            return f"RSA key of {key.key_size} bits, at least {MIN_RSA_BITS} are required"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < MIN_EC_BITS:
            return f"EC key on {key.curve.name}, at least {MIN_EC_BITS} bits are required"
    else:
        return f"a {type(key).__name__} is not an RSA or ECC key"
    common_name, organization = subject_of(csr)
    if not cpo_name:
        return "no CPO name is configured (CSMS_CPO_NAME)"
    if organization != cpo_name:
        return f"O is {organization!r}, not the CPO name {cpo_name!r}"
    if serial_number is None:
        return "the station has not sent a BootNotification with its serial number"
    if common_name != serial_number:
        return f"CN is {common_name!r}, not the station's serial number {serial_number!r}"
    return None


class CertificateAuthority(Protocol):
    """Signs a checked CSR; returns the PEM chain for CertificateSigned (leaf first)."""

    def sign(self, csr: x509.CertificateSigningRequest, now: dt.datetime) -> str: ...


class LocalCertificateAuthority:
    """The CSMS's own charge-point CA from two PEM files (locally the development CA of
    ``shared/tls.py``, which the gateway also verifies profile-3 client certificates with)."""

    def __init__(self, cert_path: Path, key_path: Path) -> None:
        self._cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: the CA key must be RSA or ECC")
        self._key = key

    def sign(self, csr: x509.CertificateSigningRequest, now: dt.datetime) -> str:
        public_key = csr.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)  # refusal() checked
        common_name, organization = subject_of(csr)
        leaf = tls.issue(
            self._cert,
            self._key,
            public_key,
            common_name=common_name or "",
            organization=organization or "",
            now=now,
            days=CHARGE_POINT_DAYS,
            client=True,
        )
        return (tls.cert_pem(leaf) + tls.cert_pem(self._cert)).decode()


# -- certificates installed on stations (InstallCertificate, GetInstalledCertificateIds, DeleteCertificate)

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


def read_certificate(pem: str) -> x509.Certificate | None:
    """The one X.509 certificate in ``pem`` (InstallCertificate carries exactly one), else None."""
    try:
        found = x509.load_pem_x509_certificates(pem.encode())
    except (ValueError, TypeError):
        return None
    return found[0] if len(found) == 1 else None


def read_chain(pem: str) -> list[x509.Certificate] | None:
    """The certificates of a CertificateSigned chain (leaf first), None unless all are PEM X.509."""
    try:
        return x509.load_pem_x509_certificates(pem.encode()) or None
    except (ValueError, TypeError):
        return None


def _key_bits(key: object) -> bytes:
    """The subjectPublicKey BIT STRING's content of ``key`` (what OCSP's issuerKeyHash hashes)."""
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    raise ValueError(f"a {type(key).__name__} is not an RSA or ECC key")


def hash_data(
    certificate: x509.Certificate, algorithm: str, issuer: x509.Certificate | None = None
) -> dict[str, str]:
    """CertificateHashDataType (whitepaper 6.1) of ``certificate`` the OCSP way (RFC 6960 4.1.1):
    issuerNameHash over the DER of its issuer's name, issuerKeyHash over the issuer's public key
    bits, serialNumber in hex without leading zeroes. A root is its own issuer (``issuer`` None)."""
    issuer = issuer or certificate
    if certificate.issuer != issuer.subject:
        raise ValueError("the issuer certificate is not the one that issued the certificate")

    def digest(data: bytes) -> str:
        h = hashes.Hash(HASHES[algorithm]())
        h.update(data)
        value: bytes = h.finalize()
        return value.hex()

    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": digest(certificate.issuer.public_bytes()),
        "issuerKeyHash": digest(_key_bits(issuer.public_key())),
        "serialNumber": format(certificate.serial_number, "x"),
    }


def cpo_name(configured: str, *, development_ca: bool) -> str:
    """The CPO name certificates must carry as O: ``CSMS_CPO_NAME``; unset, the development CA's
    organization when that CA signs the stations' certificates (``make run``), else none (then
    no certificate is the CPO's and none is signed)."""
    if configured:
        return configured
    return tls.DEV_ORGANIZATION if development_ca else ""
