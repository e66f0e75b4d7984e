"""Incidents opened by alert rules before correlation existed get their issue as a signal, so resolving
the issue still counts towards moving them on (incidents.correlation)."""

from django.db import migrations


def forwards(apps, schema_editor):
    IssueIncident = apps.get_model("events", "IssueIncident")
    IncidentSignal = apps.get_model("incidents", "IncidentSignal")
    links = IssueIncident.objects.filter(incident__deleted_at__isnull=True).exclude(incident__status="RESOLVED")
    for link in links.select_related("issue"):
        cleared = link.issue.status in ("resolved", "ignored")
        IncidentSignal.objects.get_or_create(
            incident_id=link.incident_id,
            kind="issue",
            ref=str(link.issue_id),
            defaults={
                "label": link.issue.title[:200],
                "url": f"/issues/{link.issue_id}/",
                "status": "resolved" if cleared else "active",
                "resolved_at": link.issue.resolved_at if cleared else None,
                "opened_incident": link.rule_id is not None,
                "joined_at": link.created_at,
                "changed_at": link.created_at,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("events", "0008_daily_summary_subscription"), ("incidents", "0003_incident_signals")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
