# The daily email is the "daily summary" ("digest" now means only grouping events into issues).
# Renames keep every row; the beat schedule's stored entry follows its renamed task.

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone
import django.db.models.deletion

OLD_ENTRY, OLD_TASK = "send-daily-digests", "events.send_daily_digests"
NEW_ENTRY, NEW_TASK = "send-daily-summaries", "events.send_daily_summaries"


def _rename_beat_entry(apps, old_entry, old_task, new_entry, new_task):
    # django-celery-beat's database scheduler copied CELERY_BEAT_SCHEDULE into this table and never
    # deletes an entry: left alone, the old one would keep queuing a task no worker knows.
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    old = PeriodicTask.objects.filter(name=old_entry, task=old_task)
    if PeriodicTask.objects.filter(name=new_entry).exists():
        changed = old.delete()[0]
    else:
        changed = old.update(name=new_entry, task=new_task)
    if changed:  # a bulk change sends no signal: tell a running beat to re-read the schedule
        PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
        PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def forwards(apps, schema_editor):
    _rename_beat_entry(apps, OLD_ENTRY, OLD_TASK, NEW_ENTRY, NEW_TASK)


def backwards(apps, schema_editor):
    _rename_beat_entry(apps, NEW_ENTRY, NEW_TASK, OLD_ENTRY, OLD_TASK)


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0007_project_quota"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RenameModel(old_name="DigestSubscription", new_name="DailySummarySubscription"),
        migrations.AlterField(
            model_name="dailysummarysubscription",
            name="user",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="daily_summary_subscription",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
