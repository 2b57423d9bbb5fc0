"""The local file storage: atomic, size-limited, confined to its root."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.firmware.storage import LocalStorage, TooLarge, safe_name


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_save_reports_size_and_sha256(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    stored = await storage.save("images/a/fw.bin", chunks(b"abc", b"def"), max_bytes=6)
    assert (stored.size, stored.sha256) == (6, hashlib.sha256(b"abcdef").hexdigest())
    path = storage.local_path("images/a/fw.bin")
    assert path is not None and path.read_bytes() == b"abcdef"


async def test_too_large_keeps_nothing_not_even_the_old_file(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    await storage.save("d/f", chunks(b"old"), max_bytes=10)
    with pytest.raises(TooLarge):
        await storage.save("d/f", chunks(b"123456", b"789012"), max_bytes=10)
    path = storage.local_path("d/f")
    assert path is not None and path.read_bytes() == b"old"  # all or nothing
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["f"]  # no partial file left


async def test_keys_cannot_leave_the_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    with pytest.raises(ValueError, match="leaves the storage root"):
        await storage.save("../escape", chunks(b"x"), max_bytes=10)
    with pytest.raises(ValueError, match="leaves the storage root"):
        storage.local_path("/etc/passwd")


def test_adopt_moves_and_hashes(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    outside = tmp_path / "upload.log"
    outside.write_bytes(b"\x00\x01log")
    stored = storage.adopt("diagnostics/r/upload.log", outside)
    assert not outside.exists() and stored.size == 5
    assert stored.sha256 == hashlib.sha256(b"\x00\x01log").hexdigest()


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("fw-1.0.bin", True),
        ("a", True),
        ("../x", False),
        (".hidden", False),
        ("a/b", False),
        ("", False),
        ("x" * 129, False),
        ("a..b", False),
        ("name with space", False),
    ],
)
def test_safe_names(name: str, ok: bool) -> None:
    assert safe_name(name) is ok
