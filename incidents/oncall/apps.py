from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "incidents.oncall"
    label = "oncall"
    verbose_name = "On-call"

    def ready(self) -> None:
        from incidents.oncall import receivers  # noqa: F401  (connects the signal receivers)
