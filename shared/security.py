"""Station passwords (OCPP security profile 1: HTTP Basic, username = charge point id).

Stored as salted PBKDF2-SHA256. Verifying costs milliseconds, which would make a reconnect storm of
thousands of stations expensive, so :class:`PasswordVerifier` remembers a keyed digest of passwords it
has already verified against a given stored hash; a changed hash invalidates the memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from concurrent.futures import Executor

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
        # PBKDF2 computations done (cache misses): what a throttle is meant to keep low.
        self.hashes = 0

    def _tag(self, station_id: str, password: str, stored: str) -> bytes:
        return hmac.new(self._key, f"{station_id}\0{password}\0{stored}".encode(), "sha256").digest()

    def known(self, station_id: str, password: str, stored: str) -> bool:
        """Already verified against this very hash: cheap (one HMAC), safe on the event loop."""
        known = self._ok.get(station_id)
        return known is not None and hmac.compare_digest(known, self._tag(station_id, password, stored))

    def verify(self, station_id: str, password: str, stored: str) -> bool:
        if self.known(station_id, password, stored):
            return True
        self.hashes += 1
        if not verify_password(password, stored):
            return False
        self._remember(station_id, password, stored)
        return True

    async def verify_in(self, executor: Executor, station_id: str, password: str, stored: str) -> bool:
        """Like :meth:`verify`, but the PBKDF2 runs in ``executor`` (hashlib releases the GIL), so
        the event loop keeps answering other stations while a burst of passwords is checked."""
        if self.known(station_id, password, stored):
            return True
        self.hashes += 1
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(executor, verify_password, password, stored):
            return False
        self._remember(station_id, password, stored)
        return True

    def _remember(self, station_id: str, password: str, stored: str) -> None:
        if len(self._ok) >= self._max:
            self._ok.pop(next(iter(self._ok)))
        self._ok[station_id] = self._tag(station_id, password, stored)
