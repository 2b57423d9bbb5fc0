"""Certificates on stations, the operator side (security whitepaper use cases M03-M05).

InstallCertificate and CertificateSigned go out through the generic command endpoint; before they
do, :func:`check_command` refuses (422) a certificate that is not one PEM X.509 certificate, or a
chain that is not PEM X.509 certificates, so a station is never sent what it can only reject.
``POST /api/v1/certificate-hash-data`` computes a certificate's CertificateHashDataType the OCSP way
(the note's section 5.6, RFC 6960), the ids GetInstalledCertificateIds answers with and
DeleteCertificate names a certificate by."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from aiohttp import web
from cryptography import x509

from services.api.errors import ApiError, ok, read_body
from shared.certificates import hash_data, read_certificate, read_chain
from shared.ocpp.v16.messages import CertificateSignedRequest, InstallCertificateRequest


def certificate_of(pem: str, field: str) -> x509.Certificate:
    """The one PEM X.509 certificate ``field`` carries; 422 naming the field otherwise."""
    certificate = read_certificate(pem)
    if certificate is None:
        raise ApiError(422, "InvalidCertificate", f"{field} must be one PEM X.509 certificate", field=field)
    return certificate


def check_command(action: str, decoded: Any) -> None:
    """422 when the certificate a command carries is not what its message requires."""
    if isinstance(decoded, InstallCertificateRequest):
        certificate_of(decoded.certificate, "certificate")
    if isinstance(decoded, CertificateSignedRequest) and read_chain(decoded.certificate_chain) is None:
        raise ApiError(
            422,
            "InvalidCertificate",
            "certificateChain must be PEM X.509 certificates, the station's first",
            field="certificateChain",
        )


class HashDataPost(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """Body of ``POST /api/v1/certificate-hash-data``."""

    certificate: str  # PEM
    hash_algorithm: Literal["SHA256", "SHA384", "SHA512"] = "SHA256"
    # PEM of the certificate that issued it; absent: it is a root (its own issuer).
    issuer_certificate: str | None = None


class HashDataView(msgspec.Struct, rename="camel", kw_only=True):
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str


class HashDataAnswer(msgspec.Struct, rename="camel", kw_only=True):
    """Answer of ``POST /api/v1/certificate-hash-data``: DeleteCertificate's certificateHashData."""

    certificate_hash_data: HashDataView


async def post_hash_data(request: web.Request) -> web.Response:
    body: HashDataPost = await read_body(request, HashDataPost)
    certificate = certificate_of(body.certificate, "certificate")
    issuer = None
    if body.issuer_certificate is not None:
        issuer = certificate_of(body.issuer_certificate, "issuerCertificate")
    try:
        data = hash_data(certificate, body.hash_algorithm, issuer)
    except ValueError as exc:
        field = "issuerCertificate" if issuer is not None else "certificate"
        raise ApiError(422, "InvalidCertificate", str(exc), field=field) from exc
    return ok(
        HashDataAnswer(certificate_hash_data=msgspec.convert(data, HashDataView, from_attributes=False))
    )


ROUTES = [web.post("/api/v1/certificate-hash-data", post_hash_data)]
