"""Records of the locked operator API: tokens on ``csms.apitokens``, the audit trail on ``csms.audit``.

A token record (compacted, key = token id) holds a salted digest of the token's secret, never the
secret; revoking writes the record again with ``revoked_at_ms`` (no tombstone: ``csms token list``
keeps showing who had access). An audit record is one operator request that changed something or
was refused for its role: who (token), what (method, path, command), when, and the outcome (HTTP
status). ADR 0036.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from shared.events.versioned import Family, VersionedDecoder

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")  # each may do what the ones before it may


def allows(have: Role, need: Role) -> bool:
    """Whether a token of role ``have`` may call a route that needs ``need``."""
    return ROLES.index(have) >= ROLES.index(need)


class ApiTokenRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    v: int = 1
    id: str
    name: str
    role: Role
    salt: str  # hex
    digest: str  # hex SHA-256 of salt + secret (shared/apitokens.py says why one round is enough)
    created_at_ms: int
    revoked_at_ms: int | None = None


class AuditRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    v: int = 1
    at_ms: int
    token_id: str
    token_name: str
    role: Role
    method: str
    path: str
    status: int
    # Commands: the OCPP action and the station it was sent to.
    action: str | None = None
    station_id: str | None = None


API_TOKENS = Family("csms.apitokens")
api_token_decoder = VersionedDecoder(API_TOKENS, ApiTokenRecord)
AUDIT = Family("csms.audit")
audit_decoder = VersionedDecoder(AUDIT, AuditRecord)
