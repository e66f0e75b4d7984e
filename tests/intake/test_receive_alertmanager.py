"""The receiver algorithm of shared/specs/alertmanager-webhook.md, on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from incidents.intake import alertmanager
from incidents.intake.alertmanager import InvalidPayload, receive_alertmanager
from incidents.intake.models import Alert, AlertGroup, AlertPayload, AlertStatus, GroupStatus
from tests.intake.conftest import am_alert, am_payload, raw

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 16, 22, 0, tzinfo=UTC)
START_A = "2026-05-16T21:54:09.665Z"
START_B = "2026-05-16T21:56:00Z"


@pytest.fixture(autouse=True, params=["batched", "per-alert"])
def path(request, monkeypatch):
    """Every rule holds on both paths: the batched one, and the per-alert one it falls back to when a
    concurrent delivery of another group created one of its episodes first."""
    if request.param == "per-alert":
        monkeypatch.setattr(alertmanager, "_receive_batch", lambda *args: False)
    return request.param


def receive(integration, payload, now):
    return receive_alertmanager(integration, payload, raw=raw(payload), now=now)


def test_the_same_payload_twice_makes_one_alert_and_changes_nothing_the_second_time(integration):
    payload = am_payload(am_alert())
    first = receive(integration, payload, T0)
    second = receive(integration, payload, T0 + timedelta(seconds=1))
    assert len(first.new_firing) == 1 and first.group.status == GroupStatus.FIRING
    assert second.new_firing == [] and second.resolved == [] and second.repeats == 1
    assert not second.group_resolved and not second.group_reopened
    assert Alert.objects.count() == 1 and AlertGroup.objects.count() == 1
    assert AlertPayload.objects.count() == 2  # every delivery is kept for audit


def test_a_repeat_after_the_repeat_interval_refreshes_last_seen_and_annotations_only(integration):
    receive(integration, am_payload(am_alert()), T0)
    later = T0 + timedelta(hours=4)
    result = receive(
        integration,
        am_payload(am_alert(description="/var at 99%"), notification_reason="repeat interval elapsed"),
        later,
    )
    assert result.new_firing == [] and result.repeats == 1
    alert = Alert.objects.get()
    assert alert.last_seen == later and alert.first_seen == T0
    assert alert.annotations["description"] == "/var at 99%"
    assert alert.status == AlertStatus.FIRING and alert.ends_at is None


def test_the_alert_row_carries_summary_severity_service_and_links(integration):
    receive(integration, am_payload(am_alert()), T0)
    alert = Alert.objects.get()
    assert alert.fingerprint == "5d7e9b6c1f0a2e43"
    assert alert.starts_at == datetime(2026, 5, 16, 21, 54, 9, 665000, tzinfo=UTC)
    assert alert.summary == "Disk almost full"
    assert (alert.source_severity, alert.severity) == ("critical", "SEV2")
    assert alert.service == "db"  # the integration names its service by the "team" label
    assert {link["text"] for link in alert.links} == {"Source", "Alertmanager"}
    assert alert.labels["instance"] == "db-1:9100"


def test_firing_resolved_firing_with_a_new_starts_at_makes_two_episodes_and_reopens_the_group(integration):
    receive(integration, am_payload(am_alert()), T0)
    resolved = receive(
        integration,
        am_payload(
            am_alert(status="resolved", ends_at="2026-05-16T22:10:00Z"), notification_reason="all alerts resolved"
        ),
        T0 + timedelta(minutes=10),
    )
    assert [a.fingerprint for a in resolved.resolved] == ["5d7e9b6c1f0a2e43"]
    assert resolved.group_resolved and resolved.group.status == GroupStatus.RESOLVED
    again = receive(integration, am_payload(am_alert(starts_at="2026-05-16T22:30:00Z")), T0 + timedelta(minutes=30))
    assert len(again.new_firing) == 1 and again.group_reopened
    episodes = list(Alert.objects.order_by("starts_at").values_list("status", "ends_at"))
    assert episodes == [
        (AlertStatus.RESOLVED, datetime(2026, 5, 16, 22, 10, tzinfo=UTC)),
        (AlertStatus.FIRING, None),
    ]
    group = AlertGroup.objects.get()
    assert group.status == GroupStatus.FIRING and group.resolved_at is None


def test_repeating_a_resolution_is_a_no_op(integration):
    receive(integration, am_payload(am_alert()), T0)
    payload = am_payload(am_alert(status="resolved", ends_at="2026-05-16T22:10:00Z"))
    receive(integration, payload, T0 + timedelta(minutes=10))
    again = receive(integration, payload, T0 + timedelta(minutes=15))
    assert again.resolved == [] and not again.group_resolved
    assert Alert.objects.get().ends_at == datetime(2026, 5, 16, 22, 10, tzinfo=UTC)


def test_an_alert_added_to_the_group_is_the_only_new_one(integration):
    receive(integration, am_payload(am_alert("aaaa000000000001")), T0)
    added = am_payload(
        am_alert("aaaa000000000001"),
        am_alert("bbbb000000000002", starts_at=START_B, instance="db-2:9100"),
        notification_reason="new alerts added",
    )
    result = receive(integration, added, T0 + timedelta(minutes=5))
    assert [a.fingerprint for a in result.new_firing] == ["bbbb000000000002"] and result.repeats == 1
    assert Alert.objects.count() == 2 and AlertGroup.objects.count() == 1


def test_some_resolved_closes_those_and_keeps_the_group_firing(integration):
    both = am_payload(am_alert("aaaa000000000001"), am_alert("bbbb000000000002", instance="db-2:9100"))
    receive(integration, both, T0)
    some = am_payload(
        am_alert("aaaa000000000001"),
        am_alert("bbbb000000000002", status="resolved", ends_at="2026-05-16T22:04:00Z", instance="db-2:9100"),
        notification_reason="some alerts resolved",
    )
    result = receive(integration, some, T0 + timedelta(minutes=5))
    assert [a.fingerprint for a in result.resolved] == ["bbbb000000000002"] and not result.group_resolved
    assert Alert.objects.get(fingerprint="bbbb000000000002").ends_at == datetime(2026, 5, 16, 22, 4, tzinfo=UTC)
    assert AlertGroup.objects.get().status == GroupStatus.FIRING


def test_a_resolved_alert_for_an_unknown_fingerprint_is_stored_closed_and_opens_nothing(integration):
    result = receive(integration, am_payload(am_alert(status="resolved", ends_at="2026-05-16T22:10:00Z")), T0)
    assert result.new_firing == [] and not result.group_resolved and not result.group_reopened
    alert = Alert.objects.get()
    assert alert.status == AlertStatus.RESOLVED and alert.ends_at == datetime(2026, 5, 16, 22, 10, tzinfo=UTC)
    assert AlertGroup.objects.get().status == GroupStatus.RESOLVED


def test_a_late_firing_retry_after_the_resolution_is_ignored(integration):
    firing = am_payload(am_alert())
    receive(integration, firing, T0)
    receive(
        integration, am_payload(am_alert(status="resolved", ends_at="2026-05-16T22:10:00Z")), T0 + timedelta(minutes=10)
    )
    late = receive(integration, firing, T0 + timedelta(minutes=11))  # the first notification, retried late
    assert late.ignored == 1 and late.new_firing == [] and not late.group_reopened
    assert Alert.objects.get().status == AlertStatus.RESOLVED
    assert AlertGroup.objects.get().status == GroupStatus.RESOLVED


def test_a_late_firing_of_an_episode_never_seen_but_older_than_a_recorded_resolution_is_ignored(integration):
    receive(integration, am_payload(am_alert(status="resolved", ends_at="2026-05-16T22:10:00Z")), T0)
    late = receive(integration, am_payload(am_alert(starts_at="2026-05-16T21:00:00Z")), T0 + timedelta(minutes=1))
    assert late.ignored == 1 and Alert.objects.count() == 1


def test_truncated_alerts_never_resolve_an_alert_by_its_absence(integration):
    receive(
        integration, am_payload(am_alert("aaaa000000000001"), am_alert("bbbb000000000002", instance="db-2:9100")), T0
    )
    result = receive(integration, am_payload(am_alert("aaaa000000000001"), truncated=1), T0 + timedelta(minutes=5))
    assert result.resolved == []
    assert set(Alert.objects.values_list("fingerprint", "status")) == {
        ("aaaa000000000001", AlertStatus.FIRING),
        ("bbbb000000000002", AlertStatus.FIRING),
    }
    # Nor does a truncated payload that calls itself resolved: its status covers only what it sent.
    result = receive(
        integration,
        am_payload(am_alert("aaaa000000000001", status="resolved", ends_at="2026-05-16T22:05:00Z"), truncated=1),
        T0 + timedelta(minutes=10),
    )
    assert [a.fingerprint for a in result.resolved] == ["aaaa000000000001"] and not result.group_resolved
    assert Alert.objects.get(fingerprint="bbbb000000000002").status == AlertStatus.FIRING


def test_a_complete_payload_without_an_open_alert_resolves_it(integration):
    receive(
        integration, am_payload(am_alert("aaaa000000000001"), am_alert("bbbb000000000002", instance="db-2:9100")), T0
    )
    result = receive(integration, am_payload(am_alert("aaaa000000000001")), T0 + timedelta(minutes=5))
    assert [a.fingerprint for a in result.resolved] == ["bbbb000000000002"]
    assert Alert.objects.get(fingerprint="bbbb000000000002").ends_at == T0 + timedelta(minutes=5)
    assert AlertGroup.objects.get().status == GroupStatus.FIRING


def test_a_late_retry_of_an_older_notification_does_not_resolve_newer_alerts(integration):
    older = am_payload(am_alert("aaaa000000000001"))
    newer = am_payload(
        am_alert("aaaa000000000001"), am_alert("bbbb000000000002", starts_at=START_B, instance="db-2:9100")
    )
    receive(integration, newer, T0)
    result = receive(integration, older, T0 + timedelta(minutes=1))  # retried, arrives after the newer one
    assert result.resolved == []
    assert Alert.objects.open().count() == 2


def test_a_resolved_payload_resolves_the_group_and_what_it_left_out(integration):
    receive(
        integration, am_payload(am_alert("aaaa000000000001"), am_alert("bbbb000000000002", instance="db-2:9100")), T0
    )
    result = receive(
        integration,
        am_payload(am_alert("aaaa000000000001", status="resolved", ends_at="2026-05-16T22:05:00Z"), status="resolved"),
        T0 + timedelta(minutes=5),
    )
    assert {a.fingerprint for a in result.resolved} == {"aaaa000000000001", "bbbb000000000002"}
    assert result.group_resolved
    assert AlertGroup.objects.get().resolved_at == T0 + timedelta(minutes=5)


def test_a_late_retry_of_an_all_resolved_notification_does_not_close_the_next_episode(integration):
    receive(integration, am_payload(am_alert()), T0)
    all_resolved = am_payload(am_alert(status="resolved", ends_at="2026-05-16T22:10:00Z"))
    receive(integration, all_resolved, T0 + timedelta(minutes=10))
    receive(integration, am_payload(am_alert(starts_at="2026-05-16T22:30:00Z")), T0 + timedelta(minutes=30))
    late = receive(integration, all_resolved, T0 + timedelta(minutes=31))
    assert late.resolved == [] and not late.group_resolved
    assert Alert.objects.open().count() == 1
    assert AlertGroup.objects.get().status == GroupStatus.FIRING


@pytest.mark.parametrize("ends_at", ["0001-01-01T00:00:00Z", None, ""])
def test_the_zero_or_a_missing_ends_at_means_still_firing(integration, ends_at):
    alert = am_alert()
    if ends_at is None:
        del alert["endsAt"]
    else:
        alert["endsAt"] = ends_at
    receive(integration, am_payload(alert), T0)
    stored = Alert.objects.get()
    assert stored.status == AlertStatus.FIRING and stored.ends_at is None


def test_a_new_episode_closes_an_older_one_whose_resolution_never_came(integration):
    receive(integration, am_payload(am_alert()), T0)
    result = receive(integration, am_payload(am_alert(starts_at="2026-05-16T23:00:00Z")), T0 + timedelta(hours=1))
    assert len(result.new_firing) == 1 and len(result.resolved) == 1
    old = Alert.objects.get(starts_at__lt=datetime(2026, 5, 16, 23, tzinfo=UTC))
    assert old.status == AlertStatus.RESOLVED and old.ends_at == datetime(2026, 5, 16, 23, tzinfo=UTC)


def test_groups_are_kept_apart_by_group_key(integration):
    receive(integration, am_payload(am_alert("aaaa000000000001")), T0)
    receive(integration, am_payload(am_alert("bbbb000000000002"), group_key='{}:{alertname="Other"}'), T0)
    assert AlertGroup.objects.count() == 2
    assert all(len(g.key_hash) == 64 for g in AlertGroup.objects.all())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": "3"}, "version"),
        ({"version": 4}, "version"),
        ({"groupKey": ""}, "groupKey"),
        ({"alerts": {}}, "alerts"),
        ({"status": "pending"}, "status"),
        ({"truncatedAlerts": -1}, "truncatedAlerts"),
        ({"alerts": [{"status": "firing", "labels": {}, "startsAt": "yesterday"}]}, "alerts[0].startsAt"),
    ],
)
def test_an_invalid_payload_is_refused_before_anything_is_written(integration, change, field):
    payload = {**am_payload(), **change}
    with pytest.raises(InvalidPayload) as refused:
        receive(integration, payload, T0)
    assert refused.value.details.get("field") == field
    assert AlertPayload.objects.count() == 0 and Alert.objects.count() == 0


def test_unknown_fields_are_accepted_and_optional_ones_may_be_missing(integration):
    payload = am_payload(am_alert(), something_new={"added": "in 0.40"})
    for optional in ("notification_reason", "routeLabels", "truncatedAlerts"):
        del payload[optional]
    result = receive(integration, payload, T0)
    assert len(result.new_firing) == 1
    assert result.payload.truncated_alerts == 0 and result.payload.notification_reason == ""


def test_the_raw_body_is_kept_for_audit_up_to_the_limit(integration, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INTAKE_PAYLOAD_KEPT_BYTES": 100}
    payload = am_payload(am_alert())
    result = receive(integration, payload, T0)
    stored = AlertPayload.objects.get(pk=result.payload.pk)
    assert stored.body == raw(payload)[:100].decode()
    assert stored.body_bytes == len(raw(payload)) and stored.body_truncated
    assert (stored.status, stored.notification_reason, stored.alert_count) == ("firing", "first notification", 1)


def test_every_group_whose_state_changed_is_handed_to_correlation_and_repeats_are_not(integration, monkeypatch):
    from incidents.intake import correlate

    queued = []
    monkeypatch.setattr(correlate, "queue", lambda group, **options: queued.append(group))
    first = receive(integration, am_payload(am_alert()), T0)
    receive(integration, am_payload(am_alert()), T0 + timedelta(minutes=5))  # a repeat: nothing changed
    assert [group.pk for group in queued] == [first.group.pk]
    # A new episode of the series routed into another group closes the old one: both groups changed.
    other = receive(
        integration, am_payload(am_alert(starts_at=START_B), group_key="route-b"), T0 + timedelta(minutes=10)
    )
    assert {group.pk for group in queued[1:]} == {first.group.pk, other.group.pk}
    group_a = AlertGroup.objects.get(pk=first.group.pk)
    assert group_a.status == GroupStatus.RESOLVED  # nothing of it is open any more
    assert group_a.title == "Disk almost full"  # the common summary names the group
