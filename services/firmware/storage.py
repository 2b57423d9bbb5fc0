"""Where firmware images and diagnostics files live: a small interface, a local-directory default.

The operator API writes images, the firmware service serves them (HTTP, FTP) and writes diagnostics
uploads, the API serves those back: both processes open the same storage (CSMS_FILES_DIR). An object
store can implement :class:`Storage`; HTTP serving and FTP need a local path, which such an
implementation would provide by caching (see ADR 0010).
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class TooLarge(Exception):
    """The upload passed the size limit; nothing was kept."""


@dataclass(frozen=True)
class Stored:
    key: str
    size: int
    sha256: str


def safe_name(name: str) -> bool:
    """A file name that is one path segment, printable, and not a dot-file (no traversal)."""
    return bool(SAFE_NAME.match(name)) and ".." not in name


class Storage(Protocol):
    async def save(self, key: str, chunks: AsyncIterator[bytes], max_bytes: int) -> Stored:
        """Store a stream under ``key`` (atomically: all or nothing); raises TooLarge past ``max_bytes``."""

    def local_path(self, key: str) -> Path | None:
        """A local file holding ``key``'s bytes, or None when it does not exist."""

    def adopt(self, key: str, path: Path) -> Stored:
        """Take over a file written elsewhere on this host (e.g. by the FTP server)."""

    def remove(self, key: str) -> None:
        """Drop ``key``'s file, if there is one."""


class LocalStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"storage key {key!r} leaves the storage root")
        return path

    async def save(self, key: str, chunks: AsyncIterator[bytes], max_bytes: int) -> Stored:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        digest, size = hashlib.sha256(), 0
        try:
            with partial.open("wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"more than {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return Stored(key, size, digest.hexdigest())

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def remove(self, key: str) -> None:
        """Drop a stored file (an upload that was refused after it was saved)."""
        self._path(key).unlink(missing_ok=True)

    def adopt(self, key: str, path: Path) -> Stored:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.resolve() != target:
            os.replace(path, target)
        digest, size = hashlib.sha256(), 0
        with target.open("rb") as f:
            while chunk := f.read(1 << 16):
                digest.update(chunk)
                size += len(chunk)
        return Stored(key, size, digest.hexdigest())
