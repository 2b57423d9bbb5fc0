"""FTP behind a load balancer: data connections use the configured passive ports and the announced
address (a real pyftpdlib server and ftplib client on loopback)."""

from __future__ import annotations

import ftplib
import socket
from pathlib import Path

import pytest

from services.firmware.ftp import Account, FtpServer
from services.firmware.ftp_files import port_range


def free_ports(n: int) -> range:
    """``n`` consecutive ports nobody listens on right now (best effort, loopback only)."""
    for start in range(41000, 60000, 50):
        candidates = range(start, start + n)
        try:
            for port in candidates:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return candidates
    raise RuntimeError("no free port range")


def test_passive_ports_and_masquerade_address(tmp_path: Path) -> None:
    (tmp_path / "fw.bin").write_bytes(b"firmware")
    ports = free_ports(3)
    account = Account(password="token", home=tmp_path, perms="elr")
    server = FtpServer(
        "127.0.0.1",
        0,
        lambda user: account if user == "fw-1" else None,
        lambda _user, _path: None,
        1000,
        passive_ports=ports,
        masquerade_address="127.0.0.2",  # what the clients reach (a load balancer)
    )
    server.start()
    try:
        client = ftplib.FTP()
        client.connect("127.0.0.1", server.port, timeout=10)
        client.login("fw-1", "token")
        for _ in range(3):
            host, port = ftplib.parse227(client.sendcmd("PASV"))
            assert host == "127.0.0.2" and port in ports
        client.close()
        client = ftplib.FTP()
        client.connect("127.0.0.1", server.port, timeout=10)
        client.login("fw-1", "token")
        data: list[bytes] = []
        client.retrbinary("RETR fw.bin", data.append)  # ftplib connects to the control host, not the PASV one
        assert b"".join(data) == b"firmware"
        client.quit()
    finally:
        server.stop()


def test_port_range_setting() -> None:
    assert port_range("") is None
    assert port_range("30000-30002") == range(30000, 30003)
    assert port_range("30000") == range(30000, 30001)
    for bad in ("a-b", "30010-30000", "0-5", "70000-70001"):
        with pytest.raises(ValueError, match="CSMS_FILES_FTP_PASSIVE_PORTS"):
            port_range(bad)
