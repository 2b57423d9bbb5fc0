"""The check of a signed firmware image before any station is sent it (ADR 0040): its signing
certificate is one PEM X.509 certificate and its signature verifies over the image's SHA-256 with
the certificate's public key. Pure: the digest is the one the storage computed while saving.

Whitepaper 6.7 FirmwareType: ``signingCertificate`` is a PEM X.509 certificate (at most 5500
characters), ``signature`` the Base64 firmware signature (at most 800). What is signed and how is
not spelled out there; A00.FR.504-506 name RSA (PKCS#1 v1.5 or PSS) or ECDSA, hashes SHA-256.
So: RSA PKCS#1 v1.5, RSA-PSS or ECDSA, each over SHA-256 of the image bytes; anything else is refused.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from shared.certificates import read_certificate

MAX_CERTIFICATE = 5500
MAX_SIGNATURE = 800


def refusal(signing_certificate: str, signature: str, sha256: bytes) -> tuple[str, str] | None:
    """Why the signature does not stand (field, why), or None when it verifies over ``sha256``."""
    if len(signing_certificate) > MAX_CERTIFICATE:
        return "signingCertificate", f"at most {MAX_CERTIFICATE} characters (whitepaper 6.7)"
    if len(signature) > MAX_SIGNATURE:
        return "signature", f"at most {MAX_SIGNATURE} characters (whitepaper 6.7)"
    certificate = read_certificate(signing_certificate)
    if certificate is None:
        return "signingCertificate", "not one PEM X.509 certificate"
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return "signature", "not Base64"
    key = certificate.public_key()
    prehashed = utils.Prehashed(hashes.SHA256())
    try:
        if isinstance(key, rsa.RSAPublicKey):
            schemes: list[padding.AsymmetricPadding] = [
                padding.PKCS1v15(),
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
            ]
            for scheme in schemes:
                try:
                    key.verify(raw, sha256, scheme, prehashed)
                    return None
                except InvalidSignature:
                    continue
            raise InvalidSignature
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, sha256, ec.ECDSA(prehashed))
            return None
    except InvalidSignature:
        return "signature", "does not verify over the image's SHA-256 with the certificate's key"
    return "signingCertificate", "its key is neither RSA nor EC"
