"""Shared by every benchmark: machine description, percentiles, and the docs/benchmarks.md table."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "commit": commit,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def save_json(name: str, result: dict[str, Any]) -> Path:
    """The full result beside the table: bench/results/<name>-<unix time>.json."""
    out = DOC.parent.parent / "bench" / "results" / f"{name}-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return out


def append_section(title: str, command: str, table: str) -> None:
    """Print one measured result and append it (never rewrite old ones: they are the history)."""
    print(table)
    m = machine()
    if not DOC.exists():
        DOC.write_text("# Benchmarks\n\nMeasured on demand (`make bench`), never in tests. Newest last.\n")
    with DOC.open("a") as out:
        out.write(f"\n## {title} — {m['date']}, commit {m['commit']}\n\n")
        out.write(f"Machine: {m['cpus']} cores, {m['cpu']}, Python {m['python']}. Command: {command}\n\n")
        out.write(table + "\n")
