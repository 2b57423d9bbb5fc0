"""SignCertificate (security whitepaper 5.17, use case A02): Accepted when the Central System can
process the CSR (A02.FR.11: it reads and its signature matches its key), Rejected otherwise
(A02.FR.12). The checks of what is asked for and the signing follow apart, from the frame, in
``services/stations/certificate_signer.py``, which sends the CertificateSigned."""

from __future__ import annotations

from typing import Never

from services.stations.context import Context
from services.stations.state import State
from shared.certificates import read_csr
from shared.decision import Decision
from shared.ocpp.v16.messages import SignCertificateRequest, SignCertificateResponse


def handle(
    state: State, request: SignCertificateRequest, ctx: Context
) -> Decision[SignCertificateResponse, Never]:
    readable = read_csr(request.csr) is not None
    return SignCertificateResponse(status="Accepted" if readable else "Rejected"), []
