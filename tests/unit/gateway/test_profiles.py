"""Security profiles per station (ADR 0037): the pure policy of services/gateway/profiles.py."""

from __future__ import annotations

import datetime as dt
from http import HTTPStatus
from urllib.parse import quote

import pytest

from services.gateway import profiles
from services.gateway.profiles import Admitted, ProfileRefusal, decide
from shared.events.envelope import ClientCertificate
from shared.events.security import StationSecurity
from shared.tls import cert_pem, issue, make_ca, new_key

CPO = "ACME CPO"


def cert(cn: str | None = "SN-1", o: str | None = CPO) -> ClientCertificate:
    return ClientCertificate(common_name=cn, organization=o, serial="1", issuer="CN=ca", not_after_ms=1)


def on(profile: int, *, pending: int | None = None, serial: str | None = None) -> StationSecurity:
    return StationSecurity(station_id="CP1", profile=profile, pending=pending, serial_number=serial)


def verdict(
    stored: StationSecurity | None,
    *,
    tls: bool,
    certificate: ClientCertificate | None = None,
    password: bool = True,
    bound_to: str | None = None,
) -> ProfileRefusal | Admitted:
    return decide(
        "CP1", stored, tls=tls, certificate=certificate, password=password, cpo_name=CPO, bound_to=bound_to
    )


@pytest.mark.parametrize(
    ("tls", "certificate", "password", "expected"),
    [(False, None, True, 1), (True, None, True, 2), (True, cert(), False, 3), (False, None, False, 0)],
)
def test_the_profile_a_connection_presents(
    tls: bool, certificate: ClientCertificate | None, password: bool, expected: int
) -> None:
    assert profiles.presented_profile(tls=tls, certificate=certificate, password=password) == expected


@pytest.mark.parametrize("stored", [2, 3])
def test_profiles_2_and_3_are_refused_on_plain_ws(stored: int) -> None:
    """A00.FR.002: another profile than the station's is rejected (before any password hashing)."""
    refused = verdict(on(stored), tls=False)
    assert isinstance(refused, ProfileRefusal)
    assert refused.status == HTTPStatus.FORBIDDEN and refused.kind == profiles.LOWER_PROFILE
    assert f"security profile {stored} required" in refused.reason and refused.presented == 1


def test_profile_3_needs_a_certificate_basic_over_tls_is_refused() -> None:
    refused = verdict(on(3), tls=True)
    assert isinstance(refused, ProfileRefusal) and refused.presented == 2


def test_profile_3_with_its_certificate_needs_no_password() -> None:
    """A00.FR.401: the certificate authenticates the station."""
    assert verdict(on(3, serial="SN-1"), tls=True, certificate=cert()) == Admitted(3, True, False)


def test_profile_1_needs_a_password() -> None:
    assert isinstance(verdict(on(1), tls=False, password=False), ProfileRefusal)
    assert verdict(on(1), tls=False) == Admitted(1, False, True)


def test_a_higher_profile_than_in_force_is_admitted() -> None:
    """A05.FR.07: the station reconnects with the upgraded profile before it is in force."""
    assert verdict(on(1), tls=True) == Admitted(2, False, True)


def test_below_profile_3_a_certificate_is_no_way_around_the_password() -> None:
    """A CPO certificate, even of an unknown serial or another CPO, authenticates nothing there."""
    assert verdict(on(2), tls=True, certificate=cert(o="Other")) == Admitted(3, False, True)
    assert verdict(None, tls=True, certificate=cert()) == Admitted(3, False, True)


@pytest.mark.parametrize(
    ("certificate", "stored", "bound_to", "why"),
    [
        (cert(o="Other CPO"), on(3, serial="SN-1"), None, "is not the CPO"),
        (cert(o=None), on(3), None, "is not the CPO"),
        (cert(o=f"Not {CPO}"), on(3), None, "is not the CPO"),  # "contains" is not a substring
        (cert(cn="SN-2"), on(3, serial="SN-1"), None, "is not the station's serial number"),
        (cert(cn=None), on(3), None, "has no CN"),
        (cert(cn="SN-9"), on(3), "CP9", "another station"),
        (cert(), on(2, pending=3), None, None),  # upgrading to 3: the rules apply
        (cert(o="Other CPO"), on(2, pending=3), None, "is not the CPO"),
    ],
)
def test_profile_3_certificate_rules(
    certificate: ClientCertificate, stored: StationSecurity, bound_to: str | None, why: str | None
) -> None:
    """A00.FR.404 (O is the CPO), A00.FR.405/511 (CN is the serial number), one per station; an
    invalid one is refused (A00.FR.407) as a security event's kind."""
    got = verdict(stored, tls=True, certificate=certificate, bound_to=bound_to)
    if why is None:
        assert got == Admitted(3, True, False)
    else:
        assert isinstance(got, ProfileRefusal) and got.kind == profiles.INVALID_CERTIFICATE
        assert why in got.reason


def test_a_certificate_bound_to_this_station_passes() -> None:
    assert verdict(on(3, serial="SN-1"), tls=True, certificate=cert(), bound_to="CP1") == Admitted(
        3, True, False
    )


def test_boot_serial_must_be_the_certificate_cn() -> None:
    assert profiles.boot_refusal(None, "anything") is None
    assert profiles.boot_refusal(cert(), "SN-1") is None
    why = profiles.boot_refusal(cert(), "SN-2")
    assert why is not None and "A00.FR.405" in why
    assert profiles.boot_refusal(cert(), None) is not None


def test_an_accepted_upgrade_is_pending_until_the_station_connects_with_it() -> None:
    """A05.FR.05-09: pending after Accepted (the station may fall back, A05.FR.08), in force once
    it connected with it; lower or equal is never learnt (A05.FR.01, A00.FR.005)."""
    pending = profiles.upgrade_accepted(on(1), "CP1", 3, 10)
    assert pending is not None and (pending.profile, pending.pending, pending.by) == (1, 3, "station")
    assert profiles.connected(pending, 1, 11) is None  # fell back: still allowed
    assert profiles.connected(pending, 2, 11) is None
    raised = profiles.connected(pending, 3, 12)
    assert raised is not None and (raised.profile, raised.pending, raised.at_ms) == (3, None, 12)
    assert profiles.upgrade_accepted(raised, "CP1", 2, 13) is None
    assert profiles.upgrade_accepted(raised, "CP1", 3, 13) is None
    assert profiles.upgrade_accepted(pending, "CP1", 2, 13) is None  # 3 already pending
    assert profiles.upgrade_accepted(None, "CP1", 2, 1) == StationSecurity(
        station_id="CP1", pending=2, by="station", at_ms=1
    )
    assert profiles.connected(on(2), 3, 1) is None  # nothing pending: nothing learnt


def test_the_serial_number_is_learnt_once() -> None:
    learnt = profiles.serial_seen(None, "CP1", "SN-1", 5)
    assert learnt == StationSecurity(station_id="CP1", serial_number="SN-1", by="station", at_ms=5)
    assert profiles.serial_seen(learnt, "CP1", "SN-2", 6) is None
    assert profiles.serial_seen(on(3), "CP1", None, 6) is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"key": "SecurityProfile", "value": "3"}, 3),
        ({"key": "SecurityProfile", "value": "4"}, None),
        ({"key": "SecurityProfile", "value": "x"}, None),
        ({"key": "HeartbeatInterval", "value": "3"}, None),
        ([], None),
    ],
)
def test_requested_profile(payload: object, expected: int | None) -> None:
    assert profiles.requested_profile(payload) == expected


def test_trusted_proxies() -> None:
    nets = profiles.trusted_networks("127.0.0.1, 10.0.0.0/8 ,::1")
    assert profiles.is_trusted("127.0.0.1", nets) and profiles.is_trusted("10.2.3.4", nets)
    assert profiles.is_trusted("::1", nets)
    assert not profiles.is_trusted("192.168.1.1", nets) and not profiles.is_trusted("", nets)
    assert profiles.trusted_networks("") == ()


def test_forwarded_certificate_nginx_and_envoy_forms() -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key, key = new_key("ecdsa"), new_key("ecdsa")
    ca = make_ca(ca_key, common_name="ca", organization=CPO, now=now)
    leaf = issue(ca, ca_key, key.public_key(), common_name="SN-7", organization=CPO, now=now, client=True)
    pem = cert_pem(leaf).decode()
    nginx = quote(pem)
    envoy = f'By=spiffe://x;Hash=abc;Cert="{quote(pem)}";Subject="CN=SN-7"'
    for header in (nginx, envoy):
        seen = profiles.forwarded_certificate(header, ca)
        assert (seen.common_name, seen.organization) == ("SN-7", CPO)
    other_key = new_key("ecdsa")
    other = make_ca(other_key, common_name="other", organization="x", now=now)
    with pytest.raises(ValueError, match="not issued by"):
        profiles.forwarded_certificate(nginx, other)
    with pytest.raises(ValueError, match="not a PEM certificate"):
        profiles.forwarded_certificate("garbage", None)
