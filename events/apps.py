from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Events"

    def ready(self) -> None:
        # Here, not at the top: apps.py is imported before the app registry is ready.
        from events import checks, receivers  # noqa: F401 - checks registers the system checks
        from incidents.intake.models import Integration
        from incidents.intake.signals import change_event_received
        from incidents.models import Incident
        from incidents.signals import incident_resolved

        incident_resolved.connect(
            receivers.on_incident_resolved, sender=Incident, dispatch_uid="events.on_incident_resolved"
        )
        change_event_received.connect(
            receivers.on_change_event_received, sender=Integration, dispatch_uid="events.on_change_event_received"
        )
