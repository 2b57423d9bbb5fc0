"""Write-only configuration keys: their values never reach the log's readers.

AuthorizationKey is the station's Basic-auth password, hex-encoded (security whitepaper 7.2,
A00.FR.205); it is write-only so that a Central System cannot store it in plaintext by reading the
configuration (OCPP-J errata 3.10), and the Central System shall not put passwords in clear text in
logs (A01.FR.09). So the record of our ChangeConfiguration(AuthorizationKey) in ``ocpp.frames``
carries :data:`REDACTED` instead of the value, and a read model never stores one.
"""

from __future__ import annotations

import json
from typing import Any

WRITE_ONLY_KEYS = frozenset({"AuthorizationKey"})
REDACTED = "<redacted>"


def redacted_call(action: str | None, text: str) -> str:
    """``text`` (a CALL frame we send) with the value of a write-only key replaced; any other frame
    as it is. The frame is ours, so it parses; what does not is left alone."""
    if action != "ChangeConfiguration":
        return text
    try:
        frame: Any = json.loads(text)
    except ValueError:
        return text
    if not (isinstance(frame, list) and len(frame) == 4 and isinstance(frame[3], dict)):
        return text
    payload = frame[3]
    if payload.get("key") not in WRITE_ONLY_KEYS or "value" not in payload:
        return text
    frame[3] = {**payload, "value": REDACTED}
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def stored_value(key: str, value: str | None) -> str | None:
    """What a read model keeps of a configuration value: nothing of a write-only key."""
    return None if key in WRITE_ONLY_KEYS else value
