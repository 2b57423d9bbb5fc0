"""A manufacturer's firmware signing key and certificate for tests, and signatures made with it."""

from __future__ import annotations

import base64
import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def signer(kind: str = "rsa") -> tuple[Key, str]:
    """A key (``rsa`` 2048 or ``ecdsa`` P-256) and its self-signed PEM certificate."""
    key: Key = (
        rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Acme firmware signing")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


def sign(key: Key, image: bytes, scheme: str = "pkcs1") -> str:
    """The Base64 signature of ``image`` (SHA-256): RSA PKCS#1 v1.5 or PSS, or ECDSA."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        raw = key.sign(image, ec.ECDSA(hashes.SHA256()))
    elif scheme == "pss":
        raw = key.sign(
            image, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH), hashes.SHA256()
        )
    else:
        raw = key.sign(image, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()
