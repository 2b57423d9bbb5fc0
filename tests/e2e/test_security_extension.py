"""The 1.6 security extension's messages end to end (security whitepaper, chapter 5), driven by the
independent `ocpp` client: the station's notifications are answered and SecurityEventNotifications
stored per station with their criticality (section 8); the Central System's CALLs go out through
the generic command endpoint, validated both ways like every 1.6 action."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from ocpp.v16 import call, call_result
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from services.stations.certificate_signer import CertificateSigner
from shared import tls
from shared.certificates import HASHES, cpo_name
from tests.e2e.conftest import Api, System, eventually, metric_sum, unique_station
from tests.e2e.station import OCPP16, basic_auth, boot_raw, iso, now, station
from tests.tls_clients import station_tls

pytestmark = pytest.mark.e2e


async def test_security_events_are_stored_per_station_with_their_criticality(
    system: System, api: Api
) -> None:
    """A04.FR.03: the Central System confirms every notification; critical ones can be listed fleet-wide."""
    station_id = unique_station("SEC")
    before = {
        kind: metric_sum("csms.security_events", type=kind, source="station")
        for kind in ("TamperDetectionActivated", "InvalidMessages")
    }
    reported = [
        ("TamperDetectionActivated", "lid opened"),  # critical (section 8)
        ("InvalidMessages", None),  # not critical
        ("AcmeDoorSensor", "vendor-specific"),  # not in the table: stored, not critical
    ]
    async with station(system.station_url(station_id)) as cp:
        for event_type, info in reported:
            answer = await cp.call(
                call.SecurityEventNotification(type=event_type, timestamp=iso(now()), tech_info=info)
            )
            assert answer == call_result.SecurityEventNotification()

    def all_three(body: dict[str, object]) -> bool:
        return isinstance(body["securityEvents"], list) and len(body["securityEvents"]) == 3

    body = await api.until(f"/api/v1/security-events?stationId={station_id}", all_three)
    events = body["securityEvents"]
    assert [(e["type"], e["critical"], e["techInfo"]) for e in events] == [
        (t, t == "TamperDetectionActivated", info) for t, info in reversed(reported)
    ]  # newest first
    assert all(e["stationId"] == station_id and e["occurredAt"] and e["receivedAt"] for e in events)
    assert {e["source"] for e in events} == {"station"}
    # In the metrics too, critical ones marked so (an alert can watch them).
    tamper = metric_sum(
        "csms.security_events", type="TamperDetectionActivated", source="station", critical=True
    )
    assert tamper >= before["TamperDetectionActivated"] + 1
    invalid = metric_sum("csms.security_events", type="InvalidMessages", source="station", critical=False)
    assert invalid >= before["InvalidMessages"] + 1
    code, critical = await api.get("/api/v1/security-events", stationId=station_id, critical="true")
    assert code == 200 and [e["type"] for e in critical["securityEvents"]] == ["TamperDetectionActivated"]
    code, first = await api.get("/api/v1/security-events", stationId=station_id, limit="2")
    assert code == 200 and len(first["securityEvents"]) == 2 and first["next"]
    code, rest = await api.get(
        "/api/v1/security-events", stationId=station_id, limit="2", cursor=first["next"]
    )
    assert code == 200 and [e["type"] for e in rest["securityEvents"]] == ["TamperDetectionActivated"]
    assert rest["next"] is None
    code, bad = await api.get("/api/v1/security-events", critical="maybe")
    assert code == 400 and bad["error"]["field"] == "critical"


async def test_what_the_csms_refused_a_station_for_is_one_of_its_security_events(
    system: System, api: Api
) -> None:
    """A00.FR.408: a connection refused for security is recorded, and listed with the station's own."""
    station_id = unique_station("SEC")
    before = metric_sum("csms.security_events", source="csms")
    code, body = await api.put(f"/api/v1/stations/{station_id}", {"password": "p" * 16, "securityProfile": 2})
    assert code == 201, body
    auth = basic_auth(station_id, "p" * 16)
    with pytest.raises(InvalidStatus) as refused:  # profile 2 is TLS only: plain ws is a downgrade
        async with station(system.station_url(station_id), Authorization=auth):
            pass
    assert refused.value.response.status_code == 403

    def one(body: dict[str, Any]) -> bool:
        return len(body["securityEvents"]) == 1

    body = await api.until(f"/api/v1/security-events?stationId={station_id}&source=csms", one)
    [event] = body["securityEvents"]
    assert event["source"] == "csms" and event["stationId"] == station_id and event["techInfo"], event
    assert metric_sum("csms.security_events", type=event["type"], source="csms") >= 1
    assert metric_sum("csms.security_events", source="csms") >= before + 1
    code, none = await api.get("/api/v1/security-events", stationId=station_id, source="station")
    assert code == 200 and none["securityEvents"] == []
    code, bad = await api.get("/api/v1/security-events", source="someone")
    assert code == 400 and bad["error"]["field"] == "source"


async def test_the_other_notifications_are_answered(system: System) -> None:
    async with station(system.station_url(unique_station("SEC"))) as cp:
        answer = await cp.call(call.LogStatusNotification(status="Uploaded", request_id=3))
        assert answer == call_result.LogStatusNotification()
        answer = await cp.call(
            call.SignedFirmwareStatusNotification(status="SignatureVerified", request_id=4)
        )
        assert answer == call_result.SignedFirmwareStatusNotification()
    async with connect(system.station_url(unique_station("SEC")), subprotocols=OCPP16) as ws:
        await boot_raw(ws)
        # A request the schema refuses gets its precise CALLERROR (requestId is an integer).
        await ws.send('[2,"l1","LogStatusNotification",{"status":"Uploaded","requestId":"x"}]')
        assert json.loads(await ws.recv())[:3] == [4, "l1", "TypeConstraintViolation"]


def make_csr(common_name: str, organization: str, key: Any = None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


async def test_a_sign_certificate_gets_a_certificate_signed_by_the_charge_point_ca(
    system: System, api: Api, tmp_path: Path
) -> None:
    """OCTT TC_074 (A02): the operator triggers it; SignCertificate is Accepted (A02.FR.11), checked
    (CN = serial number, O = CPO name, key size), signed by the charge-point CA and sent back with
    CertificateSigned; the station then connects on profile 3 with it. What must not be signed is not."""
    signer = next(r for r in system.runners if isinstance(r, CertificateSigner))
    cpo = cpo_name(system.settings.cpo_name, development_ca=True)  # the tests sign with the dev CA
    serial = f"SN-{uuid.uuid4().hex[:10]}"
    station_id = unique_station("SEC")
    async with station(system.station_url(station_id)) as cp:
        cp.answering("CertificateSigned", call_result.CertificateSigned(status="Accepted"))
        cp.answering("ExtendedTriggerMessage", call_result.ExtendedTriggerMessage(status="Accepted"))
        booted = await cp.call(
            call.BootNotification(
                charge_point_model="M", charge_point_vendor="V", charge_point_serial_number=serial
            )
        )
        assert booted.status == "Accepted"

        def serial_bound() -> bool:  # the boot's serial, as the gateway bound it (csms.security)
            known = signer.security.get(cp.id)
            return known is not None and known.serial_number == serial

        await eventually(serial_bound)
        code, body = await api.post(
            f"/api/v1/stations/{station_id}/commands/ExtendedTriggerMessage",
            {"requestedMessage": "SignChargePointCertificate"},
        )
        assert code == 200 and body["response"] == {"status": "Accepted"}, body
        key = ec.generate_private_key(ec.SECP256R1())
        answer = await cp.call(call.SignCertificate(csr=make_csr(serial, cpo, key)))
        assert answer.status == "Accepted"
        await eventually(lambda: any(a == "CertificateSigned" for a, _ in cp.received), timeout=20)
        chain = x509.load_pem_x509_certificates(cp.last("CertificateSigned")["certificate_chain"].encode())
        leaf, ca = chain
        ca_pem = (Path(system.settings.tls_dir) / "ca.pem").read_bytes()
        assert ca == x509.load_pem_x509_certificate(ca_pem)
        leaf.verify_directly_issued_by(ca)
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == serial
        assert leaf.public_key() == key.public_key()
        # Wrong CPO, wrong serial: Accepted (the CSR can be processed) but never signed.
        refused = signer.refused
        for cn, org in ((serial, "Another CPO"), ("SN-someone-else", cpo)):
            assert (await cp.call(call.SignCertificate(csr=make_csr(cn, org)))).status == "Accepted"
        await eventually(lambda: signer.refused == refused + 2)
        assert [a for a, _ in cp.received].count("CertificateSigned") == 1
        body = await api.until(
            f"/api/v1/security-events?stationId={station_id}&source=csms",
            lambda b: len(b["securityEvents"]) == 2,
        )
        reasons = sorted(e["techInfo"] for e in body["securityEvents"])
        assert {e["type"] for e in body["securityEvents"]} == {"CertificateSigningRefused"}
        assert "serial number" in reasons[0] and "not the CPO name" in reasons[1], reasons
        # A CSR that does not read is Rejected (A02.FR.12).
        garbage = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----"
        assert (await cp.call(call.SignCertificate(csr=garbage))).status == "Rejected"
    # The new certificate is the station's on profile 3: over TLS, no password.
    code, body = await api.put(
        f"/api/v1/stations/{station_id}", {"securityProfile": 3, "serialNumber": serial}
    )
    assert code == 200, body
    cert_file, key_file = tmp_path / "station.pem", tmp_path / "station-key.pem"
    cert_file.write_bytes(tls.cert_pem(leaf))
    key_file.write_bytes(tls.key_pem(key))
    client = station_tls(system.ca_file, (cert_file, key_file))
    async with station(system.tls_station_url(station_id), tls=client, boot=False) as cp3:
        booted = await cp3.call(
            call.BootNotification(
                charge_point_model="M", charge_point_vendor="V", charge_point_serial_number=serial
            )
        )
        assert booted.status == "Accepted"


async def test_central_system_security_calls_go_out_through_the_command_endpoint(
    system: System, api: Api
) -> None:
    station_id = unique_station("SEC")
    async with station(system.station_url(station_id)) as cp:
        cp.answering("ExtendedTriggerMessage", call_result.ExtendedTriggerMessage(status="Accepted"))
        cp.answering(
            "GetInstalledCertificateIds",
            call_result.GetInstalledCertificateIds(
                status="Accepted",
                certificate_hash_data=[
                    {
                        "hashAlgorithm": "SHA256",
                        "issuerNameHash": "a" * 64,
                        "issuerKeyHash": "b" * 64,
                        "serialNumber": "1f",
                    }
                ],
            ),
        )
        base = f"/api/v1/stations/{station_id}/commands"
        code, body = await api.post(
            f"{base}/ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}
        )
        assert code == 200 and body["response"] == {"status": "Accepted"}, body
        assert cp.last("ExtendedTriggerMessage") == {"requested_message": "SignChargePointCertificate"}
        code, body = await api.post(
            f"{base}/GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"}
        )
        assert code == 200 and body["response"]["certificateHashData"][0]["serialNumber"] == "1f", body
        # Validated on the way out like every 1.6 action: nothing is sent.
        code, body = await api.post(f"{base}/ExtendedTriggerMessage", {"requestedMessage": "Coffee"})
        assert 400 <= code < 500, body
        assert [a for a, _ in cp.received].count("ExtendedTriggerMessage") == 1


async def test_install_list_and_delete_a_certificate_by_its_ocsp_hash_data(system: System, api: Api) -> None:
    """OCTT TC_075/TC_076: InstallCertificate, GetInstalledCertificateIds, then DeleteCertificate
    with hash data that equal the station's own OCSP calculation, for each hash algorithm."""
    station_id = unique_station("SEC")
    key = ec.generate_private_key(ec.SECP256R1())
    root = tls.make_ca(key, common_name="Acme Root", organization="Acme", now=dt.datetime.now(dt.UTC))
    root_pem = tls.cert_pem(root).decode()
    deleted: list[dict[str, Any]] = []

    def delete(request: dict[str, Any]) -> Any:
        deleted.append(request["certificate_hash_data"])
        return call_result.DeleteCertificate(status="Accepted")

    async with station(system.station_url(station_id)) as cp:
        cp.answering("InstallCertificate", call_result.InstallCertificate(status="Accepted"))
        cp.answering("DeleteCertificate", delete)
        base = f"/api/v1/stations/{station_id}/commands"
        install = {"certificateType": "ManufacturerRootCertificate", "certificate": root_pem}
        code, body = await api.post(f"{base}/InstallCertificate", install)
        assert code == 200 and body["response"] == {"status": "Accepted"}, body
        assert cp.last("InstallCertificate")["certificate"] == root_pem
        for algorithm in ("SHA256", "SHA384", "SHA512"):
            code, computed = await api.post(
                "/api/v1/certificate-hash-data", {"certificate": root_pem, "hashAlgorithm": algorithm}
            )
            assert code == 200, computed
            data = computed["certificateHashData"]
            code, body = await api.post(f"{base}/DeleteCertificate", {"certificateHashData": data})
            assert code == 200 and body["response"] == {"status": "Accepted"}, body
            own = ocsp.OCSPRequestBuilder().add_certificate(root, root, HASHES[algorithm]()).build()
            sent = deleted[-1]  # as the ocpp client hands it over: snake_case
            assert sent["hash_algorithm"] == algorithm
            assert sent["issuer_name_hash"].lower() == own.issuer_name_hash.hex()
            assert sent["issuer_key_hash"].lower() == own.issuer_key_hash.hex()
            assert int(sent["serial_number"], 16) == own.serial_number
        # What is not a certificate is refused before it reaches the station.
        code, body = await api.post(f"{base}/InstallCertificate", {**install, "certificate": "not PEM"})
        assert code == 422 and body["error"]["field"] == "certificate", body
        code, body = await api.post(f"{base}/CertificateSigned", {"certificateChain": "not PEM"})
        assert code == 422 and body["error"]["field"] == "certificateChain", body
        code, body = await api.post("/api/v1/certificate-hash-data", {"certificate": "not PEM"})
        assert code == 422, body
        assert [a for a, _ in cp.received].count("InstallCertificate") == 1
