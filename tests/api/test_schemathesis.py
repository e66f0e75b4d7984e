"""Schemathesis against the whole API, in process: no operation answers 5xx, documented answers match the schema.

The schema is loaded from ``/api/schema/`` through the real WSGI application
(``tracepoint.wsgi.application``) with the test database, and every operation
is called as an admin (a Token header), so requests get past 401/403 into the
views. Generation is seeded and derandomized, and bounded, so the run is the
same every time and stays well under a minute.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from tests.factories import make_incident, make_layout, make_monitor, make_page, make_token, make_user

# Examples per operation and generation mode; ~90 operations. Raise it for a deeper probe, e.g.
# SCHEMATHESIS_MAX_EXAMPLES=100 make test PYTEST_ARGS=tests/api/test_schemathesis.py
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "6"))
SEED = 20261122

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {"deterministic": True, "database": "none", "max-examples": MAX_EXAMPLES},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        # The seeded page, so its nested operations (components, incidents, maintenance…) get past 404.
        "parameters": {"path.slug": "acme"},
    }
)
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _seed(admin) -> dict[str, dict[str, str]]:
    """One row of each kind, with the nullable fields null, so answers are checked against the schema.

    Returns the path parameters naming them, by path prefix: positive cases call
    the operations on these rows (random ids would almost only meet 404).
    """
    from events import digestion, keys
    from events.ingest import NewEvent, store_events
    from events.models import AlertRule, Event, Issue
    from monitors.models import MonitorKind
    from statuspages import services as pages
    from statuspages.models import Maintenance, Subscriber

    incident = make_incident(title="Checkout errors")  # no owner, no creator
    make_incident(title="Search slow", service="search", owner=admin, status="RESOLVED", by=admin)
    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    revoked = keys.rotate_key(project)
    keys.revoke_key(revoked)
    store_events(
        project,
        [
            NewEvent(
                event_id=uuid.uuid4(),
                event_type="ERROR",
                service="checkout",
                timestamp=timezone.now() - timedelta(minutes=5),
                message="ValueError: bad quantity",
                data={"exception": [{"type": "ValueError", "value": "bad quantity"}]},
            )
        ],
    )
    digestion.sweep_undigested(older_than_seconds=0)
    rule = AlertRule.objects.create(project=project, name="New issues", kind=AlertRule.Kind.NEW_ISSUE)
    monitor = make_monitor("nightly backup", kind=MonitorKind.HEARTBEAT, url="")
    page = make_page()
    layout = make_layout(page)
    link = pages.publish_incident(page, make_incident(title="API errors"), components=[layout["rest"]], body="Looking")
    pages.post_update(link, body="Found it.", status="identified")
    window = Maintenance.objects.create(
        page=page,
        title="Database upgrade",
        scheduled_for=timezone.now() + timedelta(days=1),
        scheduled_until=timezone.now() + timedelta(days=1, hours=1),
    )
    subscriber = Subscriber.objects.create(page=page, kind=Subscriber.Kind.EMAIL, email="sub@example.com")
    other = make_user("viewer", username="vera")
    pages_prefix = "/api/v1/status-pages/{slug}/"
    return {
        "/api/v1/incidents/": {"id": str(incident.pk)},
        "/api/v1/issues/": {"id": str(Issue.objects.get(project=project).pk)},
        "/api/v1/events/": {"id": str(Event.objects.get(project=project).pk)},
        "/api/v1/projects/": {"id": str(project.pk), "key_id": str(revoked.pk)},
        "/api/v1/alert-rules/": {"id": str(rule.pk)},
        "/api/v1/monitors/": {"id": str(monitor.pk)},
        "/api/v1/users/": {"id": str(other.pk)},
        "/api/v1/services/": {"service": "checkout"},
        pages_prefix + "components/": {"slug": "acme", "public_id": layout["rest"].public_id},
        pages_prefix + "groups/": {"slug": "acme", "public_id": layout["group"].public_id},
        pages_prefix + "incidents/": {"slug": "acme", "public_id": link.public_id},
        pages_prefix + "maintenances/": {"slug": "acme", "public_id": window.public_id},
        pages_prefix + "subscribers/": {"slug": "acme", "id": str(subscriber.pk)},
        "/api/v1/status-pages/": {"slug": "acme"},
    }


def _known(path: str, known: dict[str, dict[str, str]]) -> dict[str, str]:
    """The seeded row's path parameters for an operation's path (the longest matching prefix)."""
    for prefix in sorted(known, key=len, reverse=True):
        if path.startswith(prefix):
            return known[prefix]
    return {}


@pytest.fixture
def in_process_requests():
    """Requests through the WSGI app keep the test's connection (and transaction), as Django's test client does."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def seeded(db, settings, in_process_requests):
    # Writes are rate limited per user; here they are the point, not the limit.
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {name: "100000/min" for name in settings.TRACEPOINT["RATE_LIMITS"]},
    }
    admin = make_user("admin", username="ada")
    return {"Authorization": f"Token {make_token(admin)}"}, _seed(admin)


def _order(operation) -> tuple[int, int]:
    """Renaming the page (its slug) late and deleting last, innermost first: the seeded rows serve the rest."""
    method, page = operation.method.upper(), "/api/v1/status-pages/{slug}/"
    if method == "DELETE" and operation.path.startswith(page) and operation.path != page:
        return 1, 0
    if method in ("PUT", "PATCH") and operation.path == page:
        return 2, 0
    return (3, 0) if method == "DELETE" else (0, 0)


def _failures_of(operation, headers: dict, mode: GenerationMode, path_parameters: dict) -> list[str]:
    """Run one operation's generated cases; the failures, one line each (all of them, not only the first)."""
    failures: list[str] = []
    fixed = {name: value for name, value in path_parameters.items() if "{" + name + "}" in operation.path}

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,  # the same cases every run
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report what failed, quickly
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as exc:
            failures.append(f"{operation.label} [{mode.value}] {case.as_curl_command(headers=headers)}\n{exc}")

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (no parameters, no body): the positive cases cover it
        assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid case could be generated"
    return failures


def test_no_operation_answers_5xx_or_breaks_its_schema(seeded):
    from tracepoint.wsgi import application

    admin_headers, known = seeded
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG, headers=admin_headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 80, "the schema lost its operations"
    operations.sort(key=_order)
    failures = []
    for operation in operations:
        # Positive cases on the seeded rows; negative ones with generated (often invalid) path parameters.
        failures += _failures_of(operation, admin_headers, GenerationMode.POSITIVE, _known(operation.path, known))
        failures += _failures_of(operation, admin_headers, GenerationMode.NEGATIVE, {})
    assert not failures, f"{len(failures)} failing case(s):\n\n" + "\n\n".join(failures[:20])
