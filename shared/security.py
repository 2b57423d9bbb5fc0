"""Station passwords (OCPP security profile 1: HTTP Basic, username = charge point id).

Stored as salted PBKDF2-SHA256. Verifying costs milliseconds, which would make a reconnect storm of
thousands of stations expensive, so :class:`PasswordVerifier` remembers a keyed digest of passwords it
has already verified against a given stored hash; a changed hash invalidates the memory.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ITERATIONS = 100_000


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt_hex, digest_hex = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt_hex), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


class PasswordVerifier:
    """Verify with a per-process memory of successful checks (keyed by a secret only this process has)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._key = secrets.token_bytes(32)
        self._ok: dict[str, bytes] = {}
        self._max = max_entries

    def _tag(self, station_id: str, password: str, stored: str) -> bytes:
        return hmac.new(self._key, f"{station_id}\0{password}\0{stored}".encode(), "sha256").digest()

    def verify(self, station_id: str, password: str, stored: str) -> bool:
        tag = self._tag(station_id, password, stored)
        known = self._ok.get(station_id)
        if known is not None and hmac.compare_digest(known, tag):
            return True
        if not verify_password(password, stored):
            return False
        if len(self._ok) >= self._max:
            self._ok.pop(next(iter(self._ok)))
        self._ok[station_id] = tag
        return True
