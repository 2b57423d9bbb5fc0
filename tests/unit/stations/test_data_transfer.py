"""DataTransfer from a station (OCPP 1.6 4.3, 6.17): a known vendor answers, any other vendor id is
UnknownVendorId; the built-in vendor knows only ``ping``."""

from __future__ import annotations

from services.stations.handlers.data_transfer import CSMS_VENDOR
from shared.ocpp.v16.messages import DataTransferRequest, DataTransferResponse
from tests.unit.stations.builders import call


def test_an_unknown_vendor_is_unknown_vendor_id() -> None:
    request = DataTransferRequest(vendor_id="com.unknown", message_id="m", data="d")
    assert call("DataTransfer", request) == (DataTransferResponse(status="UnknownVendorId"), [])


def test_the_built_in_vendor_answers_ping_with_the_data_or_pong() -> None:
    echo = DataTransferRequest(vendor_id=CSMS_VENDOR, message_id="ping", data="hello")
    assert call("DataTransfer", echo) == (DataTransferResponse(status="Accepted", data="hello"), [])
    bare = DataTransferRequest(vendor_id=CSMS_VENDOR, message_id="ping")
    assert call("DataTransfer", bare) == (DataTransferResponse(status="Accepted", data="pong"), [])


def test_the_built_in_vendor_reports_an_unknown_message_id() -> None:
    for message_id in ("other", None):
        request = DataTransferRequest(vendor_id=CSMS_VENDOR)
        if message_id is not None:
            request = DataTransferRequest(vendor_id=CSMS_VENDOR, message_id=message_id)
        assert call("DataTransfer", request) == (DataTransferResponse(status="UnknownMessageId"), [])
