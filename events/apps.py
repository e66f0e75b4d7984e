from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Events"

    def ready(self) -> None:
        from events import alerts, checks  # noqa: F401 - checks registers the system checks
        from incidents import services as incident_services

        if alerts.resolve_linked_issues not in incident_services.RESOLVED_HOOKS:
            incident_services.RESOLVED_HOOKS.append(alerts.resolve_linked_issues)
