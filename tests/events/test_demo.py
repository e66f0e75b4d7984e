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
    assert issues.count() == len(demo.PROBLEMS) == 20
    assert sum(issues.values_list("event_count", flat=True)) == errors.count()
    assert errors.filter(timestamp__lt=now - timedelta(days=7, minutes=1)).count() == 0
    assert issues.filter(status=IssueStatus.RESOLVED).count() >= 2
    assert issues.filter(status=IssueStatus.IGNORED).exists()
    assert issues.filter(regression_count__gt=0).count() == 1
    assert 3 <= Event.objects.filter(event_type=EventType.DEPLOY).count() <= 6
    assert "20 issues" in out.getvalue()


def test_seed_is_deterministic():
    now = timezone.now()
    demo.seed(now=now, stdout=io.StringIO())
    first = sorted(Issue.objects.values_list("title", "event_count", "status"))
    Project.objects.all().delete()
    demo.seed(now=now, stdout=io.StringIO())
    assert sorted(Issue.objects.values_list("title", "event_count", "status")) == first
