"""Issue severity and priority: deterministic rules, each one explainable in a sentence.

Severity (critical / high / medium / low) is the highest level any rule
reaches: message keywords, the event count, the error rate, regressions,
route diversity and the event level. Priority (0-100) is a severity base plus
components for the error rate, regressions and recency; resolved and ignored
issues are weighted down, and the total is capped at 100. ``priority_reason``
names every part that contributed, so a user can see why an issue is on top.

The thresholds live in ``settings.TRACEPOINT["ISSUE_PRIORITY"]`` (see
``DEFAULT_RULES``); the functions here are pure and take ``now``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models


class IssueSeverity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


RANK = {IssueSeverity.LOW: 0, IssueSeverity.MEDIUM: 1, IssueSeverity.HIGH: 2, IssueSeverity.CRITICAL: 3}

DEFAULT_RULES: dict[str, Any] = {
    # Message keywords (case-insensitive, whole words or phrases) that set a severity.
    "keywords": {
        "critical": ["fatal", "out of memory", "oom", "deadlock", "data loss", "corrupt", "segfault"],
        "high": ["timeout", "timed out", "database", "connection refused", "unavailable", "disk full"],
    },
    # (threshold, severity): the highest threshold reached wins.
    "event_count": [(1000, "high"), (100, "medium")],
    "error_rate_per_minute": [(10.0, "critical"), (1.0, "high"), (0.2, "medium")],
    "regressions": [(3, "high"), (1, "medium")],
    "routes": [(5, "high"), (2, "medium")],
    # Priority parts.
    "base": {"critical": 60, "high": 40, "medium": 20, "low": 5},
    "rate_points_per_error_per_minute": 2.0,
    "rate_points_max": 20,
    "regression_points_each": 5,
    "regression_points_max": 10,
    "recency": [(timedelta(hours=1), 10), (timedelta(hours=24), 5)],
    # Resolved and ignored issues keep this share of their score.
    "inactive_factor": 0.25,
}


def rules() -> dict[str, Any]:
    return {**DEFAULT_RULES, **settings.TRACEPOINT["ISSUE_PRIORITY"]}


@dataclass(frozen=True)
class Impact:
    """What the rules look at, read from an issue's counters and buckets."""

    title: str
    level: str
    status: str
    event_count: int
    user_count: int
    route_count: int
    regression_count: int
    error_rate: float  # errors per minute over the last 60 minutes
    last_seen: datetime


@dataclass
class Assessment:
    severity: str
    priority: int
    reason: str
    severity_reasons: list[str] = field(default_factory=list)


def _keyword_pattern(words: list[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(word) for word in words) + r")\b", re.I)


def _threshold(value: float, table: list[tuple[float, str]]) -> tuple[str, float] | None:
    for limit, level in sorted(table, key=lambda row: -row[0]):
        if value >= limit:
            return level, limit
    return None


def severity(impact: Impact, config: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    """The highest severity any rule reaches, with a sentence per rule that fired."""
    config = config or rules()
    found: list[tuple[str, str]] = []
    for level in (IssueSeverity.CRITICAL, IssueSeverity.HIGH, IssueSeverity.MEDIUM):
        pattern = _keyword_pattern(config["keywords"].get(level.value, []))
        match = pattern.search(impact.title) if pattern else None
        if match:
            found.append((level, f"message mentions '{match.group(0).lower()}'"))
            break
    if impact.level == "fatal":
        found.append((IssueSeverity.CRITICAL, "level is fatal"))
    checks = [
        (impact.event_count, config["event_count"], "{value} events (≥ {limit:g})"),
        (impact.error_rate, config["error_rate_per_minute"], "{value:.1f} errors/min (≥ {limit:g})"),
        (impact.regression_count, config["regressions"], "regressed {value} times (≥ {limit:g})"),
        (impact.route_count, config["routes"], "{value} routes (≥ {limit:g})"),
    ]
    for value, table, text in checks:
        hit = _threshold(value, table)
        if hit:
            found.append((IssueSeverity(hit[0]), text.format(value=value, limit=hit[1])))
    if not found:
        return IssueSeverity.LOW.value, []
    top = max(RANK[IssueSeverity(level)] for level, _ in found)
    best = next(level for level, rank in RANK.items() if rank == top)
    return best.value, [text for level, text in found if RANK[IssueSeverity(level)] == top]


def assess(impact: Impact, *, now: datetime, config: dict[str, Any] | None = None) -> Assessment:
    """Severity, the 0-100 priority and the sentence that explains it."""
    config = config or rules()
    level, why = severity(impact, config)
    base = config["base"][level]
    parts = [(f"{level} severity" + (f" ({'; '.join(why)})" if why else ""), base)]
    rate_points = min(config["rate_points_max"], round(impact.error_rate * config["rate_points_per_error_per_minute"]))
    if rate_points:
        parts.append((f"{impact.error_rate:.1f} errors/min", rate_points))
    regression_points = min(config["regression_points_max"], impact.regression_count * config["regression_points_each"])
    if regression_points:
        noun = "regression" if impact.regression_count == 1 else "regressions"
        parts.append((f"{impact.regression_count} {noun}", regression_points))
    age = now - impact.last_seen
    for window, points in config["recency"]:
        if age <= window:
            parts.append((f"seen in the last {_duration(window)}", points))
            break
    total = sum(points for _, points in parts)
    text = ", ".join(f"{label} +{points}" for label, points in parts)
    if impact.status in ("resolved", "ignored"):
        weighted = int(total * config["inactive_factor"])
        text += f"; {impact.status}: x{config['inactive_factor']:g} = {weighted}"
        total = weighted
    if total > 100:
        text += "; capped at 100"
        total = 100
    return Assessment(severity=level, priority=total, reason=text, severity_reasons=why)


def _duration(window: timedelta) -> str:
    hours = int(window.total_seconds() // 3600)
    return "hour" if hours == 1 else f"{hours} hours"
