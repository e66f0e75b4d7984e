"""The state machine, table-driven: forward moves only, same status a no-op, reopen explicit."""

import pytest

from incidents import services
from incidents.models import Status, TimelineEntry
from tests.factories import make_incident

pytestmark = pytest.mark.django_db

OP, AC, MI, RE = Status.OPEN, Status.ACKNOWLEDGED, Status.MITIGATED, Status.RESOLVED
TABLE = [
    # from, to, outcome
    (OP, AC, "moves"),
    (OP, MI, "moves"),
    (OP, RE, "moves"),
    (OP, OP, "no-op"),
    (AC, MI, "moves"),
    (AC, RE, "moves"),
    (AC, AC, "no-op"),
    (AC, OP, "refused"),
    (MI, RE, "moves"),
    (MI, MI, "no-op"),
    (MI, OP, "refused"),
    (MI, AC, "refused"),
    (RE, RE, "no-op"),
    (RE, OP, "refused"),
    (RE, AC, "refused"),
    (RE, MI, "refused"),
]


@pytest.mark.parametrize(("start", "target", "outcome"), TABLE, ids=[f"{a}->{b}" for a, b, _ in TABLE])
def test_transition_table(responder, start, target, outcome):
    incident = make_incident(by=responder, status=start)
    entries_before = incident.timeline.count()
    if outcome == "refused":
        with pytest.raises(services.InvalidStatusTransition) as caught:
            services.transition_incident(incident.pk, to=target, by=responder)
        assert caught.value.details["current"] == start
        assert caught.value.details["allowed"] == list(incident.allowed_transitions())
        incident.refresh_from_db()
        assert incident.status == start
        assert incident.timeline.count() == entries_before
        return
    result = services.transition_incident(incident.pk, to=target, by=responder)
    assert result.status == target
    added = incident.timeline.count() - entries_before
    assert added == (1 if outcome == "moves" else 0)
    if outcome == "moves":
        entry = incident.timeline.last()
        assert (entry.kind, entry.from_value, entry.to_value, entry.actor) == (
            TimelineEntry.Kind.STATUS_CHANGED,
            start,
            target,
            responder,
        )


def test_transitions_record_who_and_when(responder, admin_user):
    incident = make_incident(by=responder)
    services.transition_incident(incident.pk, to=AC, by=responder)
    services.transition_incident(incident.pk, to=MI, by=admin_user)
    incident = services.transition_incident(incident.pk, to=RE, by=admin_user)
    assert incident.acknowledged_by == responder and incident.acknowledged_at
    assert incident.mitigated_by == admin_user and incident.mitigated_at >= incident.acknowledged_at
    assert incident.resolved_by == admin_user and incident.resolved_at >= incident.mitigated_at


def test_resolving_straight_from_open_counts_as_acknowledged(responder):
    incident = make_incident(by=responder)
    incident = services.transition_incident(incident.pk, to=RE, by=responder)
    assert incident.acknowledged_at == incident.resolved_at


def test_reopen_is_the_only_way_out_of_resolved(responder):
    incident = make_incident(by=responder, status=RE)
    incident = services.reopen_incident(incident.pk, by=responder, reason="came back")
    assert incident.status == OP
    assert incident.resolved_at is None
    entry = incident.timeline.last()
    assert (entry.kind, entry.body) == (TimelineEntry.Kind.REOPENED, "came back")


def test_reopening_an_unresolved_incident_is_refused(responder):
    incident = make_incident(by=responder, status=AC)
    with pytest.raises(services.InvalidStatusTransition) as caught:
        services.reopen_incident(incident.pk, by=responder)
    assert caught.value.details["allowed"] == [MI, RE]


def test_unknown_status_is_a_validation_error(responder):
    incident = make_incident(by=responder)
    with pytest.raises(services.DomainError):
        services.transition_incident(incident.pk, to="DONE", by=responder)
