"""Shared by every benchmark: machine description, percentiles, and the docs/benchmarks.md table."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
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


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "p99.9": 0.0, "max": 0.0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50": at(0.5), "p99": at(0.99), "p99.9": at(0.999), "max": round(ordered[-1], 2)}


def append_section(title: str, command: str, table: str) -> None:
    """Append one measured result (never rewrite old ones: they are the history)."""
    m = machine()
    if not DOC.exists():
        DOC.write_text("# Benchmarks\n\nMeasured on demand (`make bench`), never in tests. Newest last.\n")
    with DOC.open("a") as out:
        out.write(f"\n## {title} — {m['date']}, commit {m['commit']}\n\n")
        out.write(f"Machine: {m['cpus']} cores, {m['cpu']}, Python {m['python']}. Command: {command}\n\n")
        out.write(table + "\n")
