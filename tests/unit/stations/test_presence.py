from services.stations.presence import evolve
from shared.events.envelope import ConnectionClosed, ConnectionOpened


def opened(gw: str, conn: str) -> ConnectionOpened:
    return ConnectionOpened(station_id="CP1", gateway_id=gw, connection_id=conn, at_ms=1)


def closed(gw: str, conn: str, epoch: int) -> ConnectionClosed:
    return ConnectionClosed(station_id="CP1", gateway_id=gw, connection_id=conn, epoch=epoch, at_ms=2)


def test_newest_connection_wins_over_a_late_close_of_the_old_one() -> None:
    p = evolve(None, opened("gw-a", "c1"), offset=10)
    assert p is not None and p.connected and p.epoch == 10 and p.gateway_id == "gw-a"
    p2 = evolve(p, opened("gw-b", "c2"), offset=15)
    assert p2 is not None and p2.gateway_id == "gw-b" and p2.epoch == 15
    assert evolve(p2, closed("gw-a", "c1", epoch=10), offset=16) is None
    p3 = evolve(p2, closed("gw-b", "c2", epoch=15), offset=17)
    assert p3 is not None and not p3.connected and p3.epoch == 15


def test_replayed_open_of_an_older_connection_changes_nothing() -> None:
    p = evolve(None, opened("gw-a", "c2"), offset=20)
    assert evolve(p, opened("gw-a", "c1"), offset=12) is None


def test_registration_status_follows_the_boot_answer_and_outlives_the_connection() -> None:
    from services.stations.presence import booted

    p = evolve(None, opened("gw-a", "c1"), offset=10)
    assert p is not None and p.boot_status is None
    pending = booted(p, epoch=10, status="Pending")
    assert pending is not None and pending.boot_status == "Pending"
    assert booted(pending, epoch=10, status="Pending") is None  # nothing changes
    assert booted(pending, epoch=9, status="Accepted") is None  # an answer on an older connection
    gone = evolve(pending, closed("gw-a", "c1", epoch=10), offset=11)
    assert gone is not None and gone.boot_status == "Pending"
    back = evolve(gone, opened("gw-a", "c2"), offset=12)  # reconnects without booting (4.2)
    assert back is not None and back.boot_status == "Pending"


def test_the_one_section_4_2_rule_for_every_sender_of_calls() -> None:
    from shared.ocpp.v16.registration import command_refusal

    for action in ("RemoteStartTransaction", "RemoteStopTransaction"):
        assert command_refusal("Pending", action) is not None
        assert command_refusal("Accepted", action) is None
        assert command_refusal(None, action) is None
    assert command_refusal("Pending", "GetConfiguration") is None
    assert all(
        command_refusal("Rejected", a) is not None for a in ("GetConfiguration", "TriggerMessage", "Reset")
    )


def test_what_a_station_may_send_before_it_is_accepted() -> None:
    """OCPP-J errata 3.8 and OCPP 1.6 section 4.2."""
    from shared.ocpp.v16.registration import station_call_refusal

    for status in (None, "Pending", "Rejected", "Accepted"):
        assert station_call_refusal(status, "BootNotification") is None
    for action in ("StartTransaction", "Authorize", "DataTransfer", "Heartbeat", "StatusNotification"):
        assert station_call_refusal(None, action) is not None
        assert station_call_refusal("Rejected", action) is not None
        assert station_call_refusal("Accepted", action) is None
    assert station_call_refusal("Pending", "StatusNotification") is None  # may answer a TriggerMessage
    assert station_call_refusal("Pending", "StartTransaction") is not None
