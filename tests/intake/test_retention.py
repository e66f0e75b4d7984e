"""Raw payloads and resolved alerts are deleted after their retention; open alerts and recent data stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.intake.alertmanager import receive_alertmanager
from incidents.intake.models import Alert, AlertGroup, AlertPayload
from incidents.intake.retention import delete_old_alert_data
from tests.intake.conftest import am_alert, am_payload, raw

pytestmark = pytest.mark.django_db


def test_old_payloads_and_old_resolved_alerts_go_while_open_alerts_and_recent_data_stay(integration, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INTAKE_PAYLOAD_RETENTION_DAYS": 30, "ALERT_RETENTION_DAYS": 90}
    now = timezone.now()
    long_ago = now - timedelta(days=100)
    resolved = am_alert("old", status="resolved", starts_at="2026-01-01T00:00:00Z", ends_at="2026-01-01T01:00:00Z")
    payload = am_payload(resolved, group_key="old-group")
    receive_alertmanager(integration, payload, raw=raw(payload), now=long_ago)
    payload = am_payload(am_alert("still-firing", starts_at="2026-01-01T00:00:00Z"), group_key="firing-group")
    receive_alertmanager(integration, payload, raw=raw(payload), now=long_ago)
    payload = am_payload(am_alert("recent"), group_key="recent-group")
    receive_alertmanager(integration, payload, raw=raw(payload), now=now - timedelta(days=1))

    assert delete_old_alert_data(now=now) == 4  # two old payloads, the old resolved alert, its empty group
    assert sorted(Alert.objects.values_list("fingerprint", flat=True)) == ["recent", "still-firing"]
    assert AlertPayload.objects.count() == 1
    assert sorted(AlertGroup.objects.values_list("group_key", flat=True)) == ["firing-group", "recent-group"]
    assert delete_old_alert_data(now=now) == 0
