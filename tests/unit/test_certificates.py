"""Charge-point certificates from CSRs (shared/certificates.py; security whitepaper A02): what is
processed, what is signed, and what the local charge-point CA issues."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from shared import tls
from shared.certificates import (
    HASHES,
    LocalCertificateAuthority,
    hash_data,
    read_certificate,
    read_chain,
    read_csr,
    refusal,
)

NOW = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
CPO = "Acme Charging"


def csr_of(key: Any, *attributes: tuple[x509.ObjectIdentifier, str]) -> x509.CertificateSigningRequest:
    subject = x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])
    return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())


def pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


EC_KEY = ec.generate_private_key(ec.SECP256R1())
GOOD = csr_of(EC_KEY, (NameOID.ORGANIZATION_NAME, CPO), (NameOID.COMMON_NAME, "SN1"))


def test_a_csr_that_reads_and_matches_its_key_can_be_processed() -> None:
    assert read_csr(pem(GOOD)) == GOOD
    assert read_csr("not a csr") is None
    assert read_csr("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----") is None


def test_a_csr_whose_signature_does_not_match_its_key_is_not_processed() -> None:
    der = bytearray(GOOD.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte of the signature (the DER ends with it): still a CSR, not its key's
    tampered = x509.load_der_x509_csr(bytes(der))
    assert not tampered.is_signature_valid
    assert read_csr(tampered.public_bytes(serialization.Encoding.PEM).decode()) is None


def test_what_is_signed_is_what_the_whitepaper_asks_of_a_charge_point_certificate() -> None:
    assert refusal(GOOD, serial_number="SN1", cpo_name=CPO) is None
    assert "serial number" in (refusal(GOOD, serial_number="SN2", cpo_name=CPO) or "")
    assert "BootNotification" in (refusal(GOOD, serial_number=None, cpo_name=CPO) or "")
    assert "not the CPO name" in (refusal(GOOD, serial_number="SN1", cpo_name="Other") or "")
    assert "CSMS_CPO_NAME" in (refusal(GOOD, serial_number="SN1", cpo_name="") or "")
    no_org = csr_of(EC_KEY, (NameOID.COMMON_NAME, "SN1"))
    assert "O is None" in (refusal(no_org, serial_number="SN1", cpo_name=CPO) or "")
    small_rsa = csr_of(
        rsa.generate_private_key(public_exponent=65537, key_size=1024),
        (NameOID.ORGANIZATION_NAME, CPO),
        (NameOID.COMMON_NAME, "SN1"),
    )
    assert "at least 2048" in (refusal(small_rsa, serial_number="SN1", cpo_name=CPO) or "")
    small_ec = csr_of(
        ec.generate_private_key(ec.SECP192R1()),
        (NameOID.ORGANIZATION_NAME, CPO),
        (NameOID.COMMON_NAME, "SN1"),
    )
    assert "at least 256" in (refusal(small_ec, serial_number="SN1", cpo_name=CPO) or "")


@pytest.fixture
def authority(tmp_path: Path) -> tuple[LocalCertificateAuthority, x509.Certificate]:
    tls.ensure_dev_certificates(tmp_path, NOW)
    ca = x509.load_pem_x509_certificate((tmp_path / tls.CA_CERT).read_bytes())
    return LocalCertificateAuthority(tmp_path / tls.CA_CERT, tmp_path / tls.CA_KEY), ca


def test_the_local_ca_issues_a_client_certificate_for_the_csrs_key(
    authority: tuple[LocalCertificateAuthority, x509.Certificate],
) -> None:
    ca_authority, ca = authority
    leaf, root = x509.load_pem_x509_certificates(ca_authority.sign(GOOD, NOW).encode())
    assert root == ca
    leaf.verify_directly_issued_by(ca)
    assert leaf.public_key() == EC_KEY.public_key()
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "SN1"
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == CPO
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert leaf.not_valid_before_utc <= NOW < leaf.not_valid_after_utc


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
def test_hash_data_is_what_an_ocsp_request_names_the_certificate_by(
    authority: tuple[LocalCertificateAuthority, x509.Certificate], algorithm: str
) -> None:
    """The note's section 5.6 (RFC 6960 4.1.1), checked against cryptography's own OCSP request."""
    ca_authority, ca = authority
    leaf = x509.load_pem_x509_certificates(ca_authority.sign(GOOD, NOW).encode())[0]
    for certificate, issuer in ((leaf, ca), (ca, ca)):
        ocsp_request = (
            ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, HASHES[algorithm]()).build()
        )
        expected = {
            "hashAlgorithm": algorithm,
            "issuerNameHash": ocsp_request.issuer_name_hash.hex(),
            "issuerKeyHash": ocsp_request.issuer_key_hash.hex(),
            "serialNumber": format(ocsp_request.serial_number, "x"),
        }
        assert hash_data(certificate, algorithm, issuer if certificate is leaf else None) == expected
    assert not hash_data(ca, algorithm)["serialNumber"].startswith("0")
    with pytest.raises(ValueError, match="not the one that issued"):
        hash_data(ca, algorithm, leaf)


def test_rsa_issuer_keys_are_hashed_over_their_pkcs1_bits() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = tls.make_ca(key, common_name="root", organization=CPO, now=NOW)
    ocsp_request = ocsp.OCSPRequestBuilder().add_certificate(root, root, hashes.SHA256()).build()
    assert hash_data(root, "SHA256")["issuerKeyHash"] == ocsp_request.issuer_key_hash.hex()


def test_pem_readers_take_exactly_what_the_messages_carry() -> None:
    ca = tls.make_ca(EC_KEY, common_name="root", organization=CPO, now=NOW)
    one = tls.cert_pem(ca).decode()
    assert read_certificate(one) == ca
    assert read_certificate(one + one) is None  # InstallCertificate carries one certificate
    assert read_certificate("garbage") is None
    assert read_chain(one + one) == [ca, ca]
    assert read_chain("garbage") is None and read_chain("") is None
