from django.apps import AppConfig


class MonitorsConfig(AppConfig):
    name = "monitors"
    verbose_name = "Monitors"

    def ready(self) -> None:
        from celery.signals import worker_ready

        from monitors import locations

        # A worker started with -Q checks.<name> is a probe at location <name>: it makes the location known.
        worker_ready.connect(locations.register_worker_queues, dispatch_uid="monitors.register_worker_queues")
