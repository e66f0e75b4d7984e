from django.apps import AppConfig
from django.db.models.signals import pre_delete


class StatuspagesConfig(AppConfig):
    name = "statuspages"
    verbose_name = "Status pages"

    def ready(self) -> None:
        # Here, not at the top: apps.py is imported before the app registry is ready.
        from incidents.models import Incident
        from incidents.signals import incident_changed
        from monitors.models import Monitor
        from monitors.signals import monitor_deleting, monitor_opened_incident, monitor_status_changed
        from statuspages import receivers, subscribers
        from statuspages.models import StatusPage

        pre_delete.connect(subscribers.page_deleting, sender=StatusPage, dispatch_uid="withdraw-page-news")

        monitor_status_changed.connect(
            receivers.on_monitor_status_changed, sender=Monitor, dispatch_uid="statuspages.on_monitor_status_changed"
        )
        monitor_opened_incident.connect(
            receivers.on_monitor_opened_incident, sender=Monitor, dispatch_uid="statuspages.on_monitor_opened_incident"
        )
        monitor_deleting.connect(
            receivers.on_monitor_deleting, sender=Monitor, dispatch_uid="statuspages.on_monitor_deleting"
        )
        incident_changed.connect(
            receivers.on_incident_changed, sender=Incident, dispatch_uid="statuspages.on_incident_changed"
        )
