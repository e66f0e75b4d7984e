"""Who may reach what, for every URL of the URL conf (Django admin aside, which guards itself).

Every named URL must appear in ACCESS with the lowest role that may read it (GET) and the lowest that
may change something through it (POST, PATCH or DELETE): a new endpoint that is not listed fails
``test_every_url_is_in_the_access_table``, so none can escape the matrix. Each URL is then called
with placeholder arguments by anonymous, a user without a role, a viewer, a responder and an admin:
below the needed role the answer must be 401 (API, anonymous), a redirect to the login (pages,
anonymous) or 403; from the needed role on it must be anything else (the placeholder objects do not
exist, so 404 is a fine answer there). Membership (viewers see only their projects) is checked with
real objects in ``test_viewers_see_only_the_projects_they_are_members_of``.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.factories import make_user

PUBLIC, NONE, VIEWER, RESPONDER, ADMIN = "public", "none", "viewer", "responder", "admin"
RANK = {PUBLIC: 0, NONE: 1, VIEWER: 2, RESPONDER: 3, ADMIN: 4}
NEVER = "never"  # no method changes anything here (read-only URL)

# name: (lowest role to read, lowest role to write)
ACCESS = {
    # probes, pings, ingest, login, public status pages: anonymous by design (DESIGN.md)
    "health": (PUBLIC, NEVER),
    "ready": (PUBLIC, NEVER),
    "metrics": (PUBLIC, NEVER),  # by network or token (tests/test_metrics.py); the test client is 127.0.0.1
    "ping": (PUBLIC, PUBLIC),
    "ping-action": (PUBLIC, PUBLIC),
    "sentry-envelope": (PUBLIC, PUBLIC),  # the project key is the credential
    "intake:alertmanager": (PUBLIC, PUBLIC),  # the integration token is the credential
    "intake:alertmanager-token": (PUBLIC, PUBLIC),
    "intake:grafana": (PUBLIC, PUBLIC),
    "intake:grafana-token": (PUBLIC, PUBLIC),
    "intake:generic": (PUBLIC, PUBLIC),
    "intake:generic-token": (PUBLIC, PUBLIC),
    "intake:events-v2-enqueue": (PUBLIC, PUBLIC),  # the routing key in the body is the credential
    "intake:events-v2-change-enqueue": (PUBLIC, PUBLIC),
    "sentry-store": (PUBLIC, PUBLIC),
    "login": (PUBLIC, PUBLIC),
    "admin-login": (PUBLIC, PUBLIC),  # a redirect to the login page
    "logout": (PUBLIC, PUBLIC),
    "v1:auth-token": (PUBLIC, PUBLIC),  # username and password are the credential
    "accounts:invitation": (PUBLIC, PUBLIC),  # the one-time token is the credential
    "schema": (PUBLIC, NEVER),
    "api-docs": (PUBLIC, NEVER),
    **{
        f"statuspages-public:{name}": (PUBLIC, PUBLIC)
        for name in (
            "page",
            "logo",
            "history",
            "incident",
            "maintenance",
            "access",
            "subscribe",
            "confirm",
            "unsubscribe",
            "feed-atom",
            "feed-rss",
            "api",
            "badge",
            "component-badge",
        )
    },
    # one's own account
    "accounts:profile": (NONE, NONE),
    "accounts:token-create": (NONE, NONE),
    "accounts:token-regenerate": (NONE, NONE),
    "accounts:token-revoke": (NONE, NONE),
    "v1:user-me": (NONE, NEVER),
    "oncall:contact-methods": (NONE, NEVER),  # one's own contact methods and notification rules
    "oncall:contact-method-create": (NONE, NONE),
    "oncall:contact-method-use-email": (NONE, NONE),
    "oncall:contact-method-edit": (NONE, NONE),
    "oncall:contact-method-test": (NONE, NONE),
    "oncall:contact-method-delete": (NONE, NONE),
    "oncall:notification-rule-create": (NONE, NONE),
    "oncall:notification-rule-delete": (NONE, NONE),
    "oncall:index": (VIEWER, NEVER),  # teams, their schedules (who is on call now, next) and policies
    "oncall:schedule-detail": (VIEWER, NEVER),  # a schedule's 14-day timeline, overrides, iCal address
    "oncall:override-create": (RESPONDER, RESPONDER),  # POST only (a GET is 405): responders add overrides
    "oncall:override-update": (RESPONDER, RESPONDER),  # POST only (a GET is 405): responders change overrides
    "oncall:override-delete": (RESPONDER, RESPONDER),  # POST only (a GET is 405): responders delete overrides
    "oncall:schedule-feed": (PUBLIC, NEVER),  # the secret token in the address is the credential (calendar apps)
    "oncall:user-feed": (PUBLIC, NEVER),  # same: one person's shifts, token per user
    "oncall:schedule-feed-rotate": (ADMIN, ADMIN),  # POST only: a GET is 405 for admins
    "oncall:me": (NONE, NEVER),  # one's own shifts, open pages, contact summary and iCal address
    "oncall:user-feed-rotate": (NONE, NONE),  # POST only, one's own feed: a GET is 405
    "oncall:page-acknowledge": (NONE, NONE),
    "oncall:incident-escalate": (RESPONDER, RESPONDER),  # POST only: the incident page's paging panel
    "oncall:incident-reassign": (
        RESPONDER,
        RESPONDER,
    ),  # POST only  # POST only, one's own page (another user's is a 404)
    "oncall:policies": (VIEWER, NEVER),  # escalation policies by team
    "oncall:policy-detail": (VIEWER, NEVER),
    "oncall:policy-create": (ADMIN, ADMIN),  # policies are set-up: the form is for admins
    "oncall:policy-edit": (ADMIN, ADMIN),
    "oncall:policy-delete": (ADMIN, ADMIN),  # GET asks to confirm, POST deletes
    # users: admins
    "accounts:users": (ADMIN, ADMIN),
    "accounts:user-edit": (ADMIN, ADMIN),
    "accounts:user-invite": (ADMIN, ADMIN),
    "v1:user-list": (ADMIN, ADMIN),
    "v1:user-detail": (ADMIN, ADMIN),
    # the dashboard
    "overview": (VIEWER, NEVER),
    "incidents:index": (VIEWER, NEVER),
    "incidents:create": (RESPONDER, RESPONDER),
    "incidents:live": (VIEWER, NEVER),
    "incidents:detail": (VIEWER, NEVER),
    "incidents:transition": (RESPONDER, RESPONDER),
    "incidents:reopen": (RESPONDER, RESPONDER),
    "incidents:comment": (RESPONDER, RESPONDER),
    "incidents:delete": (ADMIN, ADMIN),
    "incidents:action-link": (PUBLIC, PUBLIC),  # the signed, single-use token is the credential
    "events:index": (VIEWER, NEVER),
    "events:live": (VIEWER, NEVER),
    "events:detail": (VIEWER, NEVER),
    "events:event": (VIEWER, NEVER),  # an event's page: /issues/<issue pk>/events/<event pk>/
    "events:assign": (RESPONDER, RESPONDER),
    "events:comment": (RESPONDER, RESPONDER),
    "events:open_incident": (RESPONDER, RESPONDER),
    "v1:issue-comments": (VIEWER, RESPONDER),  # GET lists the thread, POST adds a comment
    "v1:issue-incident": (VIEWER, RESPONDER),  # POST only; a viewer's GET is 405 (not 401/403), a no-role GET 403
    "events:status": (RESPONDER, RESPONDER),
    "events:service_timeline": (VIEWER, NEVER),
    "events:projects": (VIEWER, NEVER),
    "events:project_create": (ADMIN, ADMIN),
    "events:project": (VIEWER, NEVER),
    "events:key_rotate": (ADMIN, ADMIN),
    "events:members": (ADMIN, ADMIN),
    "events:project_quota": (ADMIN, ADMIN),
    "events:wipe_events": (ADMIN, ADMIN),
    "v1:project-wipe-events": (VIEWER, ADMIN),  # DELETE only: a GET is 405 for readers
    "events:key_revoke": (ADMIN, ADMIN),
    "events:daily_summary_switch": (VIEWER, VIEWER),  # one's own daily summary email, from the profile page
    "events:alert_rule_create": (RESPONDER, RESPONDER),
    "events:alert_rule_delete": (RESPONDER, RESPONDER),
    "monitors:index": (VIEWER, NEVER),
    "monitors:create": (RESPONDER, RESPONDER),
    "monitors:detail": (VIEWER, NEVER),
    "monitors:edit": (RESPONDER, RESPONDER),
    "monitors:pause": (RESPONDER, RESPONDER),
    "monitors:resume": (RESPONDER, RESPONDER),
    "monitors:check_now": (RESPONDER, RESPONDER),
    "monitors:test-draft": (RESPONDER, RESPONDER),  # POST only ("Test now" on the form): a GET is 405 for responders
    "monitors:cron-preview": (RESPONDER, NEVER),  # GET fragment of the heartbeat form; POST is 405
    "alerts:list": (VIEWER, NEVER),
    "alerts:detail": (VIEWER, NEVER),
    "alerts:payload": (VIEWER, NEVER),
    "alerts:integrations": (VIEWER, NEVER),
    "alerts:integration": (VIEWER, NEVER),
    "alerts:integration-create": (ADMIN, ADMIN),
    "alerts:integration-edit": (ADMIN, ADMIN),
    "alerts:integration-token": (ADMIN, NEVER),  # shows a new token once (GET only)
    "alerts:integration-rotate": (ADMIN, ADMIN),
    "alerts:integration-active": (ADMIN, ADMIN),  # POST only: a GET is 405 for admins
    "statuspages:index": (VIEWER, NEVER),  # pages are created at statuspages:new (POST here is 405)
    "statuspages:new": (ADMIN, ADMIN),
    "statuspages:setup-components": (ADMIN, ADMIN),
    "statuspages:setup-preview": (ADMIN, NEVER),  # GET only: a POST is 405 for admins, 403 below
    "statuspages:preview": (VIEWER, NEVER),  # the public template rendered for the team (private pages too)
    "statuspages:drafts": (VIEWER, NEVER),  # the incident page's status-page panel (htmx refresh); GET only
    "statuspages:publish-draft": (RESPONDER, RESPONDER),  # POST only: a GET is 405 for responders
    "statuspages:post-draft-update": (RESPONDER, RESPONDER),  # POST only: a GET is 405 for responders
    "statuspages:detail": (VIEWER, NEVER),
    "statuspages:edit": (ADMIN, ADMIN),
    "statuspages:add-component": (ADMIN, ADMIN),
    "statuspages:add-group": (ADMIN, ADMIN),
    "statuspages:delete-component": (ADMIN, ADMIN),
    "statuspages:component-status": (RESPONDER, RESPONDER),
    "statuspages:add-maintenance": (RESPONDER, RESPONDER),
    "statuspages:complete-maintenance": (RESPONDER, RESPONDER),
    "statuspages:publish": (RESPONDER, RESPONDER),
    "statuspages:post-update": (RESPONDER, RESPONDER),
    # notification channels: everyone reads (without secrets), admins change
    "channels:index": (VIEWER, NEVER),
    "channels:create": (ADMIN, ADMIN),
    "channels:edit": (ADMIN, ADMIN),
    "channels:toggle": (ADMIN, ADMIN),
    "channels:test": (ADMIN, ADMIN),
    "channels:delete": (ADMIN, ADMIN),
    # the API
    "v1:project-stream": (VIEWER, NEVER),
    "v1:incident-list": (VIEWER, RESPONDER),
    "v1:incident-stats": (VIEWER, NEVER),
    "v1:incident-detail": (VIEWER, RESPONDER),
    "v1:incident-change-status": (VIEWER, RESPONDER),  # POST only: a GET is 405 for readers
    "v1:incident-comments": (VIEWER, RESPONDER),
    "v1:incident-reopen": (VIEWER, RESPONDER),  # POST only: a GET is 405 for readers
    "v1:incident-timeline": (VIEWER, NEVER),
    "v1:alert-list": (VIEWER, NEVER),
    "v1:alert-detail": (VIEWER, NEVER),
    "v1:team-list": (VIEWER, ADMIN),
    "v1:team-detail": (VIEWER, ADMIN),
    "v1:schedule-list": (VIEWER, ADMIN),
    "v1:schedule-detail": (VIEWER, ADMIN),
    "v1:schedule-oncall": (VIEWER, NEVER),
    "v1:escalationpolicy-list": (VIEWER, ADMIN),
    "v1:escalationpolicy-detail": (VIEWER, ADMIN),
    "v1:incident-pages": (VIEWER, NEVER),  # read-only: POST/PATCH/DELETE are 405 for every role
    "v1:schedule-shifts": (VIEWER, NEVER),
    "v1:schedule-layer-list": (VIEWER, ADMIN),
    "v1:schedule-layer-detail": (VIEWER, ADMIN),
    "v1:schedule-override-list": (VIEWER, RESPONDER),  # responders create (and delete) overrides: swaps
    "v1:schedule-override-detail": (VIEWER, RESPONDER),  # responders change and delete overrides
    "v1:event-list": (VIEWER, RESPONDER),
    "v1:event-detail": (VIEWER, NEVER),
    "v1:issue-list": (VIEWER, NEVER),
    "v1:issue-needs-attention": (VIEWER, NEVER),
    "v1:issue-detail": (VIEWER, RESPONDER),
    "v1:issue-activity": (VIEWER, NEVER),
    "v1:issue-events": (VIEWER, NEVER),
    "v1:project-list": (VIEWER, ADMIN),
    "v1:project-detail": (VIEWER, ADMIN),
    "v1:project-revoke-key": (VIEWER, ADMIN),  # POST only: a GET is 405 for readers
    "v1:project-rotate-key": (VIEWER, ADMIN),  # POST only: a GET is 405 for readers
    "v1:alert-rule-list": (VIEWER, RESPONDER),
    "v1:alert-rule-detail": (VIEWER, RESPONDER),
    "v1:service-timeline": (VIEWER, NEVER),
    "v1:monitor-list": (VIEWER, RESPONDER),
    "v1:monitor-detail": (VIEWER, RESPONDER),
    "v1:monitor-check-now": (VIEWER, RESPONDER),  # POST only: a GET is 405 for readers
    "v1:monitor-pause": (VIEWER, RESPONDER),  # POST only: a GET is 405 for readers
    "v1:monitor-resume": (VIEWER, RESPONDER),  # POST only: a GET is 405 for readers
    "v1:monitor-results": (VIEWER, NEVER),
    "v1:monitor-uptime": (VIEWER, NEVER),
    "v1:status-page-list": (VIEWER, ADMIN),
    "v1:status-page-detail": (VIEWER, ADMIN),
    "v1:status-page-timeline": (VIEWER, NEVER),
    "v1:status-page-group-list": (VIEWER, ADMIN),
    "v1:status-page-group-detail": (VIEWER, ADMIN),
    "v1:status-page-component-list": (VIEWER, ADMIN),
    "v1:status-page-component-detail": (VIEWER, ADMIN),
    "v1:status-page-component-set-status": (VIEWER, RESPONDER),  # POST only: a GET is 405 for readers
    "v1:status-page-incident-list": (VIEWER, RESPONDER),
    "v1:status-page-incident-detail": (VIEWER, NEVER),
    "v1:status-page-incident-updates": (VIEWER, RESPONDER),  # POST only: a GET is 405 for readers
    "v1:status-page-maintenance-list": (VIEWER, RESPONDER),
    "v1:status-page-maintenance-detail": (VIEWER, RESPONDER),
    "v1:status-page-maintenance-complete": (VIEWER, RESPONDER),  # POST only: a GET is 405 for readers
    "v1:status-page-subscriber-list": (ADMIN, ADMIN),
    "v1:status-page-subscriber-detail": (ADMIN, ADMIN),
}

# The request itself carries the credential (a project key, a ping key, a password): their own tests
# cover it; here only reads are checked.
CREDENTIAL_IN_REQUEST = {
    "login", "logout", "admin-login", "v1:auth-token", "sentry-envelope", "sentry-store", "ping", "ping-action",
    "v1:event-list",  # POST is native ingest with a project key
    "intake:alertmanager", "intake:alertmanager-token",
    "intake:grafana", "intake:grafana-token", "intake:generic", "intake:generic-token",
    "intake:events-v2-enqueue", "intake:events-v2-change-enqueue",
}  # fmt: skip

ASGI_ONLY = {"events:live", "incidents:live", "v1:project-stream"}

PLACEHOLDERS = {
    "pk": 999999, "project_id": 999999, "key_id": 999999, "key_pk": 999999, "rule_pk": 999999,
    "slug": "nope", "public_id": "zzzzzzzzzzzz", "component": "zzzzzzzzzzzz", "service": "svc",
    "token": "x" * 30, "uidb64": "MQ", "resource": "summary.json", "action": "start", "name": "pause",
    "schedule_pk": 999999, "event_pk": 999999,
}  # fmt: skip
UUID_ARGS = {"key", "incident_pk"}


def named_urls(patterns=None, namespace: str | None = None):
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue
            inner = (
                entry.namespace if not namespace else f"{namespace}:{entry.namespace}" if entry.namespace else namespace
            )
            yield from named_urls(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield (f"{namespace}:{entry.name}" if namespace else entry.name), entry


def url_for(name: str, pattern: URLPattern) -> str:
    groups = list(pattern.pattern.regex.groupindex)
    kwargs = {}
    for group in groups:
        if group in UUID_ARGS or (
            group == "pk" and name.startswith(("incidents:", "v1:incident-", "oncall:incident-"))
        ):
            kwargs[group] = uuid.uuid4()
        else:
            kwargs[group] = PLACEHOLDERS[group]
    return reverse(name, kwargs=kwargs)


def test_every_url_is_in_the_access_table():
    names = {name for name, _ in named_urls()}
    assert sorted(names - set(ACCESS)) == [], "new URLs: say who may read and write them in ACCESS"
    assert sorted(set(ACCESS) - names) == [], "ACCESS lists URLs that are gone"


@pytest.fixture
def clients(db) -> dict[str, Client]:
    found = {PUBLIC: Client()}
    for role in (NONE, VIEWER, RESPONDER, ADMIN):
        client = Client()
        client.force_login(make_user(None if role == NONE else role))
        found[role] = client
    return found


def _denied(response, *, role: str, api: bool) -> bool:
    if role == PUBLIC:
        if api:
            return response.status_code == 401
        return response.status_code in (401, 403) or (
            response.status_code == 302 and "/login/" in response.get("Location", "")
        )
    return response.status_code == 403


def _call(client: Client, method: str, url: str):
    if method == "get":
        return client.get(url)
    return getattr(client, method)(url, data="{}", content_type="application/json")


@pytest.mark.parametrize("name", sorted(ACCESS))
def test_each_role_gets_what_the_table_says(clients, name):
    pattern = dict(named_urls())[name]
    url = url_for(name, pattern)
    api = url.startswith("/api/v1/")
    read, write = ACCESS[name]
    if name == "ready":
        from tracepoint.tasks import record_heartbeat

        record_heartbeat()  # without a worker's heartbeat /ready is a (correct) 503
    for role, client in clients.items():
        response = _call(client, "get", url)
        if RANK[role] < RANK[read]:
            assert _denied(response, role=role, api=api), f"{role} GET {url}: {response.status_code}"
        else:
            assert response.status_code not in (401, 403), f"{role} GET {url}: {response.status_code}"
        # Streams answer 503 under WSGI (the test client): the ASGI stream service serves them.
        if not (name in ASGI_ONLY and response.status_code == 503):
            assert response.status_code < 500, f"{role} GET {url}: {response.status_code}"
        if name in CREDENTIAL_IN_REQUEST:
            continue
        method = "patch" if api and ("detail" in name) else "post"
        response = _call(client, method, url)
        if write == NEVER:  # nothing to change here: a refusal for everyone (the API checks the role first)
            if RANK[role] >= RANK[read]:
                assert response.status_code in (403, 404, 405), f"{role} {method} {url}: {response.status_code}"
            continue
        if RANK[role] < RANK[write]:
            assert _denied(response, role=role, api=api), f"{role} {method} {url}: {response.status_code}"
        else:
            assert response.status_code not in (401, 403), f"{role} {method} {url}: {response.status_code}"


# --- membership: viewers see the projects they are members of, and nothing of the others ---------------

# Every URL that shows a project's data is checked here with a member and a non-member.
MEMBERSHIP = {
    "v1:project-detail": lambda o: f"/api/v1/projects/{o['project'].pk}",
    "v1:issue-detail": lambda o: f"/api/v1/issues/{o['issue'].pk}",
    "v1:issue-activity": lambda o: f"/api/v1/issues/{o['issue'].pk}/activity",
    "v1:issue-events": lambda o: f"/api/v1/issues/{o['issue'].pk}/events",
    "v1:event-detail": lambda o: f"/api/v1/events/{o['event'].pk}",
    "v1:alert-rule-detail": lambda o: f"/api/v1/alert-rules/{o['rule'].pk}",
    "events:detail": lambda o: f"/issues/{o['issue'].pk}/",
    "events:event": lambda o: f"/issues/{o['issue'].pk}/events/{o['event'].pk}/",
    "v1:issue-comments": lambda o: f"/api/v1/issues/{o['issue'].pk}/comments",
    "events:project": lambda o: f"/issues/projects/{o['project'].pk}/",
}
# Lists: the member sees the item, the non-member an empty list.
MEMBERSHIP_LISTS = {
    "v1:project-list": ("/api/v1/projects", "project"),
    "v1:issue-list": ("/api/v1/issues", "issue"),
    "v1:event-list": ("/api/v1/events", "event"),
    "v1:alert-rule-list": ("/api/v1/alert-rules", "rule"),
    "v1:issue-needs-attention": ("/api/v1/issues/needs-attention", "issue"),
}
# Project data reached otherwise: streams (ASGI, tests/events/test_stream.py), the service timeline
# (filtered by membership, tests/events/test_timeline.py), writes (admins or members with a role), the
# daily summary switch (one's own setting; the email lists only one's projects, test_daily_summary.py).
MEMBERSHIP_ELSEWHERE = {
    "v1:project-stream", "events:live", "v1:service-timeline", "events:service_timeline", "events:index",
    "events:projects", "events:status", "events:project_create", "events:key_rotate", "events:key_revoke",
    "events:alert_rule_create", "events:alert_rule_delete", "v1:project-revoke-key", "v1:project-rotate-key",
    "events:members", "events:wipe_events", "v1:project-wipe-events", "events:project_quota",
    "sentry-envelope", "sentry-store", "events:daily_summary_switch",
    # Issue workflow writes: membership in tests/events/test_issue_workflow.py and test_api_issue_workflow.py.
    "events:assign", "events:comment", "events:open_incident", "v1:issue-incident",
    # Write-only intake with the routing key as credential (tests/intake/test_events_v2.py); no project data read.
    "intake:events-v2-enqueue", "intake:events-v2-change-enqueue",
}  # fmt: skip


def test_every_project_url_is_in_the_membership_matrix():
    project_urls = {
        name
        for name, _ in named_urls()
        if any(word in name for word in ("project", "issue", "event", "alert-rule", "alert_rule", "events:"))
    }
    unchecked = project_urls - set(MEMBERSHIP) - set(MEMBERSHIP_LISTS) - MEMBERSHIP_ELSEWHERE
    assert sorted(unchecked) == [], "project data URLs must say how membership is checked"


@pytest.fixture
def project_data(db):
    from datetime import timedelta

    from django.utils import timezone

    from events import digestion, keys
    from events.alerts import AlertRule
    from events.ingest import NewEvent, store_events
    from events.models import Event, Issue

    member = make_user("viewer", username="member")
    outsider = make_user("viewer", username="outsider")
    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    project.members.add(member)
    now = timezone.now() - timedelta(minutes=5)
    store_events(
        project,
        [NewEvent(event_id=uuid.uuid4(), event_type="ERROR", service="checkout", timestamp=now, message="boom")],
    )
    digestion.digest_pending()
    rule = AlertRule.objects.create(project=project, name="new issues", kind="new_issue")
    return {
        "member": member,
        "outsider": outsider,
        "project": project,
        "event": Event.objects.get(project=project),
        "issue": Issue.objects.get(project=project),
        "rule": rule,
    }


@pytest.mark.parametrize("name", sorted(MEMBERSHIP))
def test_viewers_see_only_the_projects_they_are_members_of(project_data, name):
    url = MEMBERSHIP[name](project_data)
    member, outsider = Client(), Client()
    member.force_login(project_data["member"])
    outsider.force_login(project_data["outsider"])
    assert member.get(url).status_code == 200, url
    assert outsider.get(url).status_code == 404, url


@pytest.mark.parametrize("name", sorted(MEMBERSHIP_LISTS))
def test_lists_hold_only_the_members_projects(project_data, name):
    url, key = MEMBERSHIP_LISTS[name]
    member, outsider = Client(), Client()
    member.force_login(project_data["member"])
    outsider.force_login(project_data["outsider"])
    wanted = project_data[key].pk
    for client, expected in ((member, True), (outsider, False)):
        body = client.get(url).json()
        items = body["results"] if isinstance(body, dict) and "results" in body else body
        assert any(item.get("id") == wanted for item in items) is expected, (url, expected)


def test_the_overview_counts_only_the_members_projects(project_data):
    member, outsider = Client(), Client()
    member.force_login(project_data["member"])
    outsider.force_login(project_data["outsider"])
    title = project_data["issue"].title
    assert title in member.get("/").content.decode()
    page = outsider.get("/").content.decode()
    assert title not in page
