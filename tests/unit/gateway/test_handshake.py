import base64
from http import HTTPStatus

import pytest

from services.gateway.handshake import Admission, Refusal, admit, basic_credentials, station_id_from_path
from shared.events.envelope import StationRegistration
from shared.security import PasswordVerifier, hash_password


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ocpp/CP1", "CP1"),
        ("/ocpp/RDAM%20123", "RDAM 123"),
        ("/ocpp/CP1?x=1", "CP1"),
        ("/ocpp/", None),
        ("/other/CP1", None),
        ("/ocpp/a/b", None),
        ("/ocpp/" + "x" * 65, None),
        ("/ocpp/%0A", None),
    ],
)
def test_station_id_from_path(path: str, expected: str | None) -> None:
    assert station_id_from_path(path) == expected


def test_basic_credentials_parsing() -> None:
    assert basic_credentials(basic("CP1", "p:w")) == ("CP1", "p:w")
    assert basic_credentials("Bearer abc") is None
    assert basic_credentials("Basic !!!") is None
    assert basic_credentials(None) is None


def test_unknown_station_is_404_when_auto_registration_is_off() -> None:
    decision = admit("/ocpp/CPX", None, None, auto_register=False, verifier=PasswordVerifier())
    assert isinstance(decision, Refusal) and decision.status == HTTPStatus.NOT_FOUND


def test_unknown_station_is_admitted_when_auto_registration_is_on() -> None:
    decision = admit("/ocpp/CPX", None, None, auto_register=True, verifier=PasswordVerifier())
    assert decision == Admission("CPX", authenticated=False)


def test_password_station_needs_matching_username_and_password() -> None:
    reg = StationRegistration(station_id="CP1", password_hash=hash_password("secret-123", iterations=1000))
    verifier = PasswordVerifier()
    ok = admit("/ocpp/CP1", basic("CP1", "secret-123"), reg, auto_register=False, verifier=verifier)
    assert ok == Admission("CP1", authenticated=True)
    for header in (None, basic("CP2", "secret-123"), basic("CP1", "wrong")):
        refused = admit("/ocpp/CP1", header, reg, auto_register=False, verifier=verifier)
        assert isinstance(refused, Refusal) and refused.status == HTTPStatus.UNAUTHORIZED
    # The remembered verification does not admit a different password.
    again = admit("/ocpp/CP1", basic("CP1", "secret-1234"), reg, auto_register=False, verifier=verifier)
    assert isinstance(again, Refusal)


def test_while_an_authorization_key_change_is_open_both_passwords_get_in() -> None:
    """Security whitepaper A01: the station may reconnect with the new password before its answer
    to ChangeConfiguration(AuthorizationKey) is in; the answer then leaves only one of them."""
    old, new = (
        hash_password("old-password-0001", iterations=1000),
        hash_password("new-password-0002", iterations=1000),
    )
    pending = StationRegistration(station_id="CP1", password_hash=old, next_password_hash=new)
    verifier = PasswordVerifier()
    for password in ("old-password-0001", "new-password-0002"):
        assert admit(
            "/ocpp/CP1", basic("CP1", password), pending, auto_register=False, verifier=verifier
        ) == (Admission("CP1", authenticated=True))
    refused = admit(
        "/ocpp/CP1", basic("CP1", "third-password-03"), pending, auto_register=False, verifier=verifier
    )
    assert isinstance(refused, Refusal)
    accepted = StationRegistration(station_id="CP1", password_hash=new)  # A01.FR.03: the new one only
    old_again = admit(
        "/ocpp/CP1", basic("CP1", "old-password-0001"), accepted, auto_register=False, verifier=verifier
    )
    assert isinstance(old_again, Refusal) and old_again.status == HTTPStatus.UNAUTHORIZED
