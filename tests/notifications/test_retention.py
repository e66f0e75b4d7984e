"""Finished deliveries are deleted after DELIVERY_RETENTION_DAYS, in batches, by a daily beat task."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings

from tests.notifications.factories import make_delivery, make_email_channel
from tracepoint.notifications.models import Delivery
from tracepoint.notifications.services import delete_old_deliveries
from tracepoint.notifications.tasks import delete_old_deliveries as delete_old_deliveries_task

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 3, 29, tzinfo=UTC)


def _at(channel, age: timedelta, status: str, **fields) -> Delivery:
    when = NOW - age
    fields = {"created_at": when, "updated_at": when, "next_attempt_at": None} | fields
    return make_delivery(channel, status=status, **fields)


def test_finished_deliveries_past_retention_are_deleted_and_the_rest_kept(settings):
    settings.TRACEPOINT = settings.TRACEPOINT | {"DELIVERY_RETENTION_DAYS": 30}
    channel = make_email_channel()
    old_ok = [_at(channel, timedelta(days=31 + n), Delivery.Status.SUCCEEDED) for n in range(5)]
    old_failed = _at(channel, timedelta(days=40), Delivery.Status.FAILED)
    recent = _at(channel, timedelta(days=29), Delivery.Status.SUCCEEDED)
    old_unfinished = _at(channel, timedelta(days=90), Delivery.Status.RETRYING)
    # Made long ago but retried by an admin lately: its record is recent.
    retried = _at(channel, timedelta(days=60), Delivery.Status.FAILED, updated_at=NOW - timedelta(days=1))

    deleted = delete_old_deliveries(now=NOW, batch_size=2)

    assert deleted == len(old_ok) + 1
    assert not Delivery.objects.filter(pk__in=[d.pk for d in [*old_ok, old_failed]]).exists()
    assert set(Delivery.objects.values_list("pk", flat=True)) == {recent.pk, old_unfinished.pk, retried.pk}


def test_the_retention_follows_the_setting(settings):
    channel = make_email_channel()
    _at(channel, timedelta(days=8), Delivery.Status.SUCCEEDED)
    settings.TRACEPOINT = settings.TRACEPOINT | {"DELIVERY_RETENTION_DAYS": 10}
    assert delete_old_deliveries(now=NOW) == 0
    settings.TRACEPOINT = settings.TRACEPOINT | {"DELIVERY_RETENTION_DAYS": 7}
    assert delete_old_deliveries(now=NOW) == 1


def test_a_run_stops_after_its_batch_limit_and_the_next_run_goes_on(settings):
    settings.TRACEPOINT = settings.TRACEPOINT | {"DELIVERY_RETENTION_DAYS": 30}
    channel = make_email_channel()
    for n in range(5):
        _at(channel, timedelta(days=31 + n), Delivery.Status.SUCCEEDED)
    assert delete_old_deliveries(now=NOW, batch_size=2, max_batches=1) == 2
    assert delete_old_deliveries(now=NOW, batch_size=2) == 3


def test_the_beat_task_runs_daily_and_deletes(settings, time_machine):
    settings.TRACEPOINT = settings.TRACEPOINT | {"DELIVERY_RETENTION_DAYS": 30}
    entry = django_settings.CELERY_BEAT_SCHEDULE["delete-old-deliveries"]
    assert entry["task"] == delete_old_deliveries_task.name == "notifications.delete_old_deliveries"
    time_machine.move_to(NOW, tick=False)
    _at(make_email_channel(), timedelta(days=45), Delivery.Status.SUCCEEDED)
    assert delete_old_deliveries_task() == 1
    assert not Delivery.objects.exists()


def test_the_retention_default_is_thirty_days():
    from tracepoint import settings as project_settings

    assert project_settings.TRACEPOINT["DELIVERY_RETENTION_DAYS"] == 30
