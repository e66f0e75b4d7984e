"""Row locks and unique keys hold when requests race (real parallel connections on PostgreSQL)."""

import itertools

import pytest
from django.db import connection
from rest_framework.test import APIClient

from incidents import services
from incidents.models import Incident, Status, TimelineEntry
from tests.factories import make_incident, make_token
from tests.helpers import race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="races need PostgreSQL; set DATABASE_URL"),
]


def test_identical_idempotent_creates_make_exactly_one_incident(responder):
    key = make_token(responder)
    body = {"title": "Payments failing", "service": "payments", "severity": "SEV1"}

    def create(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        response = client.post("/api/v1/incidents", body, format="json", HTTP_IDEMPOTENCY_KEY="race-1")
        return response.status_code, response.json()["id"]

    results = race(8, create)
    assert all(isinstance(r, tuple) for r in results), results
    assert sorted(status for status, _ in results) == [200] * 7 + [201]
    assert len({incident_id for _, incident_id in results}) == 1
    assert Incident.objects.count() == 1


def test_concurrent_transitions_cannot_both_win(responder):
    assert connection.vendor == "postgresql"
    for _ in range(5):
        incident = make_incident(by=responder, status=Status.ACKNOWLEDGED)
        targets = [Status.RESOLVED, Status.MITIGATED]

        def move(index, incident_id=incident.pk, targets=targets):
            return services.transition_incident(incident_id, to=targets[index], by=responder).status

        results = race(2, move)
        incident.refresh_from_db()
        changes = list(
            incident.timeline.filter(kind=TimelineEntry.Kind.STATUS_CHANGED).values_list("from_value", "to_value")
        )
        # The recorded moves form one legal chain ending in the stored status.
        for (_, previous_to), (next_from, _) in itertools.pairwise(changes):
            assert next_from == previous_to
        assert changes[-1][1] == incident.status
        assert changes[0] == ("OPEN", "ACKNOWLEDGED")
        refused = [r for r in results if isinstance(r, services.InvalidStatusTransition)]
        if results[0] == Status.RESOLVED and refused:
            # RESOLVED won first, so MITIGATED (a backwards move now) was refused...
            assert changes[1:] == [("ACKNOWLEDGED", "RESOLVED")]
        else:
            # ...or MITIGATED won first and RESOLVED followed from it.
            assert changes[1:] == [("ACKNOWLEDGED", "MITIGATED"), ("MITIGATED", "RESOLVED")]
        assert incident.status == Status.RESOLVED
