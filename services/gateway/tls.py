"""The gateway's TLS listener material: which files, made when missing, reloaded when changed.

Reloading: the listening server keeps the context it was started with; that context's servername
callback, which OpenSSL calls on every ClientHello (with or without SNI), moves each new connection
onto the newest context before a certificate is chosen. Connections already open keep theirs
(ADR 0035).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from shared.clock import SYSTEM, Clock
from shared.config import Settings
from shared.events.envelope import ClientCertificate
from shared.tls import ServerFiles, client_certificate, ensure_dev_certificates, server_context

log = logging.getLogger(__name__)


def configured_files(settings: Settings) -> ServerFiles | None:
    """The production files from the settings; None when none is set (the development CA then).
    Some but not all of the four is a mistake said at start, not a listener without a key type."""
    given = {
        "CSMS_TLS_CERT_RSA": settings.tls_cert_rsa,
        "CSMS_TLS_KEY_RSA": settings.tls_key_rsa,
        "CSMS_TLS_CERT_ECDSA": settings.tls_cert_ecdsa,
        "CSMS_TLS_KEY_ECDSA": settings.tls_key_ecdsa,
    }
    if not any(given.values()):
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise ValueError(
            f"TLS: {', '.join(missing)} not set; an RSA and an ECDSA certificate are both needed "
            "(the whitepaper's four cipher suites, A00.FR.317)"
        )
    return ServerFiles(
        rsa_cert=Path(settings.tls_cert_rsa),
        rsa_key=Path(settings.tls_key_rsa),
        ecdsa_cert=Path(settings.tls_cert_ecdsa),
        ecdsa_key=Path(settings.tls_key_ecdsa),
        client_ca=Path(settings.tls_client_ca) if settings.tls_client_ca else None,
    )


def server_files(settings: Settings, clock: Clock = SYSTEM) -> ServerFiles:
    """The configured files, or the development CA's (made or renewed now where needed)."""
    files = configured_files(settings)
    if files is not None:
        return files
    dev = ensure_dev_certificates(Path(settings.tls_dir).expanduser(), clock.now())
    if settings.tls_client_ca:
        return ServerFiles(
            dev.rsa_cert, dev.rsa_key, dev.ecdsa_cert, dev.ecdsa_key, Path(settings.tls_client_ca)
        )
    return dev


Signature = tuple[tuple[int, int, int], ...]


def signature(files: ServerFiles) -> Signature:
    """What changes when a file is replaced: (inode, size, mtime) of each, following symlinks (a
    Kubernetes secret volume swaps a symlink to a new directory). A missing file is all zeroes."""
    found = []
    for path in files.paths():
        try:
            st = os.stat(path)
            found.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            found.append((0, 0, 0))
    return tuple(found)


class HandshakeRefusals:
    """TLS handshakes the listener refused, counted by OpenSSL's reason (``UNSUPPORTED_PROTOCOL``,
    ``NO_SHARED_CIPHER``, ``CERTIFICATE_VERIFY_FAILED``, ...): the whitepaper recommends logging a
    security event when the Central System drops a connection for a security reason (A00.FR.323).
    Logged at 1, 2, 4, 8, ... of each reason: every reason is seen, a flood is no log flood."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def refused(self, exc: ssl.SSLError) -> None:
        reason = str(exc.reason or type(exc).__name__)
        self.counts[reason] += 1
        n = self.counts[reason]
        if n & (n - 1) == 0:
            log.warning("TLS handshake refused (%s; %d so far): %s", reason, n, exc)


def refusal_recording(refusals: HandshakeRefusals) -> type[ssl.SSLObject]:
    """An SSLObject that records a failed handshake and lets OpenSSL's alert reach the station.

    asyncio's and uvloop's SSL transports close at once on a handshake error, dropping the alert
    OpenSSL wrote (the station saw a reset, not ``protocol_version``, ``handshake_failure`` or
    ``unknown_ca``, which is what it raises InvalidTLSVersion / InvalidTLSCipherSuite on). Both
    send what is pending when the handshake "wants to read": so the first error says that, the
    alert goes out, and the station's close (or its next bytes, which fail again, or the handshake
    timeout) ends the connection."""

    class Recording(ssl.SSLObject):
        _refused = False

        def do_handshake(self) -> None:
            try:
                super().do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise
            except ssl.SSLError as exc:
                if self._refused:
                    raise
                self._refused = True
                refusals.refused(exc)
                raise ssl.SSLWantReadError("handshake refused; alert pending") from exc

    return Recording


class ReloadingContext:
    """The listener's context, and the newest one built from ``files``."""

    def __init__(self, files: ServerFiles) -> None:
        self.files = files
        self._seen = signature(files)
        self.refusals = HandshakeRefusals()
        self.listener = server_context(files)
        self.listener.sni_callback = self._to_current
        self.listener.sslobject_class = refusal_recording(self.refusals)
        self.current = self.listener
        self.reloads = 0
        self._failed: Signature | None = None

    def _to_current(self, ssl_object: ssl.SSLObject, server_name: str | None, ctx: ssl.SSLContext) -> None:
        if ssl_object.context is not self.current:
            ssl_object.context = self.current

    def check(self) -> bool:
        """Build a new context when the files changed; True when one is now in use. A change that
        does not load (a key beside the wrong certificate, a file half copied) keeps the old
        context, said once, and is tried again while the files keep changing."""
        seen = signature(self.files)
        if seen == self._seen:
            return False
        try:
            fresh = server_context(self.files)
        except (OSError, ssl.SSLError, ValueError) as exc:
            if seen != self._failed:
                log.error("TLS files changed but do not load (%s); keeping the previous certificates", exc)
                self._failed = seen
            return False
        self._seen, self._failed = seen, None
        self.current = fresh
        self.reloads += 1
        log.info("TLS certificates reloaded from %s: new connections use them", self.files.rsa_cert.parent)
        return True

    async def watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            # A stat per file: cheap enough for the loop.
            self.check()


@dataclass(frozen=True)
class TransportSecurity:
    """What the TLS handshake of one station connection agreed (ADR 0035)."""

    version: str | None
    cipher: str | None
    client_certificate: ClientCertificate | None


def transport_security(ssl_object: ssl.SSLObject | None) -> TransportSecurity | None:
    """None on plain ws. A presented client certificate was verified in the handshake (a
    certificate that does not verify fails it), so one here is the charge-point CA's."""
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher()
    der = ssl_object.getpeercert(binary_form=True)
    return TransportSecurity(
        version=ssl_object.version(),
        cipher=cipher[0] if cipher else None,
        client_certificate=client_certificate(der) if der else None,
    )
