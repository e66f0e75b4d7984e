from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "incidents.intake"
    label = "intake"
    verbose_name = "Alert intake"

    def ready(self) -> None:
        from incidents.intake import checks  # noqa: F401  (registers the system check)
