from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        from incidents import live, services

        if live.incident_changed not in services.CHANGED_HOOKS:
            services.CHANGED_HOOKS.append(live.incident_changed)
