"""The certificate signer: a station's accepted SignCertificate becomes a CertificateSigned (security
whitepaper use case A02/A03, steps after the SignCertificate.conf).

It follows the station CALLs in ``ocpp.frames`` as a consumer group (each request is signed by one
replica; a crash before the commit signs it again, which only issues the station a second, equally
valid certificate). For each SignCertificate whose CSR the stations service accepted, it checks
what is asked for against the station's serial number (``csms.security``: the operator's or the
first BootNotification's, the one the gateway binds profile-3 certificates to, ADR 0037) and the
CPO name (``shared/certificates.py``), has the charge-point CA sign it,
and sends the chain with CertificateSigned through the station's gateway. A CSR it must not sign
is not signed; the refusal is recorded as the station's security event in ``ocpp.frames`` (kind
``CertificateSigningRefused``, listed by ``GET /api/v1/security-events``), as the gateway records
the connections it refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import msgspec
from aiokafka import ConsumerRecord
from cryptography import x509

from shared import metrics, tls
from shared.certificates import (
    CertificateAuthority,
    LocalCertificateAuthority,
    cpo_name,
    read_csr,
    refusal,
)
from shared.clock import SYSTEM, Clock
from shared.commands import CommandClient, NotConnected
from shared.config import Settings
from shared.events import undecodable
from shared.events.envelope import SecurityEvent, decode_frame_record, encode
from shared.events.frames import station_request
from shared.events.security import StationSecurity, security_decoder
from shared.events.topics import Topics
from shared.events.versioned import UndecodableRecord
from shared.kafka import Wake, ensure_topics, make_consumer, make_producer
from shared.ocpp.v16.messages import SignCertificateRequest
from shared.tables import CompactedView

log = logging.getLogger(__name__)

REFUSED = "CertificateSigningRefused"  # the security event of a CSR the CSMS does not sign


def development_ca(settings: Settings) -> bool:
    """Whether stations' CSRs are signed by the development CA (no charge-point CA configured)."""
    return not (settings.cp_ca_cert and settings.cp_ca_key)


def local_authority(settings: Settings) -> CertificateAuthority:
    """The configured charge-point CA, or the development CA the gateway made in ``tls_dir``."""
    if not development_ca(settings):
        return LocalCertificateAuthority(Path(settings.cp_ca_cert), Path(settings.cp_ca_key))
    directory = Path(settings.tls_dir).expanduser()
    return LocalCertificateAuthority(directory / tls.CA_CERT, directory / tls.CA_KEY)


class CertificateSigner:
    """A Runner of the stations process."""

    def __init__(
        self, settings: Settings, clock: Clock = SYSTEM, authority: CertificateAuthority | None = None
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix, settings.frame_partitions)
        self._clock = clock
        self._authority = authority
        self._commands = CommandClient(settings, clock)
        self.security: CompactedView[StationSecurity] = CompactedView(
            settings.kafka_bootstrap, self.topics.security, security_decoder.decode
        )
        self._producer = make_producer(settings.kafka_bootstrap, client_id="stations-certificates")
        self._stopping = asyncio.Event()
        self.signed = 0  # CertificateSigned the stations accepted (for tests and metrics)
        self.refused = 0

    async def run(self) -> None:
        consumer = make_consumer(
            self.settings.kafka_bootstrap,
            client_id="stations-certificates",
            group_id=self.topics.group("stations.certificates"),
            topics=[self.topics.frames],
            auto_offset_reset="latest",  # a new group signs requests from now on, not the history
            wake=Wake.BATCH,  # CertificateSigned follows the SignCertificate answer; no one waits on it
        )
        s = self.settings
        await ensure_topics(s.kafka_bootstrap, self.topics.shared_specs(), s.replication_factor)
        await self.security.start()
        await self._commands.start()
        await self._producer.start()
        await consumer.start()
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for msg in records:
                        await self._on_record(msg)
                if batches:
                    await consumer.commit()
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            await self._producer.stop()
            await self._commands.stop()
            await self.security.stop()

    def stop(self) -> None:
        self._stopping.set()

    async def _on_record(self, msg: ConsumerRecord) -> None:
        try:
            found = station_request(decode_frame_record(msg.value), {"SignCertificate"})
        except UndecodableRecord as exc:
            undecodable.report(msg.topic, msg.partition, msg.offset, exc)
            return
        if found is None:
            return
        record, request = found
        assert isinstance(request, SignCertificateRequest)
        csr = read_csr(request.csr)
        if csr is None:
            return  # answered Rejected (handlers/sign_certificate.py)
        try:
            await self._sign(record.station_id, csr)
        except Exception:  # one station's request must not stop the signer
            log.exception("signing the CSR of %s failed", record.station_id)

    async def _sign(self, station_id: str, csr: x509.CertificateSigningRequest) -> None:
        await self.security.wait_for_end()  # the serial the station's boot just bound, if it did
        known = self.security.get(station_id)
        serial = known.serial_number if known is not None else None
        cpo = cpo_name(self.settings.cpo_name, development_ca=development_ca(self.settings))
        why = refusal(csr, serial_number=serial, cpo_name=cpo)
        if why is not None:
            log.warning("not signing the CSR of %s: %s", station_id, why)
            refused = SecurityEvent(
                station_id=station_id,
                gateway_id=self.settings.instance_id,
                at_ms=self._clock.now_ms(),
                kind=REFUSED,
                reason=why,
            )
            await self._producer.send_and_wait(self.topics.frames, encode(refused), key=station_id.encode())
            metrics.security_event(REFUSED, "csms")
            self.refused += 1
            return
        if self._authority is None:
            self._authority = local_authority(self.settings)
        chain = self._authority.sign(csr, self._clock.now())
        try:
            outcome = await self._commands.call(
                station_id,
                "CertificateSigned",
                msgspec.json.encode({"certificateChain": chain}),
                timeout=self.settings.command_timeout,
            )
        except NotConnected:
            log.warning("%s signed a CSR and left before its CertificateSigned", station_id)
            return
        log.info("CertificateSigned to %s: %s", station_id, outcome.status.value)
        self.signed += 1
