"""``csms all``: every service as its own child process, restarted when it dies, stopped together.

Local stand-in for what Kubernetes does in production: the same ``csms <service>`` command per
process, so what runs locally is what is deployed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

RESTART_BACKOFF_MAX = 10.0


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0


def _spawn(child: Child) -> None:
    child.process = subprocess.Popen([sys.executable, "-m", "services.cli", child.name])
    child.started_at = time.monotonic()


def supervise(names: list[str]) -> int:
    children = [Child(n) for n in names]
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for child in children:
        _spawn(child)
    api_port = os.environ.get("CSMS_API_PORT", "8080")
    gw_port = os.environ.get("CSMS_GATEWAY_PORT", "9000")
    print(f"csms: running {', '.join(names)}", flush=True)
    print(f"csms: stations connect to ws://127.0.0.1:{gw_port}/ocpp/{{chargePointId}}", flush=True)
    if "api" in names:
        print(
            f"csms: operator API at http://127.0.0.1:{api_port}/api/v1 (OpenAPI: /openapi.json)", flush=True
        )
    if "firmware" in names:
        http_port = os.environ.get("CSMS_FILES_HTTP_PORT", "8081")
        ftp_port = os.environ.get("CSMS_FILES_FTP_PORT", "2121")
        print(
            f"csms: firmware and diagnostics files for stations at http://127.0.0.1:{http_port} "
            f"and ftp://127.0.0.1:{ftp_port}",
            flush=True,
        )
    print("csms: Ctrl-C stops everything", flush=True)
    while not stopping:
        time.sleep(0.5)
        for child in children:
            assert child.process is not None
            code = child.process.poll()
            if code is None or stopping:
                continue
            child.restarts += 1
            backoff = min(RESTART_BACKOFF_MAX, 0.5 * 2 ** min(child.restarts, 5))
            if time.monotonic() - child.started_at > 60:
                child.restarts = 0
            print(f"csms: {child.name} exited with {code}; restarting in {backoff:.1f}s", flush=True)
            time.sleep(backoff)
            _spawn(child)
    for child in children:
        if child.process and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
    print("csms: stopped", flush=True)
    return 0
