"""Security profiles per station (ADR 0037) end to end, driven by the independent `ocpp` client
with certificates made here by the session's development CA (the charge-point CA): a station
cannot connect as another one under any profile, nor on a lower profile once upgraded
(docs/security.md lists which test proves which whitepaper requirement)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import SecurityError
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from services.gateway import profiles
from shared.tls import DEV_ORGANIZATION
from tests.e2e.conftest import Api, System, eventually, read_frames, unique_station
from tests.e2e.station import OCPP16, station
from tests.e2e.test_core import command
from tests.e2e.test_gateway import basic
from tests.tls_clients import client_context, forwarded_header, load_ca, station_certificate, station_tls

pytestmark = pytest.mark.e2e

PASSWORD = "a-16-byte-secret-key"


async def refused_with(url: str, **kwargs: Any) -> tuple[int, str]:
    """The HTTP status and body an upgrade is refused with (it must be refused)."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, subprotocols=OCPP16, **kwargs):
            pass
    response = refused.value.response
    return response.status_code, response.body.decode() if response.body else ""


class Certificates:
    """Station certificates of the charge-point CA (the session's development CA)."""

    def __init__(self, system: System, directory: Path) -> None:
        self.system, self.directory = system, directory
        self.ca = load_ca(Path(system.settings.tls_dir))

    def files(self, serial: str, cpo: str = DEV_ORGANIZATION) -> tuple[Path, Path]:
        directory = self.directory / f"{serial}-{cpo}".replace(" ", "_")
        directory.mkdir(exist_ok=True)
        return station_certificate(self.ca, directory, serial_number=serial, cpo=cpo)

    def tls(self, serial: str, cpo: str = DEV_ORGANIZATION) -> Any:
        return station_tls(self.system.ca_file, self.files(serial, cpo))


@pytest.fixture
def certificates(system: System, tmp_path: Path) -> Certificates:
    return Certificates(system, tmp_path)


async def put_station(api: Api, station_id: str, **security: Any) -> dict[str, Any]:
    status, body = await api.put(f"/api/v1/stations/{station_id}", {"password": PASSWORD, **security})
    assert status in (200, 201), body
    return dict(body)


async def boot(cp: Any, serial: str | None) -> Any:
    return await cp.call(
        call.BootNotification(
            charge_point_model="Sim-1", charge_point_vendor="Acme", charge_point_serial_number=serial
        )
    )


async def security_events(system: System, station_id: str, count: int = 1) -> list[dict[str, Any]]:
    def enough(fs: list[dict[str, Any]]) -> bool:
        return sum(1 for f in fs if f["type"] == "security") >= count

    found: list[dict[str, Any]] = await read_frames(system.settings, station_id, enough)
    return [f for f in found if f["type"] == "security"]


async def test_a_profile_3_station_boots_with_its_certificate_and_no_password(
    system: System, api: Api, certificates: Certificates
) -> None:
    """A00.FR.401-405: the certificate (CN = serial number, O = CPO) authenticates the station."""
    station_id, serial = unique_station("P3"), unique_station("SN")
    body = await put_station(api, station_id, securityProfile=3, serialNumber=serial)
    assert body["security"] == {"securityProfile": 3, "pendingSecurityProfile": None, "serialNumber": serial}
    async with station(system.tls_station_url(station_id), tls=certificates.tls(serial), boot=False) as cp:
        assert (await boot(cp, serial)).status == "Accepted"
    frames = await read_frames(system.settings, station_id, lambda fs: any(f["type"] == "opened" for f in fs))
    opened = next(f for f in frames if f["type"] == "opened")
    assert opened["security_profile"] == 3 and opened["authenticated"] is True
    assert opened["client_certificate"]["common_name"] == serial
    status, view = await api.get(f"/api/v1/stations/{station_id}")
    assert status == 200 and view["security"]["securityProfile"] == 3


async def test_another_stations_certificate_is_refused(
    system: System, api: Api, certificates: Certificates
) -> None:
    """A00.FR.405, A00.FR.407/408: one certificate per station; refused before the upgrade, recorded."""
    owner, other = unique_station("P3A"), unique_station("P3B")
    owner_serial, other_serial = unique_station("SN"), unique_station("SN")
    await put_station(api, owner, securityProfile=3, serialNumber=owner_serial)
    await put_station(api, other, securityProfile=3, serialNumber=other_serial)
    stolen = certificates.tls(owner_serial)
    status, reason = await refused_with(system.tls_station_url(other), ssl=stolen)
    assert status == 403 and "not the station's serial number" in reason
    # Even for a station whose serial number is not known yet: the CN is another station's.
    unknown = unique_station("P3C")
    await put_station(api, unknown, securityProfile=3)
    status, reason = await refused_with(system.tls_station_url(unknown), ssl=stolen)
    assert status == 403 and "another station" in reason
    [event] = await security_events(system, other)
    assert event["kind"] == profiles.INVALID_CERTIFICATE and event["status"] == 403
    assert event["client_certificate"]["common_name"] == owner_serial
    assert other not in system.gateway.connections and unknown not in system.gateway.connections


async def test_the_right_serial_of_another_cpo_is_refused(
    system: System, api: Api, certificates: Certificates
) -> None:
    """A00.FR.404: O must be the CPO's name, even with the right CN and a valid chain."""
    station_id, serial = unique_station("P3O"), unique_station("SN")
    await put_station(api, station_id, securityProfile=3, serialNumber=serial)
    status, reason = await refused_with(
        system.tls_station_url(station_id), ssl=certificates.tls(serial, cpo="Other CPO")
    )
    assert status == 403 and "is not the CPO" in reason
    [event] = await security_events(system, station_id)
    assert event["kind"] == profiles.INVALID_CERTIFICATE


async def test_a_boot_with_another_serial_than_the_certificate_closes(
    system: System, api: Api, certificates: Certificates
) -> None:
    """A00.FR.405/407: serial not known yet (admitted), but the boot names another: SecurityError, 1008."""
    station_id, serial = unique_station("P3S"), unique_station("SN")
    await put_station(api, station_id, securityProfile=3)
    async with station(system.tls_station_url(station_id), tls=certificates.tls(serial), boot=False) as cp:
        with pytest.raises(SecurityError, match=r"A00\.FR\.405"):
            await cp.call(
                call.BootNotification(
                    charge_point_model="Sim-1", charge_point_vendor="Acme", charge_point_serial_number="OTHER"
                ),
                suppress=False,
            )
        await eventually(lambda: cp._connection.close_code is not None)
        assert cp._connection.close_code == 1008
    [event] = await security_events(system, station_id)
    assert event["close_code"] == 1008 and "A00.FR.405" in event["reason"]
    # The serial number was not learnt from it.
    assert system.gateway.security_of(station_id) is not None
    assert system.gateway.security_of(station_id).serial_number is None  # type: ignore[union-attr]


@pytest.mark.parametrize("stored", [2, 3])
async def test_profiles_2_and_3_are_refused_on_plain_ws(system: System, api: Api, stored: int) -> None:
    """A00.FR.002: a station configured for TLS may not use plain ws, even with its password."""
    station_id = unique_station(f"P{stored}WS")
    await put_station(api, station_id, securityProfile=stored)
    status, reason = await refused_with(
        system.station_url(station_id), additional_headers=basic(station_id, PASSWORD)
    )
    assert status == 403 and f"security profile {stored} required" in reason
    [event] = await security_events(system, station_id)
    assert event["kind"] == profiles.LOWER_PROFILE and (event["profile"], event["presented"]) == (stored, 1)


async def upgrade(system: System, api: Api, cp: Any, station_id: str, profile: int) -> None:
    """A05: the operator sends ChangeConfiguration(SecurityProfile); the station accepts."""
    code, body = await command(
        api, station_id, "ChangeConfiguration", {"key": "SecurityProfile", "value": str(profile)}
    )
    assert code == 200 and body["response"]["status"] == "Accepted", body
    await api.until(
        f"/api/v1/stations/{station_id}", lambda b: b["security"]["pendingSecurityProfile"] == profile
    )


async def test_upgrade_to_profile_2_then_plain_ws_is_refused(system: System, api: Api) -> None:
    """A05.FR.05-09: Accepted raises the profile once the station connected with it; after that
    a connection on the lower one is refused. Until then it may fall back (A05.FR.08)."""
    station_id = unique_station("UP2")
    await put_station(api, station_id)
    credentials = basic(station_id, PASSWORD)
    async with station(system.station_url(station_id), boot=True, tls=None, **credentials) as cp:
        await upgrade(system, api, cp, station_id, 2)
    # Falling back before the upgrade took: still allowed, the upgrade still pending.
    async with station(system.station_url(station_id), boot=True, tls=None, **credentials):
        pass
    server_only = client_context(system.ca_file)
    async with station(system.tls_station_url(station_id), boot=True, tls=server_only, **credentials):
        pass
    view = await api.until(f"/api/v1/stations/{station_id}", lambda b: b["security"]["securityProfile"] == 2)
    assert view["security"]["pendingSecurityProfile"] is None
    status, _ = await refused_with(system.station_url(station_id), additional_headers=credentials)
    assert status == 403
    # An operator's PUT without securityProfile does not lower it.
    await put_station(api, station_id)
    assert (await refused_with(system.station_url(station_id), additional_headers=credentials))[0] == 403


async def test_upgrade_to_profile_3_then_basic_over_tls_is_refused(
    system: System, api: Api, certificates: Certificates
) -> None:
    station_id, serial = unique_station("UP3"), unique_station("SN")
    await put_station(api, station_id, securityProfile=2)
    credentials = basic(station_id, PASSWORD)
    server_only = client_context(system.ca_file)
    async with station(system.tls_station_url(station_id), tls=server_only, boot=False, **credentials) as cp:
        assert (await boot(cp, serial)).status == "Accepted"  # its serial number is learnt
        await upgrade(system, api, cp, station_id, 3)
    async with station(system.tls_station_url(station_id), tls=certificates.tls(serial), boot=False) as cp:
        assert (await boot(cp, serial)).status == "Accepted"
    await api.until(f"/api/v1/stations/{station_id}", lambda b: b["security"]["securityProfile"] == 3)
    status, reason = await refused_with(
        system.tls_station_url(station_id), ssl=server_only, additional_headers=credentials
    )
    assert status == 403 and "security profile 3 required" in reason


@pytest.fixture
def trusting_loopback(system: System) -> Iterator[None]:
    """CSMS_GATEWAY_TRUSTED_PROXIES=127.0.0.1/32: the test's client is the ingress."""
    saved = system.gateway.trusted_proxies
    system.gateway.trusted_proxies = profiles.trusted_networks("127.0.0.1/32")
    yield
    system.gateway.trusted_proxies = saved


async def test_ingress_header_from_a_trusted_proxy(
    system: System, api: Api, certificates: Certificates, trusting_loopback: None
) -> None:
    """TLS terminated at an ingress: its forwarded client certificate counts as the TLS one."""
    station_id, serial = unique_station("ING"), unique_station("SN")
    await put_station(api, station_id, securityProfile=3, serialNumber=serial)
    cert_file, _ = certificates.files(serial)
    header = {"ssl-client-cert": forwarded_header(cert_file)}
    async with station(system.station_url(station_id), boot=False, tls=None, **header) as cp:
        assert (await boot(cp, serial)).status == "Accepted"
        conn = system.gateway.connections[station_id]
        assert conn.security is not None and conn.security.client_certificate is not None
    # Another CPO's certificate through the same ingress: refused like on the TLS port.
    other_file, _ = certificates.files(serial, cpo="Other CPO")
    status, _ = await refused_with(
        system.station_url(station_id), additional_headers={"ssl-client-cert": forwarded_header(other_file)}
    )
    assert status == 403


async def test_ingress_header_from_anyone_else_is_ignored(
    system: System, api: Api, certificates: Certificates, caplog: pytest.LogCaptureFixture
) -> None:
    station_id, serial = unique_station("ING"), unique_station("SN")
    await put_station(api, station_id, securityProfile=3, serialNumber=serial)
    cert_file, _ = certificates.files(serial)
    status, reason = await refused_with(
        system.station_url(station_id),
        additional_headers={"X-Forwarded-Client-Cert": forwarded_header(cert_file)},
    )
    assert status == 403 and "security profile 3 required" in reason
    assert "forwarded client certificate from 127.0.0.1 ignored" in caplog.text


async def test_profile_1_is_basic_over_ws_as_before(system: System, api: Api) -> None:
    """Profile 1 (A00.FR.202-204): HTTP Basic over ws; a profile-1 station without it is refused."""
    station_id = unique_station("P1")
    await put_station(api, station_id, securityProfile=1)
    async with station(
        system.station_url(station_id), boot=True, tls=None, **basic(station_id, PASSWORD)
    ) as cp:
        await cp.call(call.Heartbeat())
    assert (await refused_with(system.station_url(station_id)))[0] == 401
    status, body = await api.put(f"/api/v1/stations/{station_id}", {"securityProfile": 4})
    assert (status, body["error"]["field"]) == (422, "securityProfile"), body
