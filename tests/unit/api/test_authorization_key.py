"""The AuthorizationKey's value and the passwords it may carry (security whitepaper A00.FR.205)."""

from __future__ import annotations

import pytest

from services.api.authorization_key import authorization_key_value, check_password
from services.api.errors import ApiError


def test_the_value_is_the_passwords_utf8_bytes_in_hex() -> None:
    assert authorization_key_value("0123456789abcdef") == "30313233343536373839616263646566"
    assert len(authorization_key_value("x" * 20)) == 40  # the key's maximum: 40 hex digits


@pytest.mark.parametrize("password", ["x" * 15, "x" * 21, "é" * 11, "tab\there-123456", ""])
def test_a_password_outside_16_to_20_printable_bytes_is_refused(password: str) -> None:
    with pytest.raises(ApiError) as refused:
        check_password(password)
    assert refused.value.status == 422 and refused.value.extra["field"] == "password"


@pytest.mark.parametrize("password", ["x" * 16, "x" * 20, "pässwörd-12345"])
def test_16_to_20_printable_bytes_are_taken(password: str) -> None:
    check_password(password)
