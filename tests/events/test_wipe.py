"""Deleting a project's events: admins only, in batches by a task, the project and later events kept;
members managed on the project page."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from events import digestion, ingest, retention, tasks
from events.ingest import NewEvent
from events.models import Event, Issue, Project, ReceivedEvent
from tests.factories import make_token, make_user
from tests.helpers import receive_sdk_event


def store(project, count: int, *, message: str = "boom", at=None) -> None:
    at = at or timezone.now() - timedelta(minutes=1)
    ingest.store_events(
        project,
        [
            NewEvent(event_id=uuid.uuid4(), event_type="ERROR", service="checkout", timestamp=at, message=message)
            for _ in range(count)
        ],
    )
    digestion.digest_pending()


def test_admins_wipe_events_in_batches_and_keep_the_project(project, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(retention, "WIPE_BATCH", 8)
    store(project, 20)
    store(project, 3, message="other error")
    assert Issue.objects.filter(project=project).exists()
    responder = APIClient()
    responder.credentials(HTTP_AUTHORIZATION=f"Token {make_token(make_user('responder'))}")
    assert responder.delete(f"/api/v1/projects/{project.pk}/events").status_code == 403
    admin = APIClient()
    admin.credentials(HTTP_AUTHORIZATION=f"Token {make_token(make_user('admin'))}")
    queued = []
    monkeypatch.setattr(tasks.wipe_events, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.delete(f"/api/v1/projects/{project.pk}/events")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    [(project_id, cutoff)] = queued
    store(project, 2, message="after the wipe", at=timezone.now() + timedelta(seconds=5))  # arrives later: kept
    Event.objects.filter(message="after the wipe").update(received_at=timezone.now() + timedelta(seconds=5))
    tasks.wipe_events(project_id, cutoff)
    assert Project.objects.filter(pk=project.pk).exists() and project.active_key() is not None
    assert list(Event.objects.filter(project=project).values_list("message", flat=True)) == ["after the wipe"] * 2
    remaining = Issue.objects.filter(project=project)
    assert remaining.count() == 1 and remaining.get().events.count() == 2  # only the issue of the later events


def test_the_page_asks_for_the_slug_before_wiping(project, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(tasks.wipe_events, "delay", lambda *args: queued.append(args))
    client = Client()
    client.force_login(make_user("admin"))
    client.post(f"/issues/projects/{project.pk}/events/delete/", {"confirm": "wrong"})
    assert queued == []
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/issues/projects/{project.pk}/events/delete/", {"confirm": project.slug})
    assert len(queued) == 1


@pytest.mark.django_db
def test_admins_add_and_remove_members_on_the_project_page(project):
    vera = make_user("viewer", username="vera")
    admin = Client()
    admin.force_login(make_user("admin"))
    page = admin.get(f"/issues/projects/{project.pk}/").content.decode()
    assert "Add a member" in page and "Delete all events" in page
    admin.post(f"/issues/projects/{project.pk}/members/", {"user": vera.pk})
    assert list(project.members.all()) == [vera]
    viewer = Client()
    viewer.force_login(vera)
    assert viewer.get(f"/issues/projects/{project.pk}/").status_code == 200
    assert "Delete all events" not in viewer.get(f"/issues/projects/{project.pk}/").content.decode()
    assert (
        viewer.post(f"/issues/projects/{project.pk}/members/", {"user": vera.pk, "action": "remove"}).status_code == 403
    )
    admin.post(f"/issues/projects/{project.pk}/members/", {"user": vera.pk, "action": "remove"})
    assert not project.members.exists()
    assert viewer.get(f"/issues/projects/{project.pk}/").status_code == 404


def test_wiping_also_drops_sdk_events_received_and_not_yet_digested(project):
    cutoff = timezone.now()
    receive_sdk_event(project, now=cutoff - timedelta(seconds=5))
    later = receive_sdk_event(project, now=cutoff + timedelta(seconds=5))

    while retention.wipe_events_batch(project.pk, cutoff):
        pass

    assert list(ReceivedEvent.objects.values_list("event_id", flat=True)) == [later]
