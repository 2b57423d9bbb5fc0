"""The transactions route table."""

from __future__ import annotations

from services.transactions.routes import ROUTES


def test_routes_cover_the_four_actions() -> None:
    assert set(ROUTES) == {"Authorize", "StartTransaction", "StopTransaction", "MeterValues"}
