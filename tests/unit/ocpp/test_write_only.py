"""Write-only configuration keys (security whitepaper 7.2, A01.FR.09): the AuthorizationKey's value
never reaches the log's readers."""

from __future__ import annotations

import json

from shared.ocpp.v16.write_only import REDACTED, redacted_call, stored_value


def test_the_authorization_key_value_of_our_call_is_redacted() -> None:
    text = '[2,"u1","ChangeConfiguration",{"key":"AuthorizationKey","value":"3031323334353637383930313233343536"}]'
    redacted = redacted_call("ChangeConfiguration", text)
    assert json.loads(redacted) == [
        2,
        "u1",
        "ChangeConfiguration",
        {"key": "AuthorizationKey", "value": REDACTED},
    ]
    assert "3031" not in redacted


def test_every_other_frame_is_left_as_it_is() -> None:
    other_key = '[2,"u1","ChangeConfiguration",{"key":"HeartbeatInterval","value":"60"}]'
    assert redacted_call("ChangeConfiguration", other_key) == other_key
    assert redacted_call("Reset", '[2,"u2","Reset",{"type":"Hard"}]') == '[2,"u2","Reset",{"type":"Hard"}]'
    assert redacted_call(None, '[3,"u3",{}]') == '[3,"u3",{}]'
    for odd in ("not json", '[2,"u4","ChangeConfiguration"]', '[2,"u5","ChangeConfiguration",[]]'):
        assert redacted_call("ChangeConfiguration", odd) == odd
    no_value = '[2,"u6","ChangeConfiguration",{"key":"AuthorizationKey"}]'
    assert redacted_call("ChangeConfiguration", no_value) == no_value


def test_read_models_keep_no_write_only_value() -> None:
    assert stored_value("AuthorizationKey", "abcd") is None
    assert stored_value("HeartbeatInterval", "60") == "60"
