"""SignCertificate (security whitepaper 5.17, A02.FR.11/12): Accepted when the CSR can be
processed, Rejected when not; the signing follows apart (certificate_signer.py)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.ocpp.v16.messages import SignCertificateRequest, SignCertificateResponse
from tests.unit.stations.builders import call


def test_a_readable_csr_is_accepted_and_garbage_rejected() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SN1")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    readable = csr.public_bytes(serialization.Encoding.PEM).decode()
    assert call("SignCertificate", SignCertificateRequest(csr=readable)) == (
        SignCertificateResponse(status="Accepted"),
        [],
    )
    assert call("SignCertificate", SignCertificateRequest(csr="garbage")) == (
        SignCertificateResponse(status="Rejected"),
        [],
    )
