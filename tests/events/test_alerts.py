"""Alert rules: matching, cool-down deduplication, incidents, and the API."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from events import alerts, digestion, keys, lifecycle, tasks
from events.ingest import store_events
from events.models import AlertRule, AlertState, Issue, IssueIncident, IssueStatus
from incidents import services as incident_services
from incidents.models import Incident
from tests.factories import make_event
from tests.helpers import ingest
from tests.notifications.factories import make_email_channel
from tracepoint.notifications.models import Delivery

URL = "/api/v1/alert-rules"


def alerts_sent() -> list[Delivery]:
    return list(Delivery.objects.filter(topic="issue.alert").order_by("id"))


@pytest.fixture
def channel(db):
    return make_email_channel(topics=["issue.*"])


def rule(project, kind, **fields) -> AlertRule:
    made = AlertRule(project=project, name=fields.pop("name", f"{kind} rule"), kind=kind, **fields)
    made.full_clean()
    made.save()
    return made


def test_a_new_issue_rule_alerts_once_per_new_issue(project, channel):
    rule(project, AlertRule.Kind.NEW_ISSUE)
    now = timezone.now()
    ingest(project, make_event(at=now), now=now)
    issue = Issue.objects.get()
    assert alerts.evaluate([issue.pk], created=[issue.pk], now=now) == 1
    assert alerts.evaluate([issue.pk], created=[], now=now) == 0  # the next batch: not new any more
    [delivery] = alerts_sent()
    assert delivery.subject == "[Shop] new_issue rule: LookupError: Order 1 not found"
    assert delivery.payload["reason"] == "new issue"
    assert delivery.payload["issue"]["id"] == issue.pk and delivery.payload["issue"]["url"].endswith(f"/{issue.pk}/")
    assert "Why: new issue" in delivery.body_text


def test_digestion_queues_one_evaluation_per_batch_after_commit(
    project, channel, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.evaluate_alerts, "apply_async", lambda **kw: queued.append(kw["kwargs"]))
    now = timezone.now()
    store_events(project, [make_event(at=now), make_event(at=now, value="x", kind="KeyError")], now=now)
    with django_capture_on_commit_callbacks(execute=True):
        digestion.digest_pending(now=now)
    ids = sorted(Issue.objects.values_list("pk", flat=True))
    assert queued == [{"issue_ids": ids, "created": ids, "regressed": []}]


def test_a_regression_rule_alerts_when_a_resolved_issue_comes_back(project, channel, admin_user):
    rule(project, AlertRule.Kind.REGRESSION)
    now = timezone.now()
    ingest(project, make_event(at=now - timedelta(hours=1)), now=now)
    issue = Issue.objects.get()
    lifecycle.set_issue_status(issue.pk, status=IssueStatus.RESOLVED, by=admin_user, now=now - timedelta(minutes=30))
    ingest(project, make_event(at=now), now=now)
    assert alerts.evaluate([issue.pk], regressed=[issue.pk], now=now) == 1
    assert alerts_sent()[0].payload["reason"] == "regressed (1 times)"


def test_an_issue_threshold_fires_at_n_within_w_and_then_keeps_quiet_for_the_cooldown(project, channel):
    rule(project, AlertRule.Kind.ISSUE_THRESHOLD, threshold_count=5, window_minutes=10, cooldown_minutes=30)
    now = timezone.now()
    ingest(project, make_event(at=now - timedelta(minutes=20)), now=now)  # outside the window
    ingest(project, *[make_event(at=now - timedelta(minutes=m)) for m in range(4)], now=now)
    issue = Issue.objects.get()
    assert alerts.evaluate([issue.pk], now=now) == 0  # 4 in the window
    ingest(project, make_event(at=now), now=now)
    assert alerts.evaluate([issue.pk], now=now) == 1  # the 5th
    ingest(project, make_event(at=now), now=now)
    assert alerts.evaluate([issue.pk], now=now + timedelta(minutes=1)) == 0  # cooling down
    ingest(project, *[make_event(at=now + timedelta(minutes=31)) for _ in range(5)], now=now + timedelta(minutes=31))
    assert alerts.evaluate([issue.pk], now=now + timedelta(minutes=31)) == 1
    assert len(alerts_sent()) == 2
    assert AlertState.objects.get().fire_count == 2


def test_a_project_threshold_counts_every_issue(project, channel):
    rule(project, AlertRule.Kind.PROJECT_THRESHOLD, threshold_count=3, window_minutes=5)
    now = timezone.now()
    ingest(
        project,
        make_event(at=now),
        make_event(at=now, value="a", kind="KeyError"),
        make_event(at=now, kind="OSError"),
        now=now,
    )
    assert alerts.evaluate(Issue.objects.values_list("pk", flat=True), now=now) == 1
    [delivery] = alerts_sent()
    assert delivery.payload["issue"] is None
    assert delivery.payload["reason"].startswith("3 events of Shop in 5 min (≥ 3)")


def test_a_priority_rule_fires_for_unresolved_issues_at_or_above_p(project, channel):
    rule(project, AlertRule.Kind.PRIORITY, min_priority=60)
    now = timezone.now()
    ingest(project, make_event(at=now, kind="MemoryError", value="out of memory"), now=now)  # critical: 70
    ingest(project, make_event(at=now, value="Order 2 gone", kind="KeyError"), now=now)  # low: 15
    assert alerts.evaluate(Issue.objects.values_list("pk", flat=True), now=now) == 1
    assert alerts_sent()[0].payload["issue"]["title"] == "MemoryError: out of memory"
    assert "priority 70 ≥ 60" in alerts_sent()[0].payload["reason"]


def test_disabled_rules_and_other_projects_rules_stay_silent(project, channel):
    rule(project, AlertRule.Kind.NEW_ISSUE, enabled=False)
    other = keys.create_project(name="Other", slug="other", services=["hr"])
    rule(other, AlertRule.Kind.NEW_ISSUE)
    now = timezone.now()
    ingest(project, make_event(at=now), now=now)
    issue = Issue.objects.get()
    assert alerts.evaluate([issue.pk], created=[issue.pk], now=now) == 0


def test_a_rule_with_chosen_channels_uses_only_those(project, channel):
    chosen = make_email_channel(email_recipients="payments@example.com", topics=["incident.*"])
    made = rule(project, AlertRule.Kind.NEW_ISSUE)
    made.channels.set([chosen])
    now = timezone.now()
    ingest(project, make_event(at=now), now=now)
    issue = Issue.objects.get()
    alerts.evaluate([issue.pk], created=[issue.pk], now=now)
    assert [d.channel_id for d in alerts_sent()] == [chosen.pk]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a race needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_one_alert(project, channel):
    rule(project, AlertRule.Kind.ISSUE_THRESHOLD, threshold_count=1, window_minutes=5)
    now = timezone.now()
    ingest(project, make_event(at=now), now=now)
    issue = Issue.objects.get()
    start, results = threading.Barrier(4), []

    def worker():
        try:
            start.wait()
            results.append(alerts.evaluate([issue.pk], now=now))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 0, 0, 1]
    assert len(alerts_sent()) == 1


def test_a_rule_can_open_one_incident_linked_to_the_issue_and_resolving_it_resolves_the_issue(
    project, channel, admin_user, client, viewer, django_capture_on_commit_callbacks
):
    rule(
        project,
        AlertRule.Kind.ISSUE_THRESHOLD,
        threshold_count=1,
        window_minutes=5,
        cooldown_minutes=1,
        open_incident=True,
        incident_severity="SEV2",
    )
    now = timezone.now()
    ingest(project, make_event(at=now), now=now)
    issue = Issue.objects.get()
    alerts.evaluate([issue.pk], now=now)
    alerts.evaluate([issue.pk], now=now + timedelta(minutes=2))  # fires again, the incident is still open
    incident = Incident.objects.get()
    assert (incident.severity, incident.title, incident.service) == ("SEV2", issue.title, "checkout")
    assert IssueIncident.objects.get().incident_id == incident.pk
    assert incident.timeline.first().actor_name == "alert rule issue_threshold rule"
    assert len(alerts_sent()) == 2 and alerts_sent()[0].payload["incident"] == str(incident.pk)

    project.members.add(viewer)
    client.force_login(viewer)
    assert f"/incidents/{incident.pk}/" in client.get(f"/issues/{issue.pk}/").content.decode()
    assert f"/issues/{issue.pk}/" in client.get(f"/incidents/{incident.pk}/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        incident_services.transition_incident(incident.pk, to="RESOLVED", by=admin_user)
    issue.refresh_from_db()
    assert issue.status == IssueStatus.RESOLVED and issue.resolved_by == admin_user


# --- API ---------------------------------------------------------------------------------


def test_responders_create_rules_with_validation_per_kind(client, responder, project, channel):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(responder)
    project.members.add(responder)
    response = api.post(
        URL,
        {
            "project": project.pk,
            "name": "Bursts",
            "kind": "issue_threshold",
            "threshold_count": 50,
            "window_minutes": 5,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["cooldown_minutes"] == 60
    bad = api.post(URL, {"project": project.pk, "name": "x", "kind": "issue_threshold"}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["details"]) == {"threshold_count", "window_minutes"}
    wrong = api.post(URL, {"project": project.pk, "name": "x", "kind": "new_issue", "min_priority": 5}, format="json")
    assert wrong.json()["details"] == {"min_priority": ["Only priority rules take P."]}
    rule_id = response.json()["id"]
    patched = api.patch(f"{URL}/{rule_id}", {"window_minutes": 500}, format="json")
    assert patched.status_code == 400 and "window_minutes" in patched.json()["details"]
    assert api.delete(f"{URL}/{rule_id}").status_code == 204


def test_viewers_read_and_non_members_see_nothing(viewer_client, viewer, responder, project):
    from rest_framework.test import APIClient

    rule(project, AlertRule.Kind.NEW_ISSUE)
    assert viewer_client.get(URL).json()["count"] == 0  # not a member
    project.members.add(viewer)
    assert viewer_client.get(URL).json()["count"] == 1
    assert viewer_client.post(URL, {"project": project.pk, "name": "x", "kind": "new_issue"}).status_code == 403
    outsider = APIClient()
    outsider.force_authenticate(responder)  # a responder, but not a member
    refused = outsider.post(URL, {"project": project.pk, "name": "x", "kind": "new_issue"}, format="json")
    assert refused.status_code == 400 and refused.json()["details"] == {"project": ["No such project."]}


def test_anonymous_is_401(anonymous_client):
    assert anonymous_client.get(URL).status_code == 401


# --- project page ---------------------------------------------------------------------------


def test_responders_add_and_delete_rules_on_the_project_page(client, responder, project, channel):
    project.members.add(responder)
    client.force_login(responder)
    url = f"/issues/projects/{project.pk}/alert-rules/"
    form = {
        "alert-name": "Checkout <bursts>",
        "alert-kind": "issue_threshold",
        "alert-threshold_count": "20",
        "alert-window_minutes": "5",
        "alert-cooldown_minutes": "30",
        "alert-channels": [channel.pk],
        "alert-incident_severity": "SEV3",
    }
    response = client.post(url, form)
    assert response.status_code == 302
    made = AlertRule.objects.get()
    assert (made.project, made.threshold_count, list(made.channels.all())) == (project, 20, [channel])
    page = client.get(f"/issues/projects/{project.pk}/").content.decode()
    assert "Checkout &lt;bursts&gt;" in page and "N=20, W=5 min" in page

    bad = client.post(url, {**form, "alert-window_minutes": ""})
    assert bad.status_code == 400
    assert "Threshold rules need W between 1 and 120 minutes." in bad.content.decode()

    assert client.post(f"{url}{made.pk}/delete/").status_code == 302
    assert not AlertRule.objects.exists()


def test_viewers_cannot_change_rules_and_non_members_cannot_see_the_project(client, viewer, responder, project):
    made = rule(project, AlertRule.Kind.NEW_ISSUE)
    project.members.add(viewer)
    client.force_login(viewer)
    assert client.post(f"/issues/projects/{project.pk}/alert-rules/", {"alert-name": "x"}).status_code == 403
    assert client.post(f"/issues/projects/{project.pk}/alert-rules/{made.pk}/delete/").status_code == 403
    client.force_login(responder)  # a responder, but not a member
    assert client.post(f"/issues/projects/{project.pk}/alert-rules/{made.pk}/delete/").status_code == 404
    assert AlertRule.objects.exists()


def test_resolving_the_incident_through_the_api_resolves_the_issue_too(
    project, channel, admin_user, admin_client, django_capture_on_commit_callbacks
):
    rule(project, AlertRule.Kind.NEW_ISSUE, open_incident=True, incident_severity="SEV3")
    now = timezone.now()
    ingest(project, make_event(at=now), now=now)
    issue = Issue.objects.get()
    alerts.evaluate([issue.pk], created=[issue.pk], now=now)
    incident = Incident.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.patch(f"/api/v1/incidents/{incident.pk}", {"status": "RESOLVED"}, format="json")
    assert response.status_code == 200
    issue.refresh_from_db()
    assert issue.status == IssueStatus.RESOLVED


def test_threshold_rules_leave_resolved_and_ignored_issues_alone(project, channel, admin_user):
    rule(project, AlertRule.Kind.ISSUE_THRESHOLD, threshold_count=1, window_minutes=5)
    now = timezone.now()
    ingest(project, make_event(at=now), now=now)
    issue = Issue.objects.get()
    lifecycle.set_issue_status(issue.pk, status=IssueStatus.IGNORED, by=admin_user, now=now)
    assert alerts.evaluate([issue.pk], now=now) == 0
