"""HA Alertmanager pairs deliver the same notification at the same moment: one record, every time."""

from __future__ import annotations

import json

import psycopg
import pytest
from django.db import connection
from django.test import Client

from incidents.intake.models import Alert, AlertGroup, AlertPayload
from tests.helpers import race
from tests.intake.conftest import am_alert, am_payload

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="races need PostgreSQL; set DATABASE_URL"),
]
URL = "/api/v1/intake/alertmanager"


def _post(token: str, payload: dict) -> int:
    response = Client().post(
        URL, json.dumps(payload), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    return response.status_code


def test_two_replicas_delivering_the_same_new_group_at_once_make_one_record(token):
    payload = am_payload(am_alert("aaaa000000000001"), am_alert("bbbb000000000002", instance="db-2:9100"))
    assert race(2, lambda _: _post(token, payload)) == [202, 202]
    assert AlertGroup.objects.count() == 1
    assert Alert.objects.count() == 2
    assert AlertPayload.objects.count() == 2


def test_many_simultaneous_duplicates_over_many_rounds_never_make_a_second_record(token):
    for round_ in range(5):
        payload = am_payload(
            am_alert(f"{round_:016x}", starts_at=f"2026-05-16T1{round_}:00:00Z"), group_key=f"g{round_}"
        )
        assert race(6, lambda _, payload=payload: _post(token, payload)) == [202] * 6
    assert Alert.objects.count() == 5 and AlertGroup.objects.count() == 5


def test_one_alert_routed_into_two_groups_at_once_is_still_one_episode(token):
    alert = am_alert("cccc000000000003")
    payloads = [am_payload(alert, group_key="route-a"), am_payload(alert, group_key="route-b")]
    assert race(2, lambda i: _post(token, payloads[i])) == [202, 202]
    assert Alert.objects.count() == 1 and AlertGroup.objects.count() == 2


def test_a_connection_lost_mid_request_is_retried_and_the_payload_kept(token, caplog):
    assert _post(token, am_payload(am_alert("dddd000000000004"))) == 202
    backend_pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    dsn = psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if k in ("host", "port", "user", "password", "dbname")}
    )
    with psycopg.connect(dsn, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [backend_pid]).fetchone()[0]
    assert _post(token, am_payload(am_alert("eeee000000000005"), group_key="after-restart")) == 202
    assert "database connection lost on /api/v1/intake/alertmanager; retrying" in caplog.text
    assert Alert.objects.filter(fingerprint="eeee000000000005").count() == 1
