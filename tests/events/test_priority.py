"""Severity and priority rules, one by one (events/priority.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from events.priority import Impact, assess, severity

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def impact(**overrides) -> Impact:
    fields = {
        "title": "ValueError: bad input",
        "level": "error",
        "status": "unresolved",
        "event_count": 1,
        "user_count": 0,
        "route_count": 0,
        "regression_count": 0,
        "error_rate": 0.0,
        "last_seen": NOW - timedelta(days=3),
    }
    return Impact(**(fields | overrides))


def test_a_quiet_single_error_is_low_with_only_its_base():
    result = assess(impact(), now=NOW)
    assert (result.severity, result.priority) == ("low", 5)
    assert result.reason == "low severity +5"


@pytest.mark.parametrize(
    ("title", "expected", "word"),
    [
        ("MemoryError: out of memory while resizing", "critical", "out of memory"),
        ("FATAL: worker crashed", "critical", "fatal"),
        ("deadlock detected", "critical", "deadlock"),
        ("OperationalError: database is locked", "high", "database"),
        ("ReadTimeout: upstream timed out", "high", "timed out"),
        ("KeyError: 'timeouts_enabled'", "low", None),  # a whole word, not a substring
    ],
)
def test_message_keywords_set_the_severity(title, expected, word):
    level, reasons = severity(impact(title=title))
    assert level == expected
    assert reasons == ([f"message mentions '{word}'"] if word else [])


def test_keywords_are_configurable(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "ISSUE_PRIORITY": {"keywords": {"critical": ["payment"]}}}
    assert severity(impact(title="Payment declined"))[0] == "critical"
    assert severity(impact(title="database is locked"))[0] == "low"  # the defaults were replaced


@pytest.mark.parametrize(("count", "expected"), [(99, "low"), (100, "medium"), (999, "medium"), (1000, "high")])
def test_event_count_thresholds(count, expected):
    assert severity(impact(event_count=count))[0] == expected


@pytest.mark.parametrize(("rate", "expected"), [(0.1, "low"), (0.2, "medium"), (1.0, "high"), (12.5, "critical")])
def test_error_rate_thresholds(rate, expected):
    assert severity(impact(error_rate=rate))[0] == expected


@pytest.mark.parametrize(("regressions", "expected"), [(0, "low"), (1, "medium"), (3, "high")])
def test_regressions_escalate(regressions, expected):
    assert severity(impact(regression_count=regressions))[0] == expected


@pytest.mark.parametrize(("routes", "expected"), [(1, "low"), (2, "medium"), (5, "high")])
def test_route_diversity_escalates(routes, expected):
    assert severity(impact(route_count=routes))[0] == expected


def test_a_fatal_level_is_critical():
    assert severity(impact(level="fatal")) == ("critical", ["level is fatal"])


def test_the_highest_rule_wins_and_only_its_reasons_are_named():
    level, reasons = severity(impact(event_count=150, route_count=6, error_rate=2.0))
    assert level == "high"
    assert reasons == ["2.0 errors/min (≥ 1)", "6 routes (≥ 5)"]


def test_priority_adds_rate_regressions_and_recency_with_a_reason_for_each():
    result = assess(impact(error_rate=3.0, regression_count=1, last_seen=NOW - timedelta(minutes=5)), now=NOW)
    # high (3 errors/min) 40 + rate 6 + one regression 5 + seen in the last hour 10
    assert result.priority == 61
    assert result.reason == (
        "high severity (3.0 errors/min (≥ 1)) +40, 3.0 errors/min +6, 1 regression +5, seen in the last hour +10"
    )


def test_rate_and_regression_parts_are_capped():
    result = assess(impact(error_rate=50.0, regression_count=9, last_seen=NOW - timedelta(hours=3)), now=NOW)
    # critical 60 + rate capped at 20 + regressions capped at 10 + seen in the last 24 hours 5 = 95
    assert result.priority == 95
    assert "9 regressions +10" in result.reason
    assert "seen in the last 24 hours +5" in result.reason


def test_the_total_is_capped_at_100(settings):
    base = {"critical": 90, "high": 40, "medium": 20, "low": 5}
    settings.TRACEPOINT = {**settings.TRACEPOINT, "ISSUE_PRIORITY": {"base": base}}
    result = assess(impact(title="fatal: out of memory", error_rate=50.0, last_seen=NOW), now=NOW)
    assert result.priority == 100  # 90 + 20 + 10
    assert result.reason.endswith("seen in the last hour +10; capped at 100")


@pytest.mark.parametrize("status", ["resolved", "ignored"])
def test_resolved_and_ignored_issues_are_weighted_down(status):
    active = assess(impact(error_rate=3.0, last_seen=NOW), now=NOW)
    inactive = assess(impact(error_rate=3.0, last_seen=NOW, status=status), now=NOW)
    assert inactive.priority == int(active.priority * 0.25)
    assert inactive.reason.endswith(f"; {status}: x0.25 = {inactive.priority}")


def test_the_same_input_always_gives_the_same_answer():
    assert assess(impact(event_count=500, error_rate=0.5), now=NOW) == assess(
        impact(event_count=500, error_rate=0.5), now=NOW
    )
