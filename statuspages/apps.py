from django.apps import AppConfig


class StatuspagesConfig(AppConfig):
    name = "statuspages"
    verbose_name = "Status pages"

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from incidents import services as incident_services
        from monitors import services as monitor_services
        from statuspages import services, subscribers
        from statuspages.models import StatusPage

        pre_delete.connect(subscribers.page_deleting, sender=StatusPage, dispatch_uid="withdraw-page-news")

        for hooks, hook in (
            (monitor_services.STATUS_HOOKS, services.monitor_status_changed),
            (monitor_services.INCIDENT_HOOKS, services.monitor_opened_incident),
            (monitor_services.DELETE_HOOKS, services.monitor_deleting),
            (incident_services.CHANGED_HOOKS, services.incident_changed),
        ):
            if hook not in hooks:
                hooks.append(hook)
