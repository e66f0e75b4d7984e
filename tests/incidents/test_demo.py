import io

import pytest
from django.core.management import call_command

from incidents.models import Incident, TimelineEntry

pytestmark = pytest.mark.django_db


def test_seed_demo_adds_about_two_hundred_realistic_incidents():
    out = io.StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)
    # The status page demo adds one of its own, and the on-call demo one that pages.
    incidents = Incident.objects.exclude(page_links__isnull=False).exclude(escalations__isnull=False)
    assert incidents.count() == 200
    assert set(incidents.values_list("status", flat=True)) == {"OPEN", "ACKNOWLEDGED", "MITIGATED", "RESOLVED"}
    assert set(incidents.values_list("severity", flat=True)) == {"SEV1", "SEV2", "SEV3", "SEV4"}
    assert incidents.values("service").distinct().count() >= 5
    assert TimelineEntry.objects.filter(kind="COMMENT").exists()
    resolved = incidents.filter(status="RESOLVED").first()
    assert resolved.resolved_at >= resolved.acknowledged_at >= resolved.created_at
    # A second --if-empty run leaves a non-empty database alone.
    call_command("seed_demo", "--if-empty", stdout=out)
    assert Incident.objects.count() == 202
    assert "already holds data" in out.getvalue()
