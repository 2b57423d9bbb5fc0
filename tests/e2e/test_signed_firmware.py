"""Signed firmware end to end (whitepaper L01, OCTT TC_080 / TC_081, ADR 0040): an image uploaded
with its signing certificate and signature is checked before anything is sent; a campaign sends
SignedUpdateFirmware to a station whose configuration shows the security extension, and the
SignedFirmwareStatusNotification statuses drive its run."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from ocpp.v16 import call, call_result

from tests.e2e.conftest import Api, System, unique_station
from tests.e2e.station import TestStation
from tests.e2e.test_firmware import (
    finished,
    fw_station,
    image_bytes,
    new_campaign,
    ranged_get,
    received,
    upload_image,
)
from tests.unit.firmware.signing import sign, signer

pytestmark = pytest.mark.e2e


async def upload_signed(
    api: Api, content: bytes, name: str, version: str, certificate: str, signature: str
) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    form.add_field("signingCertificate", certificate)
    form.add_field("file", content, filename=name, content_type="application/octet-stream")
    form.add_field("signature", signature)  # after the file: either order works
    async with api.session.post(
        api.base + "/api/v1/firmware", data=form, params={"version": version}
    ) as resp:
        body: dict[str, Any] = await resp.json()
        return resp.status, body


async def sfsn(cp: TestStation, status: str, request_id: int) -> None:
    assert (
        await cp.call(call.SignedFirmwareStatusNotification(status=status, request_id=request_id)) is not None
    )


async def supporting(api: Api, cp: TestStation, station_id: str) -> None:
    """The station's configuration, as the operator read it, has CpoName: it has the security extension."""
    cp.answering(
        "GetConfiguration",
        call_result.GetConfiguration(
            configuration_key=[{"key": "CpoName", "readonly": False, "value": "ACME"}]
        ),
    )
    code, body = await api.post(f"/api/v1/stations/{station_id}/commands/GetConfiguration", {})
    assert code == 200, body
    await api.until(
        f"/api/v1/stations/{station_id}/configuration",
        lambda b: any(e["key"] == "CpoName" for e in b["configuration"]),
    )


def firmware_of(req: dict[str, Any]) -> dict[str, Any]:
    fw: dict[str, Any] = req["firmware"]
    return {
        "location": fw["location"],
        "signature": fw["signature"],
        "signingCertificate": fw.get("signing_certificate") or fw.get("signingCertificate"),
        "retrieveDateTime": fw.get("retrieve_date_time") or fw.get("retrieveDateTime"),
    }


async def test_tc_080_secure_firmware_update(system: System, api: Api) -> None:
    key, certificate = signer("rsa")
    image = image_bytes("3.0.0")
    signature = sign(key, image)
    code, img = await upload_signed(api, image, "fw-3.0.0.bin", "3.0.0", certificate, signature)
    assert code == 201 and img["signed"] is True, img
    station_id = unique_station("SF")
    async with fw_station(system, station_id) as cp:
        await supporting(api, cp, station_id)
        cp.answering("SignedUpdateFirmware", call_result.SignedUpdateFirmware(status="Accepted"))
        campaign = await new_campaign(api, {"imageId": img["imageId"], "stations": [station_id]})
        assert campaign["stations"][0]["signed"] is True
        req = await received(cp, "SignedUpdateFirmware")
        fw = firmware_of(req)
        assert (
            fw["signature"] == signature
            and fw["signingCertificate"] == certificate
            and fw["retrieveDateTime"]
        )
        assert await ranged_get(fw["location"]) == image
        request_id = req["request_id"]
        for status in ("Downloading", "Downloaded", "SignatureVerified"):
            await sfsn(cp, status, request_id)
        for connector in (1, 2):
            await cp.status(connector, "Unavailable")
        for status in ("Installing", "InstallRebooting"):
            await sfsn(cp, status, request_id)
        boot = await cp.call(
            call.BootNotification(
                charge_point_model="Sim-1", charge_point_vendor="Acme", firmware_version="3.0.0"
            )
        )
        assert boot.status == "Accepted"
        for connector in (1, 2):
            await cp.status(connector, "Available")
        await sfsn(cp, "Installed", request_id)
        body = await finished(api, campaign["campaignId"])
    [detail] = body["stations"]
    assert detail["state"] == "Succeeded" and detail["bootedFirmwareVersion"] == "3.0.0"
    assert detail["lastStatus"] == "Installed"
    assert not any(a == "UpdateFirmware" for a, _ in cp.received)


async def test_tc_081_invalid_signature_fails_the_station(system: System, api: Api) -> None:
    key, certificate = signer("ecdsa")
    image = image_bytes("3.0.1")
    code, img = await upload_signed(api, image, "fw-3.0.1.bin", "3.0.1", certificate, sign(key, image))
    assert code == 201, img
    station_id = unique_station("SF")
    async with fw_station(system, station_id) as cp:
        cp.answering("SignedUpdateFirmware", call_result.SignedUpdateFirmware(status="Accepted"))
        campaign = await new_campaign(
            api, {"imageId": img["imageId"], "stations": [station_id], "signed": "always"}
        )
        req = await received(cp, "SignedUpdateFirmware")
        for status in ("Downloading", "Downloaded", "InvalidSignature"):
            await sfsn(cp, status, req["request_id"])
        body = await finished(api, campaign["campaignId"])
    [detail] = body["stations"]
    assert detail["state"] == "Failed" and detail["reason"] == "InvalidSignature"


async def test_an_unsupporting_station_gets_update_firmware_and_bad_signatures_are_refused(
    system: System, api: Api
) -> None:
    key, certificate = signer("rsa")
    image = image_bytes("3.0.2")
    code, err = await upload_signed(api, image, "fw-3.0.2.bin", "3.0.2", certificate, sign(key, image + b"x"))
    assert code == 422 and err["error"]["field"] == "signature", err
    code, err = await upload_signed(
        api, image, "fw-3.0.2.bin", "3.0.2", "not a certificate", sign(key, image)
    )
    assert code == 422 and err["error"]["field"] == "signingCertificate", err
    code, img = await upload_signed(api, image, "fw-3.0.2.bin", "3.0.2", certificate, sign(key, image))
    assert code == 201, img
    station_id = unique_station("SF")
    async with fw_station(system, station_id) as cp:
        cp.answering("UpdateFirmware", call_result.UpdateFirmware())
        campaign = await new_campaign(api, {"imageId": img["imageId"], "stations": [station_id]})  # auto
        assert campaign["stations"][0]["signed"] is False
        await received(cp, "UpdateFirmware")
        code, err = await api.post(
            "/api/v1/firmware-campaigns",
            {"imageId": img["imageId"], "stations": [station_id], "signed": "bogus"},
        )
        assert code == 422, err
        plain = await upload_image(api, image, "fw-3.0.2-plain.bin", "3.0.2")
        assert plain["signed"] is False
        code, err = await api.post(
            "/api/v1/firmware-campaigns",
            {"imageId": plain["imageId"], "stations": [station_id], "signed": "always"},
        )
        assert code == 422 and err["error"]["code"] == "UnsignedImage", err
        code, err = await api.post("/api/v1/firmware-campaigns/" + campaign["campaignId"] + "/abort", {})
        assert code == 202, err
