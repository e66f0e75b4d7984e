"""Topic names a notification can carry, and how a channel's topic list matches them.

Topics are dotted lowercase words (``incident.created``). A channel lists the
topics it wants; an empty list means every topic, and ``incident.*`` matches
every topic that starts with ``incident.``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

TEST = "test"
INCIDENT_CREATED = "incident.created"
INCIDENT_STATUS_CHANGED = "incident.status_changed"
ISSUE_ALERT = "issue.alert"
MONITOR_DOWN = "monitor.down"
MONITOR_UP = "monitor.up"

# The topics a channel form offers as checkboxes (any other pattern may still be typed).
KNOWN_TOPICS: list[tuple[str, str]] = [
    (INCIDENT_CREATED, "A SEV1 or SEV2 incident opens"),
    (INCIDENT_STATUS_CHANGED, "An incident is acknowledged, mitigated, resolved or reopened"),
    (ISSUE_ALERT, "An alert rule fires on errors"),
    (MONITOR_DOWN, "A monitor goes down"),
    (MONITOR_UP, "A monitor is up again"),
    ("monitor.degraded", "A monitor is degraded"),
]

MAX_TOPIC_LENGTH = 100
_TOPIC_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
_PATTERN_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$")


def is_valid_topic(topic: str) -> bool:
    return isinstance(topic, str) and len(topic) <= MAX_TOPIC_LENGTH and bool(_TOPIC_RE.match(topic))


def is_valid_pattern(pattern: str) -> bool:
    return isinstance(pattern, str) and len(pattern) <= MAX_TOPIC_LENGTH and bool(_PATTERN_RE.match(pattern))


def topic_matches(patterns: Iterable[str], topic: str) -> bool:
    patterns = list(patterns)
    if not patterns:
        return True
    for pattern in patterns:
        if pattern == topic:
            return True
        if pattern.endswith(".*") and topic.startswith(pattern[:-1]):
            return True
    return False
