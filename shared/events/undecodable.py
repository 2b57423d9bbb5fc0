"""Records nothing could decode: each one logged as an error with its position, and counted.

A record that does not decode is data loss in slow motion: a state rebuilt without it decides
differently, a read model misses a row. It is never skipped silently: whoever reads it calls
:func:`report`, which logs the topic, partition and offset (where to look) and adds one to a
process-wide count per topic (exported as a metric, issue 16). Projections also dead-letter it
(shared/projection/runner.py), so the record itself is kept with the reason.
"""

from __future__ import annotations

import logging
from collections import Counter

log = logging.getLogger(__name__)

_counts: Counter[str] = Counter()


def report(topic: str, partition: int, offset: int | None, error: BaseException | str) -> None:
    """Log one undecodable record of ``topic`` at its position and count it."""
    _counts[topic] += 1
    where = f"{topic}[{partition}]@{offset}" if offset is not None else f"{topic}[{partition}]"
    log.error("undecodable record %s: %s", where, error)


def counts() -> dict[str, int]:
    """Undecodable records seen by this process since it started, per topic."""
    return dict(_counts)


def reset() -> None:
    """Forget the counts (tests)."""
    _counts.clear()
