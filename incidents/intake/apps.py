from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "incidents.intake"
    label = "intake"
    verbose_name = "Alert intake"

    def ready(self) -> None:
        from incidents.intake import checks, receivers  # noqa: F401  (checks registers the system check)
        from incidents.models import Incident
        from incidents.signals import incident_changed

        incident_changed.connect(
            receivers.on_incident_changed, sender=Incident, dispatch_uid="intake.on_incident_changed"
        )
