"""Signed firmware (whitepaper L01, 5.19-5.22, ADR 0040): the upload check of a signature, the
SignedUpdateFirmware a supporting station is sent, and how SignedFirmwareStatusNotification and
SignedUpdateFirmware.conf statuses move a station's run."""

from __future__ import annotations

import hashlib

import pytest

from services.firmware import calls, decide, signature
from services.firmware.events import (
    CampaignCreated,
    FirmwareEvent,
    ImageAdded,
    Policy,
    StationFinished,
    StationProgress,
)
from services.firmware.state import STEPS_BY_STATUS, State, Step
from shared.events.commands import OutcomeStatus
from shared.ocpp.v16.messages import BootNotificationRequest, SignedFirmwareStatusNotificationRequest
from tests.unit.firmware.signing import sign, signer
from tests.unit.firmware.test_campaign import apply
from tests.unit.firmware.test_decide import outcome

IMAGE = b"CSMS-SIM-FW 3.0.0\n" + bytes(range(256)) * 10


@pytest.mark.parametrize(("kind", "scheme"), [("rsa", "pkcs1"), ("rsa", "pss"), ("ecdsa", "")])
def test_a_good_signature_verifies(kind: str, scheme: str) -> None:
    key, cert = signer(kind)
    assert signature.refusal(cert, sign(key, IMAGE, scheme), hashlib.sha256(IMAGE).digest()) is None


def test_bad_signatures_and_certificates_are_refused() -> None:
    key, cert = signer("rsa")
    other, _ = signer("ecdsa")
    digest = hashlib.sha256(IMAGE).digest()
    good = sign(key, IMAGE)
    cases = [
        (cert, sign(key, IMAGE + b"x"), "signature"),  # another image's
        (cert, sign(other, IMAGE), "signature"),  # another key's
        (cert, "not base64!", "signature"),
        (cert, "A" * 804, "signature"),  # longer than 6.7 allows
        ("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", good, "signingCertificate"),
        (cert + cert, good, "signingCertificate"),  # two certificates, not one
    ]
    for certificate, sig, field in cases:
        refused = signature.refusal(certificate, sig, digest)
        assert refused is not None and refused[0] == field, (field, refused)


def signed_state(signed: list[str], stations: tuple[str, ...] = ("S0", "S1")) -> State:
    state = State()
    apply(
        state,
        [
            ImageAdded(
                image_id="img",
                name="fw.bin",
                version="3.0",
                size=3,
                sha256="x",
                storage_key="k",
                signing_certificate="PEM",
                signature="SIG",
                at_ms=0,
            ),
            CampaignCreated(
                campaign_id="c",
                image_id="img",
                stations=list(stations),
                target={"stations": list(stations)},
                policy=Policy(batch_size=2, max_in_flight=2),
                token="t",
                signed_stations=signed,
                request_id=77,
                retries=3,
                at_ms=0,
            ),
        ],
    )
    apply(state, decide.tick(state, 1, 10_000))
    return state


def test_signed_update_firmware_carries_the_image_signature() -> None:
    state = signed_state(["S0"])
    campaign, image = state.campaigns["c"], state.images["img"]
    assert campaign.signed_stations == {"S0"}
    assert calls.signed_update_firmware(campaign, image, "http://f/x", "2026-01-01T00:00:00Z") == {
        "requestId": 77,
        "firmware": {
            "location": "http://f/x",
            "retrieveDateTime": "2026-01-01T00:00:00Z",
            "signingCertificate": "PEM",
            "signature": "SIG",
        },
        "retries": 3,
    }


def test_signed_statuses_map_into_the_steps() -> None:
    assert STEPS_BY_STATUS["SignatureVerified"] is Step.DOWNLOADED
    assert STEPS_BY_STATUS["InstallRebooting"] is Step.INSTALLING
    assert STEPS_BY_STATUS["DownloadPaused"] is Step.DOWNLOADING
    assert "DownloadScheduled" not in STEPS_BY_STATUS and "Idle" not in STEPS_BY_STATUS


def sfsn(state: State, status: str, at_ms: int, station: str = "S0") -> list[FirmwareEvent]:
    request = SignedFirmwareStatusNotificationRequest(status=status, request_id=77)  # type: ignore[arg-type]
    _, events = decide.decide(state, request, decide.Frame(station, at_ms))
    return apply(state, list(events))


def test_tc_080_the_signed_statuses_lead_to_success() -> None:
    state = signed_state(["S0"])
    run = state.campaigns["c"].stations["S0"]
    for i, status in enumerate(
        ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting"]
    ):
        [event] = sfsn(state, status, 10 + i)
        assert isinstance(event, StationProgress) and event.status == status
    assert run.step is Step.INSTALLING
    boot = BootNotificationRequest(
        charge_point_vendor="Acme", charge_point_model="Sim-1", firmware_version="3.0"
    )
    apply(state, list(decide.decide(state, boot, decide.Frame("S0", 20))[1]))
    [_, verdict] = sfsn(state, "Installed", 21)
    assert isinstance(verdict, StationFinished) and verdict.succeeded


@pytest.mark.parametrize("status", ["InvalidSignature", "InstallVerificationFailed", "DownloadFailed"])
def test_tc_081_a_refused_signature_fails_the_station_with_that_reason(status: str) -> None:
    state = signed_state(["S0"])
    sfsn(state, "Downloading", 10)
    [_, finished] = sfsn(state, status, 11)
    assert isinstance(finished, StationFinished) and not finished.succeeded and finished.reason == status
    run = state.campaigns["c"].stations["S0"]
    assert (run.step, run.reason) == (Step.FAILED, status)


@pytest.mark.parametrize(
    ("payload", "failed"),
    [
        (b'{"status":"Accepted"}', None),
        (b'{"status":"AcceptedCanceled"}', None),
        (b'{"status":"InvalidCertificate"}', "InvalidCertificate"),
        (b'{"status":"RevokedCertificate"}', "RevokedCertificate"),
        (b'{"status":"Rejected"}', "Rejected"),
        (b"{}", None),  # UpdateFirmware.conf: empty
    ],
)
def test_the_signed_update_answer_fails_a_refusing_station(payload: bytes, failed: str | None) -> None:
    state = signed_state(["S0"])
    answer = decide.UpdateFirmwareAnswered("c", "S0", outcome(OutcomeStatus.RESULT, payload))
    _, [event] = decide.answered(state, answer, 5)
    if failed is None:
        assert isinstance(event, StationProgress) and event.status == "Accepted"
    else:
        assert isinstance(event, StationFinished) and event.reason == failed and not event.succeeded
