"""Tokens: minted as <id>.<secret>, stored as a salted digest, checked in constant time; the file."""

from __future__ import annotations

import itertools
import stat
from pathlib import Path

import msgspec

from shared.apitokens import is_admin_token, mint, parse, read_token_file, revoked, verify, write_token_file
from shared.events.apitokens import allows


def test_a_minted_token_verifies_and_its_secret_is_not_stored() -> None:
    record, token = mint("ops", "operator", 1_000)
    token_id, secret = token.split(".")
    assert record.id == token_id and record.role == "operator" and record.created_at_ms == 1_000
    assert secret not in msgspec.json.encode(record).decode()
    assert parse(token) == (token_id, secret)
    assert verify(record, secret)
    assert not verify(record, secret[:-1] + ("0" if secret[-1] != "0" else "1"))
    assert not verify(None, secret)


def test_a_revoked_token_no_longer_verifies() -> None:
    record, token = mint("ops", "admin", 1_000)
    gone = revoked(record, 2_000)
    assert gone.revoked_at_ms == 2_000 and revoked(gone, 3_000).revoked_at_ms == 2_000
    assert not verify(gone, token.split(".")[1])


def test_salts_differ_so_equal_secrets_have_different_digests() -> None:
    counter = itertools.count()

    def same_secret(n: int) -> bytes:
        return bytes([next(counter) % 256]) * n if n == 16 else b"\x01" * n

    a, _ = mint("a", "viewer", 0, same_secret)
    b, _ = mint("b", "viewer", 0, same_secret)
    assert a.salt != b.salt and a.digest != b.digest


def test_malformed_tokens() -> None:
    for bad in ("", "nodot", ".secret", "id.", "x" * 300 + ".y"):
        assert parse(bad) is None


def test_roles_are_ordered() -> None:
    assert allows("admin", "operator") and allows("operator", "viewer") and allows("viewer", "viewer")
    assert not allows("viewer", "operator") and not allows("operator", "admin")


def test_the_token_file_is_the_owners_only(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "csms" / "api-token"
    record, token = mint("local-admin", "admin", 0)
    write_token_file(path, token)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_token_file(path) == token
    assert is_admin_token(token, {record.id: record}.get)
    assert not is_admin_token(token, {record.id: revoked(record, 1)}.get)
    assert not is_admin_token(None, {record.id: record}.get)
    assert read_token_file(tmp_path / "absent") is None
