"""Edge cases found in review: maintenance that follows its windows, admin edits, odd input, sessions."""

# ruff: noqa: S314 - the XML parsed here is our own feed
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from monitors import services as monitor_services
from monitors.models import Monitor, MonitorKind, MonitorStatus
from monitors.ping import record_ping
from monitors.probes import CheckResult
from monitors.scheduler import mark_late_heartbeats, record_result
from statuspages import services, setup
from statuspages.models import Component, ComponentStatus, Maintenance, StatusPage
from tests.factories import make_incident, make_layout, make_page, make_token, make_user

DOWN = CheckResult("down", None, "refused")


def active_window(page, *components) -> Maintenance:
    window = Maintenance.objects.create(
        page=page, title="Upgrade", scheduled_for=timezone.now() - timedelta(minutes=1),
        scheduled_until=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    window.components.add(*components)
    services.advance_maintenances()
    return window


def test_monitors_leave_maintenance_when_their_component_leaves_the_window_or_goes(db):
    page = make_page()
    layout = make_layout(page)
    window = active_window(page, layout["website"], layout["rest"])
    web, rest = layout["monitors"]["web"], layout["monitors"]["rest"]
    assert Monitor.objects.get(pk=web.pk).status == MonitorStatus.MAINTENANCE
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(make_user('responder'))}")
    edited = client.patch(
        f"/api/v1/status-pages/acme/maintenances/{window.public_id}",
        {"components": [layout["rest"].public_id]},
        format="json",
    )
    assert edited.status_code == 200
    assert Monitor.objects.get(pk=web.pk).status == MonitorStatus.PENDING
    assert Component.objects.get(pk=layout["website"].pk).status == ComponentStatus.OPERATIONAL
    admin = Client()
    admin.force_login(make_user("admin"))
    admin.post(f"/status-pages/acme/components/{layout['rest'].public_id}/delete/")
    assert Monitor.objects.get(pk=rest.pk).status == MonitorStatus.PENDING


def test_a_heartbeat_gets_a_full_period_after_maintenance(db):
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    job = Monitor.objects.create(name="job", kind=MonitorKind.HEARTBEAT, period_seconds=3600, grace_seconds=300)
    record_ping(job.ping_key, now=t0)
    monitor_services.begin_maintenance([job.pk], now=t0 + timedelta(minutes=30))
    monitor_services.end_maintenance([job.pk], now=t0 + timedelta(hours=3))
    assert mark_late_heartbeats(now=t0 + timedelta(hours=3, minutes=30)) == 0
    assert mark_late_heartbeats(now=t0 + timedelta(hours=4, minutes=6)) == 1
    job.refresh_from_db()
    assert job.status == MonitorStatus.DOWN
    assert job.periods.get(status="down").started_at == t0 + timedelta(hours=4, minutes=5)


def test_an_admin_edit_shows_at_once(db, django_capture_on_commit_callbacks):
    page = make_page()
    make_layout(page)
    visitor = Client()
    assert visitor.get("/status/acme/api/v2/status.json").status_code == 200
    admin = Client()
    admin.force_login(make_user("admin"))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            f"/admin/statuspages/statuspage/{page.pk}/change/",
            {
                "slug": "acme",
                "title": "Acme",
                "time_zone": "Etc/UTC",
                "footer_links": "[]",
                "description": "",
                "logo_url": "",
                "created_at_0": "2026-01-01",
                "created_at_1": "00:00:00",
                "updated_at_0": "2026-01-01",
                "updated_at_1": "00:00:00",
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert StatusPage.objects.get(pk=page.pk).is_public is False
    assert visitor.get("/status/acme/api/v2/status.json").status_code == 404


def test_odd_input_is_a_clean_answer_not_a_500(db, django_capture_on_commit_callbacks):
    page = make_page()
    layout = make_layout(page)
    client = Client()
    assert client.get("/status/acme/history/?month=0001-01").status_code == 404
    assert client.get("/status/acme/history/?month=1970-01").status_code == 200
    incident = make_incident(title="Bad\x0bbytes")
    services.publish_incident(page, incident, components=[layout["website"]], body="Line\x0cfeed")
    ET.fromstring(client.get("/status/acme/feed.atom").content)
    ET.fromstring(client.get("/status/acme/feed.rss").content)
    long_address = "a" * 250 + "@example.com"
    assert client.post("/status/acme/subscribe/", {"email": long_address}).status_code == 400
    assert client.get("/status/acme/unsubscribe/" + "x" * 43 + "/").status_code == 404
    assert client.head("/status/acme/").status_code == 200
    assert client.head("/status/acme/api/v2/summary.json").status_code == 200


def test_the_etag_is_the_digest_of_the_body(db):
    import hashlib

    make_layout(make_page())
    response = Client().get("/status/acme/api/v2/summary.json")
    assert response["ETag"] == '"' + hashlib.sha256(response.content).hexdigest()[:24] + '"'


def test_private_pages_need_a_role_and_a_new_password_signs_visitors_out(db, django_capture_on_commit_callbacks):
    page = make_page(slug="inside", is_public=False, raw_password="first")
    make_layout(page)
    nobody = Client()
    nobody.force_login(make_user(None))  # logged in, but without a role
    assert nobody.get("/status/inside/api/v2/status.json").status_code == 404
    visitor = Client()
    before = visitor.cookies.get("sessionid")
    visitor.post("/status/inside/access/", {"password": "first"})
    assert visitor.get("/status/inside/api/v2/status.json").status_code == 200
    assert visitor.cookies["sessionid"].value != getattr(before, "value", None)
    with django_capture_on_commit_callbacks(execute=True):
        setup.save_page(page, password="second")
    assert visitor.get("/status/inside/api/v2/status.json").status_code == 404


def test_a_postmortem_waits_for_the_resolution(db):
    page = make_page()
    link = services.publish_incident(page, make_incident(), body="Investigating.")
    with pytest.raises(services.StatusPageError):
        services.post_update(link, body="What happened", status="postmortem")


def test_deleting_a_monitor_hands_its_component_back(db, django_capture_on_commit_callbacks):
    page = make_page()
    layout = make_layout(page)
    with django_capture_on_commit_callbacks(execute=True):
        record_result(layout["monitors"]["web"].pk, DOWN)
    assert Component.objects.get(pk=layout["website"].pk).status == ComponentStatus.MAJOR
    with django_capture_on_commit_callbacks(execute=True):
        monitor_services.delete_monitor(layout["monitors"]["web"].pk)
    assert Component.objects.get(pk=layout["website"].pk).status == ComponentStatus.OPERATIONAL
