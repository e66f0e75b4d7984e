import io
from datetime import timedelta

import pytest
from django.utils import timezone

from events import demo
from events.models import Event, EventType, Issue, IssueStatus, Project

pytestmark = pytest.mark.django_db


def test_seed_creates_a_grouped_week_of_issues():
    assert demo.is_empty()
    now = timezone.now()
    out = io.StringIO()
    demo.seed(now=now, stdout=out)
    assert not demo.is_empty()
    project = Project.objects.get(slug="demo-shop")
    assert project.name == "Demo shop" and project.services == ["checkout", "api", "web"]
    assert project.active_key() is not None
    errors = Event.objects.filter(project=project, event_type=EventType.ERROR)
    assert 300 <= errors.count() <= 600
    assert not Event.objects.filter(digested_at__isnull=True).exists()
    assert not errors.filter(issue__isnull=True).exists()
    issues = Issue.objects.filter(project=project)
    assert issues.count() == len(demo.PROBLEMS) == 21
    assert sum(issues.values_list("event_count", flat=True)) == errors.count()
    assert errors.filter(timestamp__lt=now - timedelta(days=7, minutes=1)).count() == 0
    assert issues.filter(status=IssueStatus.RESOLVED).count() >= 2
    assert issues.filter(status=IssueStatus.IGNORED).exists()
    assert issues.filter(regression_count__gt=0).count() == 1
    assert 3 <= Event.objects.filter(event_type=EventType.DEPLOY).count() <= 6
    assert "21 issues" in out.getvalue()
    # A deploy that introduced an issue, and priorities as of now.
    introduced = issues.get(title__startswith="TypeError: unsupported operand")
    assert introduced.introduced_by.event_type == EventType.DEPLOY
    assert introduced.introduced_by.release == demo.RELEASES[3]
    assert introduced.event_count == demo.INTRODUCED_EVENTS
    assert issues.filter(introduced_by__isnull=False).count() >= 1
    recent = issues.filter(last_seen__gte=now - timedelta(hours=26))
    assert recent.exists() and not recent.filter(impact_updated_at__lt=now).exists()
    assert (
        issues.filter(status=IssueStatus.UNRESOLVED, priority__gt=0).count()
        == issues.filter(status=IssueStatus.UNRESOLVED).count()
    )
    assert project.alert_rules.count() == 2


def test_seed_is_deterministic():
    now = timezone.now()
    demo.seed(now=now, stdout=io.StringIO())
    first = sorted(Issue.objects.values_list("title", "event_count", "status"))
    Project.objects.all().delete()
    demo.seed(now=now, stdout=io.StringIO())
    assert sorted(Issue.objects.values_list("title", "event_count", "status")) == first
