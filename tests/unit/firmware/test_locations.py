"""The URLs and CALL payloads the driver sends, built without a server."""

from __future__ import annotations

from services.firmware import calls
from services.firmware.events import Policy
from services.firmware.locations import Locations, tls_configured
from services.firmware.state import Campaign, Diagnostics, Image
from shared.config import Settings


def campaign(transport: str = "http", **fields: object) -> Campaign:
    values: dict[str, object] = {
        "campaign_id": "c1",
        "image_id": "i",
        "token": "tok",
        "policy": Policy(),
        "transport": transport,
        "retrieve_date": None,
        "retries": None,
        "retry_interval": None,
        "stations": {},
    }
    values.update(fields)
    return Campaign(**values)  # type: ignore[arg-type]


def diagnostics(transport: str = "http", **fields: object) -> Diagnostics:
    values: dict[str, object] = {
        "request_id": "r1",
        "station_id": "S",
        "token": "t0k",
        "transport": transport,
        "start_time": None,
        "stop_time": None,
        "retries": None,
        "retry_interval": None,
    }
    values.update(fields)
    return Diagnostics(**values)  # type: ignore[arg-type]


IMAGE = Image("i", "fw.bin", "2.0", 3, "x", "images/i/fw.bin")


def test_locations_carry_the_token_and_the_bound_ports() -> None:
    plain = Locations.of(Settings(files_host="0.0.0.0", files_public_host="files.example"), 8081, 2121)
    assert plain.firmware(campaign(), IMAGE) == "http://files.example:8081/firmware/c1/tok/fw.bin"
    assert plain.firmware(campaign("ftp"), IMAGE) == "ftp://fw-c1:tok@files.example:2121/fw.bin"
    assert plain.diagnostics(diagnostics()) == "http://files.example:8081/diagnostics/r1/t0k/"
    assert plain.diagnostics(diagnostics("ftp")) == "ftp://diag-r1:t0k@files.example:2121/"


def test_tls_needs_both_certificate_and_key() -> None:
    assert not tls_configured(Settings(files_tls_cert="c.pem"))
    settings = Settings(files_host="10.0.0.1", files_tls_cert="c.pem", files_tls_key="k.pem")
    assert tls_configured(settings)
    secure = Locations.of(settings, 443, -1)
    assert secure.firmware(campaign(), IMAGE) == "https://10.0.0.1:443/firmware/c1/tok/fw.bin"


def test_update_firmware_payload() -> None:
    assert calls.update_firmware(campaign(), "L", "2026-01-01T00:00:00Z") == {
        "location": "L",
        "retrieveDate": "2026-01-01T00:00:00Z",
    }
    given = campaign(retrieve_date="2027-01-01T00:00:00Z", retries=3, retry_interval=0)
    assert calls.update_firmware(given, "L", "now") == {
        "location": "L",
        "retrieveDate": "2027-01-01T00:00:00Z",
        "retries": 3,
        "retryInterval": 0,
    }


def test_get_diagnostics_payload_has_only_the_given_fields() -> None:
    assert calls.get_diagnostics(diagnostics(), "L") == {"location": "L"}
    given = diagnostics(start_time="2026-01-01T00:00:00Z", retries=0)
    assert calls.get_diagnostics(given, "L") == {
        "location": "L",
        "startTime": "2026-01-01T00:00:00Z",
        "retries": 0,
    }
