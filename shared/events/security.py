"""``csms.security``: each station's security profile, in force and pending (ADR 0037).

Compacted, key = station id. Written by the operator API (the profile an operator sets, and the
serial number a certificate must name) and by the gateway, which learns an upgrade from the
station's Accepted answer to ChangeConfiguration(SecurityProfile) and puts it in force once the
station connected with it (whitepaper edition 2, A05.FR.05-09); the gateway never lowers it.
"""

from __future__ import annotations

import msgspec

from shared.events.versioned import Family, VersionedDecoder

# Security profiles of the whitepaper (section 2): 0 = none configured (what the registration
# alone asks for, as before profiles), 1 = Basic over ws, 2 = Basic over TLS, 3 = TLS client
# certificate.
PROFILES = (0, 1, 2, 3)


class StationSecurity(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Value on ``csms.security`` (compacted, key = station id)."""

    v: int = 1
    station_id: str
    # In force: a connection on a lower profile is refused (A00.FR.002, A05.FR.09).
    profile: int = 0
    # Accepted by the station (ChangeConfiguration SecurityProfile), not yet in force: it becomes
    # the profile once the station connected with it (A05.FR.07-09); until then the station may
    # fall back to ``profile`` (A05.FR.08).
    pending: int | None = None
    # The station's serial number: what the CN of its certificate must be (A00.FR.405/511). Set
    # by the operator, or learnt from the station's BootNotification (chargePointSerialNumber).
    serial_number: str | None = None
    # Who wrote this value: "operator" (the API) or "station" (what the gateway learnt).
    by: str = "operator"
    at_ms: int = 0


SECURITY = Family("csms.security")
security_decoder = VersionedDecoder(SECURITY, StationSecurity)
