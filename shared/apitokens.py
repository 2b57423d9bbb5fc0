"""Operator API tokens: minting, checking, and the local admin token file (ADR 0036).

A token is ``<id>.<secret>``: the id finds the record (``csms.apitokens``), the secret is checked
against its salted digest in constant time. The secret is 32 random bytes, so one salted SHA-256 is
enough: stretching (PBKDF2, scrypt) slows the guessing of low-entropy passwords, and nobody guesses
256 random bits; a stretched hash would instead cost milliseconds of CPU on every API request.

``~/.cache/csms/api-token`` (``CSMS_API_TOKEN_FILE``) is a contract: tools outside the project read
the local admin token there. :func:`ensure_local_admin_token` (run by ``csms all``) keeps it valid.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import msgspec

from shared.config import Settings
from shared.events.apitokens import ApiTokenRecord, Role, api_token_decoder
from shared.events.envelope import encode
from shared.events.topics import Topics

SECRET_BYTES = 32
ID_BYTES = 8


def _digest(salt: bytes, secret: str) -> str:
    return hashlib.sha256(salt + secret.encode()).hexdigest()


def mint(
    name: str, role: Role, now_ms: int, random: Callable[[int], bytes] = secrets.token_bytes
) -> tuple[ApiTokenRecord, str]:
    """A new token's record (what is stored) and the token itself (shown to its owner once)."""
    token_id = random(ID_BYTES).hex()
    secret = random(SECRET_BYTES).hex()
    salt = random(16)
    record = ApiTokenRecord(
        id=token_id, name=name, role=role, salt=salt.hex(), digest=_digest(salt, secret), created_at_ms=now_ms
    )
    return record, f"{token_id}.{secret}"


def parse(token: str) -> tuple[str, str] | None:
    """(id, secret) of a token as :func:`mint` makes them; None for anything else."""
    token_id, dot, secret = token.strip().partition(".")
    if not dot or not token_id or not secret or len(token) > 200:
        return None
    return token_id, secret


def verify(record: ApiTokenRecord | None, secret: str) -> bool:
    """Whether ``secret`` is the secret of the live token ``record`` (constant-time comparison)."""
    if record is None or record.revoked_at_ms is not None:
        return False
    try:
        salt = bytes.fromhex(record.salt)
    except ValueError:
        return False
    return hmac.compare_digest(_digest(salt, secret), record.digest)


def token_file(settings: Settings) -> Path:
    return Path(settings.api_token_file).expanduser()


def read_token_file(path: Path) -> str | None:
    with contextlib.suppress(OSError):
        return path.read_text().strip() or None
    return None


def write_token_file(path: Path, token: str) -> None:
    """The token, readable by its owner only (file 600, directory 700), replaced atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
    os.replace(partial, path)


def is_admin_token(token: str | None, lookup: Callable[[str], ApiTokenRecord | None]) -> bool:
    parsed = parse(token) if token else None
    if parsed is None:
        return False
    record = lookup(parsed[0])
    return verify(record, parsed[1]) and record is not None and record.role == "admin"


async def ensure_local_admin_token(settings: Settings, now_ms: int) -> tuple[Path, bool]:
    """Keep the local token file holding a live admin token: (its path, whether one was minted).

    Reads ``csms.apitokens`` to the end first, so a file whose token was revoked (or belongs to
    another system's topics) is replaced instead of trusted.
    """
    from shared.kafka import ensure_topics
    from shared.tables import CompactedView

    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    path = token_file(settings)
    await ensure_topics(settings.kafka_bootstrap, topics.shared_specs(), settings.replication_factor)
    view: CompactedView[ApiTokenRecord] = CompactedView(
        settings.kafka_bootstrap, topics.api_tokens, api_token_decoder.decode
    )
    await view.start()
    try:
        if is_admin_token(read_token_file(path), view.get):
            return path, False
    finally:
        await view.stop()
    record, token = mint("local-admin", "admin", now_ms)
    await append_token(settings, record)
    write_token_file(path, token)
    return path, True


async def append_token(settings: Settings, record: ApiTokenRecord) -> None:
    """Write a token's record to ``csms.apitokens`` (the CLI's and the local admin token's way)."""
    from shared.kafka import make_producer

    topic = Topics(settings.topic_prefix, settings.frame_partitions).api_tokens
    producer = make_producer(settings.kafka_bootstrap, client_id="csms-cli")
    await producer.start()
    try:
        await producer.send_and_wait(topic, encode(record), key=record.id.encode())
    finally:
        await producer.stop()


def revoked(record: ApiTokenRecord, now_ms: int) -> ApiTokenRecord:
    """The record once revoked (revoking twice keeps the first time)."""
    if record.revoked_at_ms is not None:
        return record
    return msgspec.structs.replace(record, revoked_at_ms=now_ms)
