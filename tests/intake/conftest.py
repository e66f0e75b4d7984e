from __future__ import annotations

import copy
import json

import pytest

from incidents.intake import services

FIRING_END = "0001-01-01T00:00:00Z"
GROUP_KEY = '{}/{team="db"}:{alertname="DiskFull", cluster="prod"}'


def am_alert(
    fingerprint: str = "5d7e9b6c1f0a2e43",
    *,
    status: str = "firing",
    starts_at: str = "2026-05-16T21:54:09.665Z",
    ends_at: str = FIRING_END,
    instance: str = "db-1:9100",
    description: str = "/var at 97%",
) -> dict:
    return {
        "status": status,
        "labels": {
            "alertname": "DiskFull",
            "cluster": "prod",
            "instance": instance,
            "severity": "critical",
            "team": "db",
        },
        "annotations": {"summary": "Disk almost full", "description": description},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=...",
        "fingerprint": fingerprint,
    }


def am_payload(
    *alerts: dict, status: str | None = None, truncated: int = 0, group_key: str = GROUP_KEY, **extra
) -> dict:
    alerts = list(alerts) if alerts else [am_alert()]
    if status is None:
        status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": truncated,
        "status": status,
        "receiver": "incidents-webhook",
        "groupLabels": {"alertname": "DiskFull", "cluster": "prod"},
        "commonLabels": {"alertname": "DiskFull", "cluster": "prod", "severity": "critical", "team": "db"},
        "commonAnnotations": {"summary": "Disk almost full"},
        "routeLabels": {},
        "externalURL": "http://alertmanager.example:9093",
        "notification_reason": "first notification",
        "alerts": copy.deepcopy(alerts),
        **extra,
    }


def raw(payload: dict) -> bytes:
    return json.dumps(payload).encode()


@pytest.fixture
def integration_and_token(db):
    return services.create_integration(kind="alertmanager", name="Prometheus prod", service_label="team")


@pytest.fixture
def integration(integration_and_token):
    return integration_and_token[0]


@pytest.fixture
def token(integration_and_token):
    return integration_and_token[1]
