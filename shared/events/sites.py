"""Records on ``csms.sites``: operator-defined sites whose stations share one grid connection.

Key = site id; a tombstone deletes the site. Stations join a site through their registration
(``StationRegistration.site``). Versioned by ``v``; readers ignore fields they do not know.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from shared.events.versioned import Family, VersionedDecoder

Unit = Literal["A", "W"]


class SiteRecord(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    v: int = 1
    site_id: str
    # The grid connection's limit: amperes per phase ("A") or total watts ("W").
    grid_limit: float
    unit: Unit = "A"
    # What one charging session may draw at most where no station limit says otherwise (site unit).
    station_max: float = 32.0
    # Per-station limits (site unit), e.g. a station on a thinner cable; shared by its connectors.
    station_limits: dict[str, float] = {}
    # A charging car is never given less than this (unless the grid cannot hold every minimum).
    min_charging_rate: float = 6.0
    # Limits may only rise this often per station (decreases are never delayed: they protect the grid).
    min_interval_s: float = 10.0
    # Changes smaller than this are not sent (site unit).
    deadband: float = 0.5
    # The stackLevel of the TxProfiles the allocator installs.
    stack_level: int = 1
    # Phases and voltage, for stations reporting power when the site counts amperes (and back).
    phases: int = 3
    voltage: float = 230.0


SITES = Family("csms.sites")
site_decoder = VersionedDecoder(SITES, SiteRecord)
