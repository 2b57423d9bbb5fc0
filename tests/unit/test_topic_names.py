"""Topic and consumer-group names are spelled in one place, ``shared/events/topics.py``: a name
built elsewhere from the prefix would escape the prefix rules (and this test)."""

from __future__ import annotations

import re
from pathlib import Path

from shared.events.topics import Topics

ROOT = Path(__file__).resolve().parents[2]
# An f-string that starts a name from the topic prefix: f"{...prefix}..." (the simulator's station
# ids have a prefix of their own, which is not a topic).
BUILT_NAME = re.compile(r"""f["']\{[\w.]*(topic_)?prefix\}""")


def test_no_topic_or_group_name_is_built_outside_topics_py() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for tree in ("shared", "services")
        for path in sorted((ROOT / tree).rglob("*.py"))
        if path != ROOT / "shared/events/topics.py" and "simulator" not in path.parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if BUILT_NAME.search(line)
    ]
    assert offenders == []


def test_the_finder_sees_a_built_name() -> None:
    assert BUILT_NAME.search('group_id=f"{s.topic_prefix}csms.lease"')


def test_every_name_carries_the_prefix() -> None:
    t = Topics("p.", 4)
    names = [t.frames, t.presence, t.stations, t.security, t.id_tags, t.sites, t.local_lists, t.dead_letters]
    names += [t.api_tokens, t.audit]
    names += [t.gateway_inbox("g"), t.replies("r"), t.domain("d"), t.lease("l"), t.group("stations")]
    assert all(n.startswith("p.") for n in names)
    assert t.frames == "p.ocpp.frames"  # the contract name, with the prefix in front only
