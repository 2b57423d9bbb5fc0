"""Where stations fetch images and upload diagnostics: the URLs the driver's CALLs carry.

Pure: built from the file servers' public address and the credentials the state holds (a
campaign's or a request's token, ADR 0010), so a test checks them without a server.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.firmware.state import Campaign, Diagnostics, Image
from shared.config import Settings


def tls_configured(settings: Settings) -> bool:
    """The HTTP file server speaks TLS when a certificate and its key are both configured."""
    return bool(settings.files_tls_cert and settings.files_tls_key)


@dataclass(frozen=True)
class Locations:
    """The file servers as stations reach them: ports are the bound ones (0 in the settings: any)."""

    http_scheme: str
    host: str
    http_port: int
    ftp_port: int

    @classmethod
    def of(cls, settings: Settings, http_port: int, ftp_port: int) -> Locations:
        scheme = "https" if tls_configured(settings) else "http"
        return cls(scheme, settings.files_public_host or settings.files_host, http_port, ftp_port)

    def firmware(self, campaign: Campaign, image: Image) -> str:
        """UpdateFirmware.req location (OCPP 1.6 6.55): the campaign's image, its token as the
        FTP password or as a path segment."""
        if campaign.transport == "ftp":
            return (
                f"ftp://fw-{campaign.campaign_id}:{campaign.token}@{self.host}:{self.ftp_port}/{image.name}"
            )
        return (
            f"{self.http_scheme}://{self.host}:{self.http_port}"
            f"/firmware/{campaign.campaign_id}/{campaign.token}/{image.name}"
        )

    def diagnostics(self, diag: Diagnostics) -> str:
        """GetDiagnostics.req location (OCPP 1.6 6.25): a directory the station uploads into."""
        if diag.transport == "ftp":
            return f"ftp://diag-{diag.request_id}:{diag.token}@{self.host}:{self.ftp_port}/"
        return (
            f"{self.http_scheme}://{self.host}:{self.http_port}/diagnostics/{diag.request_id}/{diag.token}/"
        )
