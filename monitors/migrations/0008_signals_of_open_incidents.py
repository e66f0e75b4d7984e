"""Incidents opened by monitors before correlation existed get their monitor as a signal, so the monitor's
recovery still moves them on (incidents.correlation)."""

from django.db import migrations


def forwards(apps, schema_editor):
    MonitorIncident = apps.get_model("monitors", "MonitorIncident")
    IncidentSignal = apps.get_model("incidents", "IncidentSignal")
    links = MonitorIncident.objects.filter(incident__deleted_at__isnull=True).exclude(incident__status="RESOLVED")
    for link in links.select_related("monitor", "incident"):
        IncidentSignal.objects.get_or_create(
            incident=link.incident,
            kind="monitor",
            ref=str(link.monitor_id),
            defaults={
                "label": link.monitor.name[:200],
                "url": f"/monitors/{link.monitor_id}/",
                "status": "resolved" if link.monitor.status == "up" else "active",
                "resolved_at": link.monitor.status_changed_at if link.monitor.status == "up" else None,
                "opened_incident": True,
                "joined_at": link.created_at,
                "changed_at": link.created_at,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("monitors", "0007_monitor_service"), ("incidents", "0003_incident_signals")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
